"""What a turn did, as plain data: the engine's events, returned beside its commands.

Commands are what the telephone must do; these say what happened to the call on the way,
so the log line, the simulator and drop-off counts read one source instead of comparing
states. They name nodes, answers, teams and languages, never a caller's value: an
`AnswerSaved` says which answer, not what the caller keyed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


class Happened:
    """What every event shares: a short form for the turn's log line, `tag:field:field`."""

    __slots__ = ()
    TAG: ClassVar[str] = ""
    BRIEF: ClassVar[tuple[str, ...]] = ()  # the fields the short form names, in order (all by default)

    def brief(self) -> str:
        kind = type(self)
        names = _NAMES.get(kind)
        if names is None:
            names = _NAMES[kind] = self.BRIEF or tuple(f.name for f in fields(self))  # type: ignore[arg-type]
        return ":".join([self.TAG, *[_text(getattr(self, name)) for name in names]])


_NAMES: dict[type, tuple[str, ...]] = {}  # each kind's fields in its short form


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Entered(Happened):
    """The call reached a node that waits (a menu, a question, a read-out, a transfer, a recording)."""

    TAG = "enter"
    BRIEF = ("node",)

    node: str
    kind: str


@dataclass(frozen=True, slots=True)
class LanguageChosen(Happened):
    """The call's language changed."""

    TAG = "lang"

    lang: str


@dataclass(frozen=True, slots=True)
class AnswerSaved(Happened):
    """An answer was saved under a name (its value stays in the state)."""

    TAG = "answer"
    BRIEF = ("name",)

    node: str
    name: str


@dataclass(frozen=True, slots=True)
class Decided(Happened):
    """A decide node chose its way: which node it led to (by its condition, or by default)."""

    TAG = "decide"

    node: str
    next: str


@dataclass(frozen=True, slots=True)
class Reprompted(Happened):
    """A node asked again: `reason` is no_input, reprompt (a key it does not take) or the message naming
    what was wrong with an entry (invalid_entry, not_california, ...)."""

    TAG = "reprompt"

    node: str
    reason: str


@dataclass(frozen=True, slots=True)
class TriesExhausted(Happened):
    """The caller missed a node's prompt more times than it allows; the call goes to its on_fail route."""

    TAG = "gave-up"

    node: str


@dataclass(frozen=True, slots=True)
class TransferRang(Happened):
    """A transfer rang members of a team (`rung`: how many phones)."""

    TAG = "rang"
    BRIEF = ("team", "rung")

    node: str
    team: str
    rung: int


@dataclass(frozen=True, slots=True)
class TransferEnded(Happened):
    """A transfer finished with Twilio's DialCallStatus; `connected` if someone took the call."""

    TAG = "dialled"
    BRIEF = ("team", "status")

    node: str
    team: str
    status: str
    connected: bool


@dataclass(frozen=True, slots=True)
class TeamUnavailable(Happened):
    """A transfer found its team closed (`why` closed) or nobody free to ring (`why` nobody)."""

    TAG = "unavailable"
    BRIEF = ("team", "why")

    node: str
    team: str
    why: str


@dataclass(frozen=True, slots=True)
class ActionRequested(Happened):
    """A built-in action (a text, a ride, a voicemail, a call-back) was asked for."""

    TAG = "action"
    BRIEF = ("action",)

    node: str
    action: str


@dataclass(frozen=True, slots=True)
class Apologised(Happened):
    """Something was wrong with where the call stood: `why` is missing-node or loop."""

    TAG = "apology"

    why: str


@dataclass(frozen=True, slots=True)
class CallEnded(Happened):
    """The engine hung up; `node` is where the call was last (None when it had already ended)."""

    TAG = "ended"

    node: str | None



Happening = (Entered | LanguageChosen | AnswerSaved | Decided | Reprompted | TriesExhausted | TransferRang | TransferEnded
             | TeamUnavailable | ActionRequested | Apologised | CallEnded)
