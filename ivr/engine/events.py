"""What happens to a call, as typed data the engine consumes.

The web layer builds these from Twilio's form fields; the terminal phone and the
call-script runner build them from keys. Time always arrives with the event so the
engine never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True, slots=True)
class Staff:
    """What the service knows of the coordinators: who is away, when each last took a call."""

    away: frozenset[str] = frozenset()  # names or numbers
    last_answered: tuple[tuple[str, float], ...] = ()  # (number, epoch seconds)


EVERYONE_IN = Staff()


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A new call reached the line (`lang`: the number's language, if it has one)."""

    now: datetime
    caller: str | None = None
    lang: str | None = None
    call: str = ""  # the call's id (Twilio's CallSid): seeds confirmation numbers
    staff: Staff | None = EVERYONE_IN  # None: not read yet (see step.NeedsStaff)


@dataclass(frozen=True, slots=True)
class Digits:
    """The caller pressed keys (a Gather finished with input)."""

    now: datetime
    digits: str
    staff: Staff | None = EVERYONE_IN  # None: not read yet (see step.NeedsStaff)


@dataclass(frozen=True, slots=True)
class NoInput:
    """A Gather timed out with no keys."""

    now: datetime
    staff: Staff | None = EVERYONE_IN  # None: not read yet (see step.NeedsStaff)


@dataclass(frozen=True, slots=True)
class DialDone:
    """A transfer finished; `status` is Twilio's DialCallStatus."""

    now: datetime
    status: str
    bridged: bool | None = None  # connected to someone (None: judge by status)
    staff: Staff | None = EVERYONE_IN  # None: not read yet (see step.NeedsStaff)


@dataclass(frozen=True, slots=True)
class RecordingDone:
    """A recording finished (also when the caller hung up to end it)."""

    now: datetime
    url: str
    duration: int
    staff: Staff | None = EVERYONE_IN  # None: not read yet (see step.NeedsStaff)


Event = CallStarted | Digits | NoInput | DialDone | RecordingDone
