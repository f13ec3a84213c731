"""Call scripts: YAML files that call a flow like a person would and check what happens.

A script names its flow (an id of a flow in the folder above the script, or a
path), and lists cases. Each case presses keys, waits, finishes transfers and
recordings, and checks what was heard, where the call ended and what it saved.
Failures point at the step's `file:line:col`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from ivr.engine.events import DIAL_STATUSES
from ivr.flows.model import Flow
from ivr.flows.loader import lint_file
from ivr.tools.phone import Phone, entry_problem
from ivr.flows.problems import Problem
from ivr.flows.yaml_reader import Reader

DEFAULT_CALLER = "+15555550100"
DEFAULT_NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles"))  # a Wednesday morning
STEP_KINDS = ("hear", "not_hear", "press", "silence", "dial", "record", "at")


@dataclass
class Step:
    """One thing the caller does or checks."""

    kind: str
    value: str
    line: int
    col: int


@dataclass
class Case:
    """One call from start to end."""

    name: str
    path: str
    line: int
    flow: Flow | None  # None while reading a script whose flow does not load (it is never played)
    steps: list[Step] = field(default_factory=list)
    end: str | None = None
    saved: dict[str, str] = field(default_factory=dict)
    now: datetime = DEFAULT_NOW
    caller: str = DEFAULT_CALLER
    lang: str | None = None  # the language the call comes with (None: the caller chooses)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # "end", "saved KEY" -> (line, col)


def _flow_for(reader: Reader, node: yaml.Node, name: str, script: Path, cache: dict) -> Flow | None:
    if name.endswith((".yaml", ".yml")):
        candidates = [script.parent / name]
    else:
        folder = script.parent.parent if script.parent.name == "tests" else script.parent
        candidates = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    for path in candidates:
        key = str(path.resolve())
        if key not in cache:
            cache[key] = lint_file(path)[0] if path.is_file() else None
        flow = cache[key]
        if flow is not None and (flow.id == name or name.endswith((".yaml", ".yml"))):
            return flow
    reader.error(node, f'no valid flow "{name}" next to this script', "unknown-flow")
    return None


def load_script(path: Path, cache: dict | None = None) -> tuple[list[Case], list[Problem]]:
    """Read a call-script file into cases, with problems for anything malformed."""
    cache = {} if cache is None else cache
    reader = Reader(str(path))
    root = reader.compose(path.read_text(encoding="utf-8"))
    top = reader.mapping(root, "the call script") if root is not None else None
    if root is None or top is None:
        return [], reader.problems
    reader.check_keys(top, {"flow", "now", "cases"}, "the call script")
    if "flow" not in top or "cases" not in top:
        reader.error(root, 'a call script needs "flow" and "cases"', "missing-key")
        return [], reader.problems
    flow = _flow_for(reader, top["flow"][1], reader.string(top["flow"][1], "flow") or "", path, cache)
    now = _when(reader, top["now"][1], DEFAULT_NOW) if "now" in top else DEFAULT_NOW
    cases = []
    for item in reader.sequence(top["cases"][1], "cases") or []:
        case = _case(reader, item, flow, now)
        if case is not None:
            cases.append(case)
    return cases, reader.problems


def _when(reader: Reader, node: yaml.Node, default: datetime) -> datetime:
    """An ISO date and time with its offset (the moment the call is placed)."""
    try:
        when = datetime.fromisoformat(reader.string(node, "now") or "")
    except ValueError:
        reader.error(node, "now must be an ISO date and time with its offset, e.g. 2026-11-25T10:00:00-08:00",
                     "bad-value")
        return default
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _case(reader: Reader, item: yaml.Node, flow: Flow | None, now: datetime) -> Case | None:
    """A case read in full (so every problem in it is reported); None when it cannot be played."""
    entries = reader.mapping(item, "a case")
    if entries is None:
        return None
    reader.check_keys(entries, {"name", "now", "caller", "lang", "steps", "end", "saved"}, "a case")
    if "now" in entries:
        now = _when(reader, entries["now"][1], now)
    name = reader.string(entries["name"][1], "name") if "name" in entries else f"line {item.start_mark.line + 1}"
    case = Case(name=name or "", path=reader.path, line=item.start_mark.line + 1, flow=flow, now=now)
    if "caller" in entries:
        case.caller = reader.string(entries["caller"][1], "caller") or ""
    if "lang" in entries:
        case.lang = reader.string(entries["lang"][1], "lang")
        if flow is not None and case.lang not in flow.languages:
            reader.error(entries["lang"][1], f'lang "{case.lang}" is not a language of the flow; languages: '
                                             f'{", ".join(flow.languages)}', "bad-value")
            case.lang = None
    for step_node in reader.sequence(entries["steps"][1], "steps") or [] if "steps" in entries else []:
        step = _step(reader, step_node)
        if step is not None:
            case.steps.append(step)
    if "end" in entries:
        case.end = reader.string(entries["end"][1], "end")
        case.positions["end"] = _position(entries["end"][1])
    if "saved" in entries:
        for key, (_, value_node) in (reader.mapping(entries["saved"][1], "saved") or {}).items():
            case.saved[key] = reader.string(value_node, f"saved {key}") or ""
            case.positions[f"saved {key}"] = _position(value_node)
    return case if flow is not None else None


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _step(reader: Reader, node: yaml.Node) -> Step | None:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if isinstance(node, yaml.ScalarNode) and node.value == "silence":
        return Step("silence", "", line, col)
    entries = reader.mapping(node, "a step")
    if entries is None or len(entries) != 1:
        if entries is not None:
            reader.error(node, f"a step has exactly one of: {', '.join(STEP_KINDS)}", "bad-step")
        return None
    kind, (key_node, value_node) = next(iter(entries.items()))
    if kind not in STEP_KINDS:
        reader.error(key_node, f'unknown step "{kind}"; allowed: {", ".join(STEP_KINDS)}', "bad-step")
        return None
    value = reader.string(value_node, kind)
    if value is None:
        return None
    if kind == "dial" and value not in DIAL_STATUSES:
        reader.error(value_node, f'dial outcome "{value}" is not one of {", ".join(sorted(DIAL_STATUSES))}',
                     "bad-step")
        return None
    if kind == "record" and not value.isdigit():
        reader.error(value_node, "record takes the recording's length in seconds", "bad-step")
        return None
    return Step(kind, value, line, col)


def run_case(case: Case) -> list[str]:
    """Play a case; returns failure messages (empty when it passed)."""
    return play_case(case)[0]


def play_case(case: Case) -> tuple[list[str], Phone]:
    """Play a case; returns failure messages and the phone, to look at the call afterwards."""
    assert case.flow is not None, "cases are only made for flows that load"
    phone = Phone(case.flow, now=case.now, caller=case.caller)
    since: list[str] = list(phone.start(case.lang))
    failures: list[str] = []

    def fail(step: Step, message: str) -> None:
        failures.append(f"{case.path}:{step.line}:{step.col}: {case.name}: {message}")

    def at(what: str) -> str:
        line, col = case.positions.get(what, (case.line, 1))
        return f"{case.path}:{line}:{col}"

    for step in case.steps:
        heard = " ".join(since).lower()
        if step.kind == "hear" and step.value.lower() not in heard:
            fail(step, f'expected to hear "{step.value}"; heard: {" | ".join(since) or "nothing"}')
        elif step.kind == "not_hear" and step.value.lower() in heard:
            fail(step, f'did not expect to hear "{step.value}"')
        elif step.kind == "at" and phone.where() != f"waiting {step.value}":
            fail(step, f"expected the call waiting at {step.value}; it is at {phone.where()}")
        elif step.kind in ("press", "silence", "dial", "record"):
            if phone.waiting is None:
                fail(step, "the call has already ended")
                break
            entry = {"press": step.value, "silence": "silence", "dial": f"dial:{step.value}",
                     "record": f"record:{step.value}"}[step.kind]
            problem = entry_problem(entry, phone.waiting_for() or "keys")
            if problem is not None:
                fail(step, problem)
                break
            if step.kind == "press":
                since = phone.press(step.value)
            elif step.kind == "silence":
                since = phone.silence()
            elif step.kind == "dial":
                since = phone.dial_result(step.value)
            else:
                since = phone.record(int(step.value))
    if case.end is not None and phone.where() != _normal_end(case.end):
        failures.append(f"{at('end')}: {case.name}: expected the call to end at {case.end}; "
                        f"it is at {phone.where()}")
    answers = {**phone.state.answers, "lang": phone.state.lang} if phone.state else {}
    for key, value in case.saved.items():
        if answers.get(key, "") != value:
            failures.append(f"{at('saved ' + key)}: {case.name}: expected {key} saved as \"{value}\"; "
                            f"got \"{answers.get(key, '')}\"")
    return failures, phone


def _normal_end(end: str) -> str:
    return "waiting " + end[5:] if end.startswith("node ") else end


def script_files(paths) -> list[Path]:
    """Call-script files: the given files, and */tests/*.yaml under given folders."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            folder = path if path.name == "tests" else path / "tests"
            out.extend(sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")))
        else:
            out.append(path)
    return out
