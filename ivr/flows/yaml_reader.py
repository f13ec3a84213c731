"""Read YAML keeping every value's position, and reject what PyYAML lets slip.

Flows are built from `yaml.compose` nodes rather than plain Python values so that
each key, node id and target knows its line and column. Duplicate keys, which
PyYAML silently resolves to the last one, are reported here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import yaml

from ivr.flows.problems import ERROR, WARNING, Problem

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

INT_TAG = "tag:yaml.org,2002:int"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
_TRUE = {"true", "yes", "on"}
MAX_FILE_BYTES = 2 * 1024 * 1024  # a 4,000-node flow is 1.5 MB; anything larger is refused unread


def too_large(path: str, size: int) -> Problem:
    return Problem(path, 1, 1, f"the file is {size:,} bytes; flow and teams files may be at most "
                               f"{MAX_FILE_BYTES:,}", "too-large")


def read_file(path: str | Path) -> tuple[str | None, list[Problem]]:
    """A file's text, or the problem that stops it being read (one over MAX_FILE_BYTES is not read at all)."""
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            return None, [too_large(str(path), size)]
        return Path(path).read_text(encoding="utf-8"), []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 1, 1, f"cannot read the file: {exc}", "io")]


class Reader:
    """Turns composed YAML nodes into values, collecting problems as it goes."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def compose(self, text: str) -> yaml.Node | None:
        """Parse text into a node tree, or record the syntax error and return None."""
        if len(text) > MAX_FILE_BYTES:
            self.problems.append(too_large(self.path, len(text.encode("utf-8"))))
            return None
        try:
            return yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            what = exc.problem or exc.context or "invalid YAML"
            start = exc.context_mark
            if exc.problem and exc.context and start and exc.problem_mark and start.line != exc.problem_mark.line:
                what += f" ({exc.context} that starts at line {start.line + 1})"
            lines = text.splitlines()
            if mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][:mark.column + 1]:
                what += "; a tab: YAML indents with spaces only"
            elif "did not find expected key" in what or "mapping values are not allowed" in what:
                what += "; check the indentation of this line and the one before"
            self.problems.append(Problem(self.path, line, col, f"YAML syntax: {what}", "yaml-syntax"))
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.path, 1, 1, f"YAML syntax: {exc}", "yaml-syntax"))
        return None

    def error(self, node: yaml.Node, message: str, rule: str) -> None:
        """Record an error at a node."""
        mark = node.start_mark
        self.problems.append(Problem(self.path, mark.line + 1, mark.column + 1, message, rule, ERROR))

    def warn(self, node: yaml.Node, message: str, rule: str, hint: str = "") -> None:
        """Record a warning (with a hint) at a node."""
        mark = node.start_mark
        self.problems.append(Problem(self.path, mark.line + 1, mark.column + 1, message, rule, WARNING, hint))

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """A mapping's entries by key text, reporting non-mappings and duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping", "type")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, f"{what} has a key that is not text", "type")
                continue
            key = key_node.value
            if key in out:
                first = out[key][0].start_mark
                self.error(key_node, f'duplicate key "{key}" in {what}; first defined at line {first.line + 1}',
                           "duplicate-key")
                continue
            out[key] = (key_node, value_node)
        return out

    def check_keys(self, entries: dict[str, tuple[yaml.Node, yaml.Node]], allowed, what: str) -> None:
        """Report keys outside the allowed set, naming the set."""
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                allowed_list = ", ".join(sorted(allowed))
                self.error(key_node, f'unknown key "{key}" in {what}; allowed: {allowed_list}', "unknown-key")

    def string(self, node: yaml.Node, what: str) -> str | None:
        """A scalar's text (any scalar: `1`, `yes` and `"1"` all read as text)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == NULL_TAG:
            self.error(node, f"{what} must be text", "type")
            return None
        return node.value

    def integer(self, node: yaml.Node, what: str, low: int, high: int) -> int | None:
        """A whole number within [low, high]."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != INT_TAG:
            self.error(node, f"{what} must be a whole number", "type")
            return None
        try:
            value = int(node.value.replace("_", ""), 0)
        except ValueError:
            self.error(node, f"{what} must be a whole number", "type")
            return None
        if not low <= value <= high:
            self.error(node, f"{what} must be between {low} and {high}, not {value}", "range")
            return None
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        """true or false."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != BOOL_TAG:
            self.error(node, f"{what} must be true or false", "type")
            return None
        return node.value.lower() in _TRUE

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        """A list's items."""
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list", "type")
            return None
        return list(node.value)

    def mappings(self, node: yaml.Node, what: str, each: str, allowed
                 ) -> Iterator[tuple[yaml.Node, dict[str, tuple[yaml.Node, yaml.Node]]]]:
        """A list of mappings (`each` names one), each with its keys checked against `allowed`;
        items that are not mappings are reported and passed over."""
        for item in self.sequence(node, what) or []:
            entries = self.mapping(item, each)
            if entries is not None:
                self.check_keys(entries, allowed, each)
                yield item, entries

    def strings(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, str]]:
        """A list of texts, each with its node."""
        items = self.sequence(node, what) or []
        out = []
        for item in items:
            text = self.string(item, f"an item of {what}")
            if text is not None:
                out.append((item, text))
        return out


def is_null(node: yaml.Node) -> bool:
    """True for an explicit `null`/`~`/empty value."""
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG
