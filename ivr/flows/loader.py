"""YAML file -> validated, frozen `Flow`, or every problem with its position.

Theory of operation: the file is composed into position-carrying YAML nodes
(`yamlnodes.Reader`); one pass reads the settings and every node, reporting shape
problems and collecting references (targets, answer names read by templates);
`flow_checks` then works on the graph: unknown targets, reachability, dead ends,
and which answers can be saved before each node reads them. Errors stop the flow
from being built; warnings ride along for `ivr lint`.
"""

from __future__ import annotations

import gc
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ivr.flows import messages, validators
from ivr.flows.actions import ACTIONS
from ivr.flows.model import (ASK_TYPES, NODE_KINDS, ActionNode, AskNode, Branch, DecideNode, Flow, HangupNode, Keys,
                   MenuNode, Option, RecordNode, SayNode, Tagline, Text, TransferNode, Wait, sets_language)
from ivr.flows.checks import check_graph
from ivr.flows.problems import FlowError, Problem
from ivr.flows.teams import Calendar, Team, Teams, inline_team
from ivr.flows.teams_loader import lint_teams_file
from ivr.flows.templates import TemplateProblem, expression_names, template_names, word_count
from ivr.flows.yaml_reader import Reader, is_null, read_file

ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
VOICE_RE = re.compile(r"^(man|woman|Polly\.[A-Za-z]+)$")
SPEECH_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
URL_RE = re.compile(r"^https://[^\s]+$")
TAGLINE_KEYS = {"say", "voice", "language", "play"}
KEYPAD = frozenset("0123456789*#")
RESERVED_NAMES = frozenset({"lang"})
DEFAULT_VOICES = {"en": "Polly.Joanna", "es": "Polly.Lupe"}
DEFAULT_SPEECH_LANGUAGES = {"en": "en-US", "es": "es-US"}
WORDS_PER_PROMPT = 50  # about 20 seconds at a normal speaking rate (150 words a minute)

TOP_KEYS = {"flow", "start", "languages", "settings", "teams", "values", "nodes", "description"}
SETTINGS_KEYS = {"voices", "speech_languages", "timeout", "digits_timeout", "warn_after", "retries", "on_fail",
                 "operator", "keys", "messages"}
DEFAULT_TIMEOUT = 6
DEFAULT_WARN_AFTER = 5
WAIT_KEYS = {"timeout", "retries", "on_fail", "reprompt"}
KIND_KEYS = {
    "say": {"say", "next", "every_language", "taglines"} | WAIT_KEYS,
    "menu": {"menu", "options", "every_language", "taglines"} | WAIT_KEYS,
    "ask": {"ask", "expect", "save", "next", "choices", "length", "min_length", "max_length", "finish_key",
            "validate", "readback", "sensitive", "optional"} | WAIT_KEYS,
    "decide": {"decide", "default"},
    "transfer": {"transfer", "announce", "whisper", "details", "timeout", "no_answer", "closed"},
    "record": {"record", "save", "max_length", "next", "timeout", "silent"},
    "action": {"action", "params", "next"},
    "hangup": {"hangup"},
}


NODE_KEYS = frozenset().union(*KIND_KEYS.values())  # a node id among these, with a value, is a key dedented


@dataclass
class Facts:
    """What one reading pass learned, for the graph checks."""

    refs: list[tuple[yaml.Node, str, str]] = field(default_factory=list)  # (where, target, what)
    reads: dict[str, list[tuple[yaml.Node, str]]] = field(default_factory=dict)  # node id -> names read
    positions: dict[str, yaml.Node] = field(default_factory=dict)  # node id -> its key node
    constants: set[str] = field(default_factory=set)  # names under `values:`
    whisper_reads: list[tuple[yaml.Node, str, str, str]] = field(default_factory=list)  # (where, node, name, key)


class _Reading:
    """One pass over a flow file's YAML tree."""

    def __init__(self, reader: Reader):
        self.r = reader
        self.facts = Facts()
        self.languages: tuple[str, ...] = ("en",)
        self.current = ""  # the node being read, for recording template reads
        self.teams_broken = False  # the teams file beside the flow has errors: its teams are unknown
        self.defaults = Wait(timeout=6, retries=2, on_fail=None, reprompt=None)
        self.digits_defaults = (6, 5)  # (timeout, warn_after) of digit entries

    # -- values ------------------------------------------------------------------
    def ref(self, node: yaml.Node, what: str) -> str | None:
        target = self.r.string(node, what)
        if target is not None:
            self.facts.refs.append((node, target, what))
        return target

    def template(self, node: yaml.Node, source: str, what: str) -> None:
        try:
            names = template_names(source)
        except TemplateProblem as exc:
            self.r.error(node, f"{what} does not compile: {exc}", "template")
            return
        self.note_reads(node, names)

    def note_reads(self, node: yaml.Node, names) -> None:
        reads = self.facts.reads.setdefault(self.current, [])
        reads.extend((node, name) for name in names)

    def text(self, node: yaml.Node, what: str) -> Text | None:
        """A prompt: a mapping by language, or plain text in a one-language flow."""
        if isinstance(node, yaml.ScalarNode) and not is_null(node):
            if len(self.languages) > 1:
                self.r.error(node, f"{what} needs a text for each language: {', '.join(self.languages)}",
                             "missing-language")
                return None
            self.template(node, node.value, what)
            return Text(MappingProxyType({self.languages[0]: node.value}))
        entries = self.r.mapping(node, what)
        if entries is None:
            return None
        by_lang = {}
        for lang, (key_node, value_node) in entries.items():
            if lang not in self.languages:
                self.r.error(key_node, f'{what} has text in "{lang}", which the flow does not declare; '
                                       f'languages: {", ".join(self.languages)}', "unknown-language")
                continue
            source = self.r.string(value_node, f"{what} ({lang})")
            if source is not None:
                self.template(value_node, source, f"{what} ({lang})")
                by_lang[lang] = source
        missing = [lang for lang in self.languages if lang not in entries]
        if missing:
            self.r.error(node, f"{what} is missing in {', '.join(missing)}", "missing-language")
        if not by_lang:
            return None
        return Text(MappingProxyType({lang: by_lang[lang] for lang in self.languages if lang in by_lang}))

    def name(self, node: yaml.Node, what: str) -> str | None:
        value = self.r.string(node, what)
        if value is None:
            return None
        if not NAME_RE.match(value) or value in RESERVED_NAMES:
            self.r.error(node, f'{what} "{value}" must be a name of letters, digits and _ (and not "lang")',
                         "bad-name")
            return None
        return value

    def sets(self, node: yaml.Node, what: str) -> tuple[tuple[str, str], ...]:
        entries = self.r.mapping(node, what) or {}
        out = []
        for key, (key_node, value_node) in entries.items():
            if key == "lang":
                value = self.r.string(value_node, f"{what} lang")
                if value is not None and value not in self.languages:
                    self.r.error(value_node, f'{what} sets lang to "{value}", which the flow does not declare; '
                                             f'languages: {", ".join(self.languages)}', "unknown-language")
                    continue
            elif self.name(key_node, f"answer name in {what}") is None:
                continue
            else:
                value = self.r.string(value_node, f"{what} {key}")
            if value is not None:
                out.append((key, value))
        return tuple(out)

    def keypad_key(self, node: yaml.Node, what: str, of: str = "") -> str | None:
        key = self.r.string(node, what)
        if key is not None and key not in KEYPAD:
            self.r.error(node, f'{what} "{key}"{of} is not a phone key; use one of 0-9, *, #', "bad-key")
            return None
        return key

    # -- the file ------------------------------------------------------------------
    def flow(self, root: yaml.Node, path: str, source: str, shared: Teams | None = None) -> Flow | None:
        top = self.r.mapping(root, "the flow file")
        if top is None:
            return None
        self.r.check_keys(top, TOP_KEYS, "the flow file")
        for required in ("flow", "start", "nodes"):
            if required not in top:
                self.r.error(root, f'missing "{required}"', "missing-key" if required != "start" else "missing-start")
        flow_id = self.r.string(top["flow"][1], "flow") if "flow" in top else None
        if flow_id is not None and not ID_RE.match(flow_id):
            self.r.error(top["flow"][1], f'flow id "{flow_id}" must be letters, digits, - and _', "bad-name")
        if "languages" in top:
            langs = [lang for _, lang in self.r.strings(top["languages"][1], "languages")]
            if langs:
                self.languages = tuple(dict.fromkeys(langs))
        settings = self.settings(top["settings"][1], top["settings"][0]) if "settings" in top \
            else self.settings(None, root)
        teams = self.teams(top["teams"][1] if "teams" in top else None, shared)
        values = self.values(top["values"][1]) if "values" in top else {}
        start = self.ref(top["start"][1], "start") if "start" in top else None
        nodes = self.nodes(top["nodes"][1], teams) if "nodes" in top else {}
        if any(p.is_error for p in self.r.problems) or flow_id is None or start is None:
            check_graph(self.r, self.facts, nodes, start, settings["operator"])
            return None
        check_graph(self.r, self.facts, nodes, start, settings["operator"])
        if any(p.is_error for p in self.r.problems):
            return None
        return Flow(
            id=flow_id, path=path, version=flow_version(source, shared), start=start, languages=self.languages,
            voices=MappingProxyType(settings["voices"]),
            speech_languages=MappingProxyType(settings["speech_languages"]),
            keys=settings["keys"], operator=settings["operator"],
            messages=MappingProxyType(settings["messages"]),
            teams=MappingProxyType(teams), nodes=MappingProxyType(nodes), values=MappingProxyType(values),
            calendar=shared.calendar if shared is not None else Calendar(),
            source=source, teams_file=shared,
            chooses_language=len(self.languages) > 1 and any(sets_language(n) for n in nodes.values()),
        )

    def values(self, node: yaml.Node) -> dict[str, Any]:
        """Admin-set constants that templates and conditions may read (e.g. notice_days: 2), or tables of them
        (notice_days: {lacare: {car: 2}}, read as notice_days[plan][mode])."""
        out = {}
        for name, (key_node, value_node) in (self.r.mapping(node, "values") or {}).items():
            if self.name(key_node, "value name") is None:
                continue
            value = self.value(value_node, f"value {name}")
            if value is not None:
                out[name] = value
        self.facts.constants.update(out)
        return out

    def value(self, node: yaml.Node, what: str, depth: int = 0) -> Any:
        """Text, or a mapping of values (up to three levels deep)."""
        if isinstance(node, yaml.MappingNode) and depth < 3:
            table = {}
            for key, (_, item) in (self.r.mapping(node, what) or {}).items():
                value = self.value(item, f"{what}.{key}", depth + 1)
                if value is not None:
                    table[key] = value
            return MappingProxyType(table)
        return self.r.string(node, what)

    def settings(self, node: yaml.Node | None, key_node: yaml.Node | None = None) -> dict:
        entries = self.r.mapping(node, "settings") or {} if node is not None else {}
        self.r.check_keys(entries, SETTINGS_KEYS, "settings")
        voices = self.per_language(entries.get("voices"), DEFAULT_VOICES, "settings.voices", VOICE_RE,
                                   "a voice Twilio's schema accepts (Polly.Name, man or woman)", "bad-voice")
        speech = self.per_language(entries.get("speech_languages"), DEFAULT_SPEECH_LANGUAGES,
                                   "settings.speech_languages", SPEECH_LANGUAGE_RE,
                                   "a language tag such as es-US", "bad-language-tag")
        keys = self.keys(entries.get("keys"))
        operator = self.ref(entries["operator"][1], "settings.operator") if "operator" in entries else None
        if operator is None and keys.operator is not None and "operator" not in entries:
            where = entries["keys"][0] if "keys" in entries else key_node
            if where is not None:
                self.r.error(where, f'operator key "{keys.operator}" needs settings.operator (the node it leads '
                                    'to), or set keys.operator to null', "missing-operator")
            keys = Keys(keys.repeat, keys.back, None)
        timeout = self.r.integer(entries["timeout"][1], "settings.timeout", 1, 60) if "timeout" in entries else None
        digits_timeout = (self.r.integer(entries["digits_timeout"][1], "settings.digits_timeout", 1, 60)
                          if "digits_timeout" in entries else None)
        warn_after = (self.r.integer(entries["warn_after"][1], "settings.warn_after", 0, 30)
                      if "warn_after" in entries else None)
        self.digits_defaults = (digits_timeout or timeout or DEFAULT_TIMEOUT,
                                DEFAULT_WARN_AFTER if warn_after is None else warn_after)
        retries = self.r.integer(entries["retries"][1], "settings.retries", 0, 9) if "retries" in entries else None
        on_fail = self.ref(entries["on_fail"][1], "settings.on_fail") if "on_fail" in entries else None
        self.defaults = Wait(timeout=timeout or DEFAULT_TIMEOUT, retries=2 if retries is None else retries,
                             on_fail=on_fail or operator, reprompt=None)
        return {"voices": voices, "speech_languages": speech, "keys": keys, "operator": operator,
                "messages": self.messages(entries.get("messages"))}

    def per_language(self, item, defaults: dict[str, str], what: str, pattern: re.Pattern, shape: str,
                     rule: str) -> dict[str, str]:
        out = {lang: defaults[lang] for lang in self.languages if lang in defaults}
        entries = self.r.mapping(item[1], what) or {} if item else {}
        for lang, (key_node, value_node) in entries.items():
            if lang not in self.languages:
                self.r.error(key_node, f'{what} names "{lang}", which the flow does not declare', "unknown-language")
                continue
            value = self.r.string(value_node, f"{what}.{lang}")
            if value is not None and not pattern.match(value):
                self.r.error(value_node, f'{what}.{lang} "{value}" is not {shape}', rule)
            elif value is not None:
                out[lang] = value
        for lang in self.languages:
            if lang not in out:
                where = item[0] if item else None
                if where is not None:
                    self.r.error(where, f"{what} has nothing for {lang}", "missing-language")
                else:
                    out[lang] = defaults.get("en", "")
                    self.r.problems.append(Problem(self.r.path, 1, 1, f"{what} has nothing for {lang}",
                                                   "missing-language"))
        return out

    def keys(self, item) -> Keys:
        if not item:
            return Keys()
        entries = self.r.mapping(item[1], "settings.keys") or {}
        self.r.check_keys(entries, {"repeat", "back", "operator"}, "settings.keys")
        chosen = {}
        for role in ("repeat", "back", "operator"):
            if role not in entries:
                chosen[role] = getattr(Keys(), role)
                continue
            value_node = entries[role][1]
            chosen[role] = None if is_null(value_node) else self.keypad_key(value_node, f"settings.keys.{role}")
        used: dict[str, str] = {}
        for role, key in chosen.items():
            if key is not None and key in used:
                self.r.error(entries.get(role, item)[0] if role in entries else item[0],
                             f'keys.{role} and keys.{used[key]} are both "{key}"', "duplicate-key")
            elif key is not None:
                used[key] = role
        return Keys(**chosen)

    def messages(self, item) -> dict[str, Text]:
        out: dict[str, Text] = {}
        entries = self.r.mapping(item[1], "settings.messages") or {} if item else {}
        self.r.check_keys(entries, messages.NAMES, "settings.messages")
        for name, (_, value_node) in entries.items():
            if name in messages.NAMES:
                text = self.text(value_node, f"message {name}")
                if text is not None:
                    out[name] = text
        for name, built_in in messages.BUILT_IN.items():
            if name in out:
                continue
            missing = [lang for lang in self.languages if lang not in built_in]
            if missing:
                where = item[0] if item else None
                line, col = (where.start_mark.line + 1, where.start_mark.column + 1) if where else (1, 1)
                self.r.problems.append(Problem(
                    self.r.path, line, col,
                    f'built-in message "{name}" has no text in {", ".join(missing)}; add settings.messages.{name}',
                    "missing-language"))
            out[name] = Text(MappingProxyType({lang: built_in.get(lang, built_in["en"]) for lang in self.languages}))
        return out

    def teams(self, node: yaml.Node | None, shared: Teams | None) -> dict[str, Team]:
        """The flow's own teams (always open, ringing all) and those of the teams file beside it."""
        out: dict[str, Team] = dict(shared.teams) if shared is not None else {}
        entries = (self.r.mapping(node, "teams") or {}) if node is not None else {}
        for team, (key_node, value_node) in entries.items():
            if not ID_RE.match(team):
                self.r.error(key_node, f'team name "{team}" must be letters, digits, - and _', "bad-name")
            if team in out:
                where = shared.path if shared is not None else "the teams file"
                self.r.error(key_node, f'team "{team}" is also defined in {where}', "duplicate-key")
                continue
            numbers = []
            for item, number in self.r.strings(value_node, f"team {team}"):
                if E164_RE.match(number):
                    numbers.append(number)
                else:
                    self.r.error(item, f'"{number}" in team {team} is not a phone number in E.164 form '
                                       '(+ and country code, e.g. +16266696777)', "bad-phone")
            if not numbers and isinstance(value_node, yaml.SequenceNode) and not value_node.value:
                self.r.error(value_node, f"team {team} has no numbers", "empty-team")
            out[team] = inline_team(team, numbers)
        return out

    # -- nodes ---------------------------------------------------------------------
    def nodes(self, node: yaml.Node, teams: dict) -> dict:
        out = {}
        for node_id, (key_node, value_node) in (self.r.mapping(node, "nodes") or {}).items():
            if not ID_RE.match(node_id):
                self.r.error(key_node, f'node id "{node_id}" must be letters, digits, - and _', "bad-name")
                continue
            self.facts.positions[node_id] = key_node
            self.current = node_id
            built = self.node(node_id, key_node, value_node, teams)
            if built is not None:
                out[node_id] = built
        return out

    def node(self, node_id: str, key_node: yaml.Node, value_node: yaml.Node, teams: dict):
        if node_id in NODE_KEYS and not isinstance(value_node, yaml.MappingNode):
            self.r.error(key_node, f'"{node_id}" stands among the nodes, as if it were one; it is a key of a node: '
                                   'indent it under the node it belongs to', "type")
            return None
        entries = self.r.mapping(value_node, f'node "{node_id}"')
        if entries is None:
            return None
        kinds = [k for k in entries if k in KIND_KEYS]
        if not kinds:
            unknown = [k for k in entries if not any(k in keys for keys in KIND_KEYS.values())]
            message = (f'unknown node kind "{unknown[0]}" in node "{node_id}"' if unknown
                       else f'node "{node_id}" has no kind')
            self.r.error(entries[unknown[0]][0] if unknown else key_node,
                         f'{message}; allowed: {", ".join(NODE_KINDS)}', "unknown-kind")
            return None
        if len(kinds) > 1:
            others = ", ".join(sorted(KIND_KEYS[kinds[0]] - {kinds[0]}))
            self.r.error(entries[kinds[1]][0], f'node "{node_id}" has two kinds, {kinds[0]} and {kinds[1]}; '
                                               f'other keys a {kinds[0]} node takes: {others}', "unknown-kind")
            return None
        kind = kinds[0]
        self.r.check_keys(entries, KIND_KEYS[kind], f"{kind} node \"{node_id}\"")
        where = {"id": node_id, "line": key_node.start_mark.line + 1, "col": key_node.start_mark.column + 1}
        return getattr(self, f"node_{kind}")(node_id, key_node, entries, where, teams)

    def required(self, entries, key: str, node_id: str, key_node: yaml.Node, kind: str):
        if key not in entries:
            self.r.error(key_node, f'{kind} node "{node_id}" needs "{key}"', "missing-key")
            return None
        return entries[key][1]

    def optional_ref(self, entries, key: str, what: str) -> str | None:
        if key not in entries or is_null(entries[key][1]):
            return None
        return self.ref(entries[key][1], what)

    def wait(self, entries, node_id: str, digits: bool = False) -> Wait:
        d = self.defaults
        timeout = self.r.integer(entries["timeout"][1], "timeout", 1, 60) if "timeout" in entries else None
        retries = self.r.integer(entries["retries"][1], "retries", 0, 9) if "retries" in entries else None
        on_fail = self.optional_ref(entries, "on_fail", f'on_fail of "{node_id}"')
        reprompt = self.text(entries["reprompt"][1], f'reprompt of "{node_id}"') if "reprompt" in entries else None
        default_timeout, warn_after = self.digits_defaults if digits else (d.timeout, 0)
        return Wait(timeout=timeout or default_timeout, retries=d.retries if retries is None else retries,
                    on_fail=on_fail or d.on_fail, reprompt=reprompt, warn_after=warn_after)

    def long_prompt(self, node: yaml.Node, text: Text | None, node_id: str, kind: str = "say") -> None:
        if text is None:
            return
        words = max(word_count(t) for t in text.by_lang.values())
        if words > WORDS_PER_PROMPT:
            advice = {"say": "split it into sections (a list under say) or shorten it",
                      "menu": "shorten it, or move some options to a second menu",
                      "ask": "shorten it, or say the explanation in a say node before the question"}[kind]
            self.r.warn(node, f'prompt of "{node_id}" takes about {round(words / 2.5)} seconds to speak',
                        "long-prompt", advice)

    def taglines(self, entries, node_id: str) -> tuple[Tagline, ...]:
        """Lines in other languages, each `{say, voice, language}` or `{play: URL}`."""
        if "taglines" not in entries:
            return ()
        out = []
        what = f'a tagline of "{node_id}"'
        for item, fields in self.r.mappings(entries["taglines"][1], f'taglines of "{node_id}"', what, TAGLINE_KEYS):
            if "play" in fields:
                url = self.r.string(fields["play"][1], f"{what} play")
                if url is not None and not URL_RE.match(url):
                    self.r.error(fields["play"][1], f'{what} plays "{url}", which is not an https URL', "bad-value")
                elif url is not None:
                    out.append(Tagline(url=url))
                for key in ("say", "voice", "language"):
                    if key in fields:
                        self.r.error(fields[key][0], f'{what} plays a recording, so it takes no "{key}"',
                                     "unknown-key")
                continue
            missing = [key for key in ("say", "voice", "language") if key not in fields]
            if missing:
                self.r.error(item, f'{what} needs {", ".join(missing)} (or play: a recording\'s URL)', "missing-key")
                continue
            text = self.r.string(fields["say"][1], f"{what} say")
            voice = self.r.string(fields["voice"][1], f"{what} voice")
            language = self.r.string(fields["language"][1], f"{what} language")
            if voice is not None and not VOICE_RE.match(voice):
                self.r.error(fields["voice"][1], f'voice "{voice}" of {what} is not a voice Twilio\'s schema accepts '
                                                 '(Polly.Name, man or woman)', "bad-voice")
                voice = None
            if language is not None and not SPEECH_LANGUAGE_RE.match(language):
                self.r.error(fields["language"][1], f'language "{language}" of {what} is not a language tag such as '
                                                    'cmn-CN', "bad-language-tag")
                language = None
            if text and voice and language:
                out.append(Tagline(text=text, voice=voice, language=language))
        return tuple(out)

    def node_say(self, node_id, key_node, entries, where, teams):
        value = entries["say"][1]
        if isinstance(value, yaml.SequenceNode):
            sections = []
            for item in value.value:
                text = self.text(item, f'a section of "{node_id}"')
                self.long_prompt(item, text, node_id, "say")
                if text is not None:
                    sections.append(text)
            if not sections:
                self.r.error(value, f'say node "{node_id}" has no sections', "missing-key")
        else:
            text = self.text(value, f'say of "{node_id}"')
            self.long_prompt(value, text, node_id)
            sections = [text] if text is not None else []
        next_id = self.optional_ref(entries, "next", f'next of "{node_id}"')
        taglines = self.taglines(entries, node_id)
        if taglines and len(sections) > 1:
            self.r.error(entries["taglines"][0], f'taglines go with a one-part say, not the sections of "{node_id}"',
                         "unknown-key")
        return SayNode(**where, sections=tuple(sections), next=next_id, wait=self.wait(entries, node_id),
                       every_language=self.every_language(entries), taglines=taglines)

    def node_menu(self, node_id, key_node, entries, where, teams):
        prompt = self.text(entries["menu"][1], f'menu prompt of "{node_id}"')
        self.long_prompt(entries["menu"][1], prompt, node_id, "menu")
        options_node = self.required(entries, "options", node_id, key_node, "menu")
        options = {}
        for key, (opt_key_node, opt_value) in ((self.r.mapping(options_node, f'options of "{node_id}"') or {})
                                               if options_node is not None else {}).items():
            if self.keypad_key(opt_key_node, "option key", f' of "{node_id}"') is None:
                continue
            what = f'option "{key}" of "{node_id}"'
            if isinstance(opt_value, yaml.ScalarNode):
                target, sets = self.ref(opt_value, what), ()
            else:
                opt = self.r.mapping(opt_value, what) or {}
                self.r.check_keys(opt, {"next", "set"}, what)
                target = self.ref(opt["next"][1], what) if "next" in opt else None
                if "next" not in opt:
                    self.r.error(opt_value, f'{what} needs "next"', "missing-key")
                sets = self.sets(opt["set"][1], what) if "set" in opt else ()
            if target is not None:
                options[key] = Option(key=key, next=target, sets=sets)
        if options_node is not None and len(options) > 5:
            self.r.warn(entries["options"][0], f'menu "{node_id}" has {len(options)} options', "long-menu",
                        "callers remember four or five; split it into two menus")
        return MenuNode(**where, prompt=prompt or Text(MappingProxyType({})), options=MappingProxyType(options),
                        wait=self.wait(entries, node_id), every_language=self.every_language(entries),
                        taglines=self.taglines(entries, node_id))

    def every_language(self, entries) -> bool:
        return bool(self.r.boolean(entries["every_language"][1], "every_language")) if "every_language" in entries \
            else False

    def node_ask(self, node_id, key_node, entries, where, teams):
        prompt = self.text(entries["ask"][1], f'question of "{node_id}"')
        self.long_prompt(entries["ask"][1], prompt, node_id, "ask")
        expect_node = self.required(entries, "expect", node_id, key_node, "ask")
        expect = self.r.string(expect_node, "expect") if expect_node is not None else None
        if expect is not None and expect not in ASK_TYPES:
            self.r.error(expect_node, f'expect "{expect}" is not one of {", ".join(ASK_TYPES)}', "bad-value")
            expect = None
        save_node = self.required(entries, "save", node_id, key_node, "ask")
        save = self.name(save_node, "save") if save_node is not None else None
        extra: dict = {}
        digit_keys = {"length", "min_length", "max_length", "finish_key", "validate", "readback"}
        if expect == "choice":
            choices_node = self.required(entries, "choices", node_id, key_node, "ask")
            choices = {}
            for key, (ck, cv) in ((self.r.mapping(choices_node, f'choices of "{node_id}"') or {})
                                  if choices_node is not None else {}).items():
                value = self.r.string(cv, f'choice "{key}"')
                if self.keypad_key(ck, "choice key", f' of "{node_id}"') is not None and value is not None:
                    choices[key] = value
            extra["choices"] = MappingProxyType(choices)
        elif "choices" in entries and expect is not None:
            self.r.error(entries["choices"][0], f'choices only go with expect: choice, not "{expect}"', "unknown-key")
        if expect == "digits":
            extra.update(self.digits_settings(entries, node_id))
        elif expect is not None:
            for key in digit_keys & entries.keys():
                self.r.error(entries[key][0], f'"{key}" only goes with expect: digits', "unknown-key")
        next_id = self.optional_ref(entries, "next", f'next of "{node_id}"')
        for flag in ("sensitive", "optional"):
            if flag in entries:
                extra[flag] = bool(self.r.boolean(entries[flag][1], flag))
        if prompt is None or expect is None or save is None:
            return None
        return AskNode(**where, prompt=prompt, expect=expect, save=save, next=next_id,
                       wait=self.wait(entries, node_id, digits=expect == "digits"), **extra)

    def digits_settings(self, entries, node_id: str) -> dict:
        out: dict = {}
        validate = None
        if "validate" in entries:
            validate = self.r.string(entries["validate"][1], "validate")
            if validate is not None and validate not in validators.VALIDATORS:
                self.r.error(entries["validate"][1], f'unknown validator "{validate}"; known: '
                             f'{", ".join(sorted(validators.VALIDATORS))}', "bad-value")
                validate = None
        low, high = validators.LENGTHS.get(validate, (1, 20)) if validate is not None else (1, 20)
        if "length" in entries:
            n = self.r.integer(entries["length"][1], "length", 1, 30)
            low = high = n if n is not None else low
        if "min_length" in entries:
            low = self.r.integer(entries["min_length"][1], "min_length", 1, 30) or low
        if "max_length" in entries:
            high = self.r.integer(entries["max_length"][1], "max_length", 1, 30) or high
        if low > high:
            self.r.error(entries.get("min_length", entries.get("length", (None, None)))[1] or entries["max_length"][1],
                         f"min_length {low} is more than max_length {high}", "range")
        out.update(min_length=low, max_length=high, validate=validate)
        if "finish_key" in entries:
            key = self.keypad_key(entries["finish_key"][1], "finish_key")
            if key is not None:
                out["finish_key"] = key
        if "readback" in entries:
            out["readback"] = bool(self.r.boolean(entries["readback"][1], "readback"))
        return out

    def node_decide(self, node_id, key_node, entries, where, teams):
        branches = []
        what = f'a branch of "{node_id}"'
        for item, branch in self.r.mappings(entries["decide"][1], f'decide of "{node_id}"', what,
                                            {"when", "next", "set"}):
            for key in ("when", "next"):
                if key not in branch:
                    self.r.error(item, f'{what} needs "{key}"', "missing-key")
            if "when" not in branch or "next" not in branch:
                continue
            when_node = branch["when"][1]
            when = self.r.string(when_node, "when")
            if when is not None:
                try:
                    self.note_reads(when_node, expression_names(when))
                except TemplateProblem as exc:
                    self.r.error(when_node, f'condition "{when}" does not compile: {exc}', "template")
                    when = None
            target = self.ref(branch["next"][1], f"next of {what}")
            sets = self.sets(branch["set"][1], what) if "set" in branch else ()
            if when is not None and target is not None:
                branches.append(Branch(when=when, next=target, sets=sets))
        default_node = self.required(entries, "default", node_id, key_node, "decide")
        default, default_sets = None, ()
        what = f'default of "{node_id}"'
        if isinstance(default_node, yaml.MappingNode):
            default_entries = self.r.mapping(default_node, what) or {}
            self.r.check_keys(default_entries, {"next", "set"}, what)
            if "next" in default_entries:
                default = self.ref(default_entries["next"][1], what)
            else:
                self.r.error(default_node, f'{what} needs "next"', "missing-key")
            default_sets = self.sets(default_entries["set"][1], what) if "set" in default_entries else ()
        elif default_node is not None:
            default = self.ref(default_node, what)
        if default is None:
            return None
        return DecideNode(**where, branches=tuple(branches), default=default, default_sets=default_sets)

    def node_transfer(self, node_id, key_node, entries, where, teams):
        team_node = entries["transfer"][1]
        team = self.r.string(team_node, "transfer team")
        if team is not None and team not in teams and not self.teams_broken:
            self.r.error(team_node, f'transfer to unknown team "{team}"; teams: {", ".join(sorted(teams)) or "none"}',
                         "unknown-team")
        announce = self.text(entries["announce"][1], f'announce of "{node_id}"') if "announce" in entries else None
        whisper = self.text(entries["whisper"][1], f'whisper of "{node_id}"') if "whisper" in entries else None
        details = self.text(entries["details"][1], f'details of "{node_id}"') if "details" in entries else None
        for key, text in (("whisper", whisper), ("details", details)):
            if text is None:
                continue
            read = set()
            for source in text.by_lang.values():
                try:
                    read |= template_names(source)
                except TemplateProblem:
                    pass  # reported by self.text already
            self.facts.whisper_reads.extend((entries[key][1], node_id, name, key) for name in sorted(read))
        timeout = self.r.integer(entries["timeout"][1], "timeout", 5, 600) if "timeout" in entries else None
        no_answer = self.optional_ref(entries, "no_answer", f'no_answer of "{node_id}"')
        closed = self.optional_ref(entries, "closed", f'closed of "{node_id}"')
        if team is None:
            return None
        return TransferNode(**where, team=team, announce=announce, timeout=timeout, no_answer=no_answer,
                            closed=closed, whisper=whisper, details=details)

    def node_record(self, node_id, key_node, entries, where, teams):
        prompt = self.text(entries["record"][1], f'record prompt of "{node_id}"')
        save_node = self.required(entries, "save", node_id, key_node, "record")
        save = self.name(save_node, "save") if save_node is not None else None
        max_length = (self.r.integer(entries["max_length"][1], "max_length", 1, 3600)
                      if "max_length" in entries else None)
        timeout = self.r.integer(entries["timeout"][1], "timeout", 1, 60) if "timeout" in entries else None
        next_id = self.optional_ref(entries, "next", f'next of "{node_id}"')
        silent = self.optional_ref(entries, "silent", f'silent of "{node_id}"')
        if prompt is None or save is None:
            return None
        return RecordNode(**where, prompt=prompt, save=save, max_length=max_length or 120, next=next_id,
                          timeout=timeout or 5, silent=silent)

    def node_action(self, node_id, key_node, entries, where, teams):
        name_node = entries["action"][1]
        name = self.r.string(name_node, "action")
        spec = ACTIONS.get(name) if name is not None else None
        if name is not None and spec is None:
            self.r.error(name_node, f'unknown action "{name}"; known: {", ".join(sorted(ACTIONS))}', "unknown-action")
        params = {}
        params_entries = self.r.mapping(entries["params"][1], f'params of "{node_id}"') or {} if "params" in entries \
            else {}
        if spec is not None:
            self.r.check_keys(params_entries, spec.allowed, f'params of action "{name}"')
            for missing in sorted(spec.required - params_entries.keys()):
                self.r.error(entries["params"][0] if "params" in entries else key_node,
                             f'action "{name}" needs param "{missing}"', "missing-key")
        for key, (_, value_node) in params_entries.items():
            source = self.r.string(value_node, f"param {key}")
            if source is not None:
                self.template(value_node, source, f"param {key}")
                params[key] = source
        next_id = self.optional_ref(entries, "next", f'next of "{node_id}"')
        if spec is None:
            return None
        return ActionNode(**where, action=name, params=tuple(params.items()), next=next_id)

    def node_hangup(self, node_id, key_node, entries, where, teams):
        value = entries["hangup"][1]
        say = None if is_null(value) else self.text(value, f'goodbye of "{node_id}"')
        return HangupNode(**where, say=say)


TEAMS_FILE = "teams.yaml"


def lint_text(text: str, path: str, shared: Teams | None = None, *, teams_broken: bool = False
              ) -> tuple[Flow | None, list[Problem]]:
    """Read a flow from text: the flow (None if it has errors) and every problem, sorted.

    `shared` is the teams file beside the flow, if there is one; `teams_broken` says there is one
    that has errors, so a transfer to a team it may define is not reported again here.
    """
    # A flow's YAML tree is many small objects and no cycles: the collector would only
    # rescan it again and again as it grows, making loading worse than linear.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _lint_text(text, path, shared, teams_broken)
    finally:
        if collecting:
            gc.enable()


def flow_version(text: str, teams: Teams | None) -> str:
    """What identifies a built flow: its text and the teams file's (12 hex digits of sha256)."""
    digest = hashlib.sha256(text.encode("utf-8"))
    if teams is not None:
        digest.update(b"\0" + teams.source.encode("utf-8"))
    return digest.hexdigest()[:12]


def _lint_text(text: str, path: str, shared: Teams | None, teams_broken: bool = False
               ) -> tuple[Flow | None, list[Problem]]:
    reader = Reader(path)
    root = reader.compose(text)
    flow = None
    if root is not None:
        reading = _Reading(reader)
        reading.teams_broken = teams_broken
        flow = reading.flow(root, path, text, shared)
    elif not reader.problems:
        reader.problems.append(Problem(path, 1, 1, "the flow file is empty", "missing-start"))
    return flow, sorted(set(reader.problems))


def is_teams_file(path: str | Path) -> bool:
    """True for the teams file that lives beside the flows."""
    return Path(path).name == TEAMS_FILE


def teams_in(folder: str | Path) -> tuple[Teams | None, list[Problem]]:
    """The teams file of a folder of flows (None, [] when there is none)."""
    candidate = Path(folder) / TEAMS_FILE
    if not candidate.is_file():
        return None, []
    return lint_teams_file(candidate)


def lint_file(path: str | Path, shared: tuple[Teams | None, list[Problem]] | None = None
              ) -> tuple[Flow | None, list[Problem]]:
    """Read a flow file: the flow (None if it has errors) and every problem, sorted.

    The teams file beside it is read too, unless `shared` brings it already read.
    """
    path = Path(path)
    text, unread = read_file(path)
    if text is None:
        return None, unread
    teams, teams_problems = shared if shared is not None else teams_in(path.parent)
    broken = any(p.is_error for p in teams_problems)
    flow, problems = lint_text(text, str(path), teams, teams_broken=broken)
    if any(p.is_error for p in teams_problems):
        problems.append(Problem(str(path), 1, 1, f"{TEAMS_FILE} beside this flow has errors", "teams-file"))
        flow = None
    return flow, sorted(problems)


def load_flow(path: str | Path) -> Flow:
    """Load one flow file or raise FlowError with every error in it."""
    flow, problems = lint_file(path)
    if flow is None:
        raise FlowError([p for p in problems if p.is_error])
    return flow


def flow_files(paths) -> list[Path]:
    """The flow files named, with folders expanded to their *.yaml (not their tests/ nor teams.yaml)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.yaml") if p.is_file()) + \
                sorted(p for p in path.glob("*.yml") if p.is_file())
            out.extend(p for p in found if not is_teams_file(p))
        else:
            out.append(path)
    return out


def load_flows(folder: str | Path) -> dict[str, Flow]:
    """Every flow in a folder by id, or FlowError with every error in all of them (teams file included)."""
    flows: dict[str, Flow] = {}
    shared = teams_in(folder)
    problems: list[Problem] = [p for p in shared[1] if p.is_error]
    for path in flow_files([folder]):
        flow, found = lint_file(path, shared)
        problems.extend(p for p in found if p.is_error and p.rule != "teams-file")
        if flow is not None and flow.id in flows:
            problems.append(Problem(str(path), 1, 1, f'flow id "{flow.id}" is also used by {flows[flow.id].path}',
                                    "duplicate-flow"))
        elif flow is not None:
            flows[flow.id] = flow
    if problems:
        raise FlowError(problems)
    return flows
