"""A loaded flow: frozen, validated, versioned.

Objects here are only built by `flow_loader.load_flow`, which refuses invalid
files, so the engine can trust every reference it follows. Each node keeps the
line and column it was defined at for tools that point back into the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ivr.flows.actions import ACTIONS
from ivr.flows.teams import Calendar, Team, Teams

NODE_KINDS = ("say", "menu", "ask", "decide", "transfer", "record", "action", "hangup")
ASK_TYPES = ("yesno", "choice", "digits")


@dataclass(frozen=True, slots=True)
class Text:
    """A prompt in each of the flow's languages (each a template source)."""

    by_lang: Mapping[str, str]

    def get(self, lang: str) -> str:
        """The text in `lang`, or the first language's when `lang` is missing."""
        text = self.by_lang.get(lang)
        if text is None:
            text = next(iter(self.by_lang.values()))
        return text


@dataclass(frozen=True, slots=True)
class Wait:
    """How a node that waits for keys handles silence and wrong keys."""

    timeout: int
    retries: int
    on_fail: str | None
    reprompt: Text | None
    warn_after: int = 0  # digit entries: seconds of silence after the question before "take your time" (0: none)


@dataclass(frozen=True, slots=True)
class Option:
    """A menu key: where it leads and which answers it saves."""

    key: str
    next: str
    sets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Branch:
    """One condition of a decide node."""

    when: str
    next: str
    sets: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Tagline:
    """A line in a language the flow has no menus in: said in its own voice, or a recording played."""

    text: str | None = None
    voice: str | None = None
    language: str | None = None  # the speech language tag, e.g. cmn-CN
    url: str | None = None  # a recording to play instead


@dataclass(frozen=True, slots=True)
class Node:
    """Fields every node has."""

    id: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class SayNode(Node):
    """Speak one text, or several sections with repeat/next between them."""

    sections: tuple[Text, ...]
    next: str | None
    wait: Wait
    every_language: bool = False
    taglines: tuple[Tagline, ...] = ()  # said after the text (one-section read-outs only)
    kind = "say"


@dataclass(frozen=True, slots=True)
class MenuNode(Node):
    """A prompt and keys that lead elsewhere."""

    prompt: Text
    options: Mapping[str, Option]
    wait: Wait
    every_language: bool = False
    taglines: tuple[Tagline, ...] = ()  # said after the prompt
    kind = "menu"


@dataclass(frozen=True, slots=True)
class AskNode(Node):
    """A question whose keypad answer is saved under a name."""

    prompt: Text
    expect: str
    save: str
    next: str
    wait: Wait
    choices: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    min_length: int = 1
    max_length: int = 20
    finish_key: str = "#"
    validate: str | None = None
    readback: bool = False
    sensitive: bool = False  # a health answer: only for the coordinator who took the call (details, not whisper)
    optional: bool = False  # no keys (silence, or the finish key alone) saves "" and goes on
    kind = "ask"


@dataclass(frozen=True, slots=True)
class DecideNode(Node):
    """Branch on saved answers, first match wins."""

    branches: tuple[Branch, ...]
    default: str
    default_sets: tuple[tuple[str, str], ...] = ()
    kind = "decide"


@dataclass(frozen=True, slots=True)
class TransferNode(Node):
    """Connect the caller to a team."""

    team: str
    announce: Text | None
    timeout: int | None  # None: the team's ring_seconds
    no_answer: str | None
    closed: str | None = None  # where callers go outside the team's hours (default: no_answer)
    whisper: Text | None = None  # what the coordinator hears before accepting
    details: Text | None = None  # what the coordinator hears after accepting, before the caller is bridged
    kind = "transfer"


@dataclass(frozen=True, slots=True)
class RecordNode(Node):
    """Record a voice message."""

    prompt: Text
    save: str
    max_length: int
    next: str
    timeout: int = 5
    silent: str | None = None  # where to go when nothing was recorded (default: next)
    kind = "record"


@dataclass(frozen=True, slots=True)
class ActionNode(Node):
    """Request a built-in side effect, then go on."""

    action: str
    params: tuple[tuple[str, str], ...]
    next: str
    kind = "action"


@dataclass(frozen=True, slots=True)
class HangupNode(Node):
    """Say goodbye (optionally) and end the call."""

    say: Text | None
    kind = "hangup"


AnyNode = SayNode | MenuNode | AskNode | DecideNode | TransferNode | RecordNode | ActionNode | HangupNode


@dataclass(frozen=True, slots=True)
class Keys:
    """Global keys honoured at every prompt; None turns one off."""

    repeat: str | None = "*"
    back: str | None = "9"
    operator: str | None = "0"


@dataclass(frozen=True, slots=True)
class Flow:
    """A validated phone menu."""

    id: str
    path: str
    version: str
    start: str
    languages: tuple[str, ...]
    voices: Mapping[str, str]
    speech_languages: Mapping[str, str]
    keys: Keys
    operator: str | None
    messages: Mapping[str, Text]
    teams: Mapping[str, Team]
    nodes: Mapping[str, AnyNode]
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # text, or tables of it
    calendar: Calendar = field(default_factory=Calendar)  # weekdays only, unless a teams file says more
    source: str = ""  # the flow file's text
    teams_file: Teams | None = None  # the teams file it was built with; `version` covers both texts
    chooses_language: bool = False  # some option or branch sets lang: callers pick their language

    def node(self, node_id: str | None) -> AnyNode | None:
        """The node with this id, or None when it does not exist."""
        return self.nodes.get(node_id) if node_id else None


def sets_language(node: AnyNode) -> bool:
    """True for a node with an option or branch that sets the call's language."""
    match node:
        case MenuNode():
            return any(name == "lang" for opt in node.options.values() for name, _ in opt.sets)
        case DecideNode():
            return any(name == "lang" for b in node.branches for name, _ in b.sets) or \
                any(name == "lang" for name, _ in node.default_sets)
    return False


def successors(node: AnyNode) -> list[str]:
    """Ids of the nodes a node can lead to directly (not counting global keys)."""
    match node:
        case RecordNode():
            targets = [t for t in (node.next, node.silent) if t]
        case SayNode() | AskNode() | ActionNode():
            targets = [node.next] if node.next else []
        case MenuNode():
            targets = [opt.next for opt in node.options.values()]
        case DecideNode():
            targets = [b.next for b in node.branches] + [node.default]
        case TransferNode():
            targets = [t for t in (node.no_answer, node.closed) if t]
        case _:
            targets = []
    if isinstance(node, (MenuNode, AskNode, SayNode)) and waits_for_keys(node) and node.wait.on_fail:
        targets.append(node.wait.on_fail)
    return targets


def waits_for_keys(node: AnyNode) -> bool:
    """True for nodes that ask the caller for keys (menus, questions, read-outs in sections)."""
    return isinstance(node, (MenuNode, AskNode)) or (isinstance(node, SayNode) and len(node.sections) > 1)


def saved_names(node: AnyNode) -> set[str]:
    """Answer names a node may save."""
    match node:
        case AskNode():
            return {node.save}
        case RecordNode():
            return {node.save, f"{node.save}_seconds"}
        case MenuNode():
            return {k for opt in node.options.values() for k, _ in opt.sets}
        case DecideNode():
            return {k for b in node.branches for k, _ in b.sets} | {k for k, _ in node.default_sets}
        case ActionNode():
            return set(ACTIONS[node.action].outputs)
        case TransferNode():
            return {"transfer_team", "transfer_node"}
    return set()
