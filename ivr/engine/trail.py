"""What a turn did, as plain data: the engine's events, returned beside its commands.

Commands are what the telephone must do; these say what happened to the call on the way,
so the log line, the simulator and drop-off counts read one source instead of comparing
states. They name nodes, answers, teams and languages, never a caller's value: an
`AnswerSaved` says which answer, not what the caller keyed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entered:
    """The call reached a node that waits (a menu, a question, a read-out, a transfer, a recording)."""

    node: str
    kind: str

    def brief(self) -> str:
        return f"enter:{self.node}"


@dataclass(frozen=True, slots=True)
class LanguageChosen:
    """The call's language changed."""

    lang: str

    def brief(self) -> str:
        return f"lang:{self.lang}"


@dataclass(frozen=True, slots=True)
class AnswerSaved:
    """An answer was saved under a name (its value stays in the state)."""

    node: str
    name: str

    def brief(self) -> str:
        return f"answer:{self.name}"


@dataclass(frozen=True, slots=True)
class Decided:
    """A decide node chose its way: which node it led to (by its condition, or by default)."""

    node: str
    next: str

    def brief(self) -> str:
        return f"decide:{self.node}:{self.next}"


@dataclass(frozen=True, slots=True)
class Reprompted:
    """A node asked again: `reason` is no_input, reprompt (a key it does not take) or the message naming
    what was wrong with an entry (invalid_entry, not_california, ...)."""

    node: str
    reason: str

    def brief(self) -> str:
        return f"reprompt:{self.node}:{self.reason}"


@dataclass(frozen=True, slots=True)
class TriesExhausted:
    """The caller missed a node's prompt more times than it allows; the call goes to its on_fail route."""

    node: str

    def brief(self) -> str:
        return f"gave-up:{self.node}"


@dataclass(frozen=True, slots=True)
class TransferRang:
    """A transfer rang members of a team (`rung`: how many phones)."""

    node: str
    team: str
    rung: int

    def brief(self) -> str:
        return f"rang:{self.team}:{self.rung}"


@dataclass(frozen=True, slots=True)
class TransferEnded:
    """A transfer finished with Twilio's DialCallStatus; `connected` if someone took the call."""

    node: str
    team: str
    status: str
    connected: bool

    def brief(self) -> str:
        return f"dialled:{self.team}:{self.status}"


@dataclass(frozen=True, slots=True)
class TeamUnavailable:
    """A transfer found its team closed (`why` closed) or nobody free to ring (`why` nobody)."""

    node: str
    team: str
    why: str

    def brief(self) -> str:
        return f"unavailable:{self.team}:{self.why}"


@dataclass(frozen=True, slots=True)
class ActionRequested:
    """A built-in action (a text, a ride, a voicemail, a call-back) was asked for."""

    node: str
    action: str

    def brief(self) -> str:
        return f"action:{self.action}"


@dataclass(frozen=True, slots=True)
class Apologised:
    """Something was wrong with where the call stood: `why` is missing-node or loop."""

    why: str

    def brief(self) -> str:
        return f"apology:{self.why}"


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The engine hung up; `node` is where the call was last (None when it had already ended)."""

    node: str | None

    def brief(self) -> str:
        return f"ended:{self.node or ''}"


Happening = (Entered | LanguageChosen | AnswerSaved | Decided | Reprompted | TriesExhausted | TransferRang | TransferEnded
             | TeamUnavailable | ActionRequested | Apologised | CallEnded)
