"""A telephone without a network: drives the engine the way Twilio would.

Used by `ivr simulate`, call scripts and tests. It keeps what the caller heard and
where the call stands, and turns the engine's commands into readable lines.
"""

from __future__ import annotations

import re
from datetime import datetime

from ivr.engine.commands import Dial, Effect, Gather, Hangup, Pause, Play, Record, Say
from ivr.engine.step import CallState, step
from ivr.engine import trail
from ivr.engine.events import DIAL_STATUSES, EVERYONE_IN, CallStarted, DialDone, Digits, NoInput, RecordingDone, Staff
from ivr.flows.model import Flow


def describe(commands) -> list[str]:
    """What a caller would notice of each command, one line each."""
    lines: list[str] = []
    for command in commands:
        match command:
            case Say():
                lines.append(command.text)
            case Play():
                lines.append(f"[audio {command.url}]")
            case Pause():
                lines.append(f"[pause {command.seconds}s]")
            case Gather():
                lines.extend(describe(command.prompts))
            case Dial():
                lines.append(f"[transfer to {command.team}: ringing {len(command.numbers)} phone(s)]")
            case Record():
                lines.append("[beep: recording]")
            case Effect():
                lines.append(f"[request {command.action}]")
            case Hangup():
                lines.append("[hang up]")
    return lines


KEYS_RE = re.compile(r"^[0-9*#]+$")


def entry_problem(entry: str, waiting: str) -> str | None:
    """What is wrong with a typed input for what the call waits for ("keys", "dial" or "record"), or None."""
    got, value = parse_entry(entry)
    if got != waiting:
        wanted = {"dial": "dial:STATUS (e.g. dial:no-answer)", "record": "record:SECONDS"}.get(waiting, "keys")
        return f'the call waits for {wanted}, not "{entry}"'
    if got == "dial" and value not in DIAL_STATUSES:
        return f'"{value}" is not a transfer outcome; one of {", ".join(sorted(DIAL_STATUSES))}'
    if got == "record" and not value.isdigit():
        return f'"{value}" is not a number of seconds'
    if got == "keys" and value and not KEYS_RE.match(value):
        return f'"{value}" is not phone keys (0-9, * and #) nor "silence"'
    return None


def parse_entry(entry: str) -> tuple[str, str]:
    """A typed input: keys ("silence" for none), "dial:STATUS" or "record:SECONDS"."""
    entry = entry.strip()
    if entry == "silence":
        return "keys", ""
    if entry.startswith("dial:"):
        return "dial", entry[5:] or "completed"
    if entry.startswith("record:"):
        return "record", entry[7:] or "0"
    return "keys", entry


class Phone:
    """One simulated call through a flow."""

    def __init__(self, flow: Flow, now: datetime, caller: str = "+15555550100", staff: Staff = EVERYONE_IN):
        self.flow = flow
        self.caller = caller
        self.staff = staff
        self.now = now  # when the call is placed: hours, holidays and "today" are judged in the line's zone
        self.state: CallState | None = None
        self.commands: tuple = ()
        self.happened: tuple = ()
        self.heard: list[str] = []
        self.effects: list[Effect] = []
        self.turns = 0
        self.call_id = "CA" + "0" * 32
        self.visited: set[tuple[str, str]] = set()  # (node waited at, language it was spoken in)
        self.decisions: list[tuple[str, str]] = []  # (decide node, where it led), in order

    def _send(self, event) -> list[str]:
        self.state, self.commands, self.happened = step(self.flow, self.state, event)
        self.turns += 1
        self.effects.extend(c for c in self.commands if isinstance(c, Effect))
        self.decisions.extend((h.node, h.next) for h in self.happened if isinstance(h, trail.Decided))
        if self.state.node:  # before the caller chooses a language, each is spoken
            langs = self.flow.languages if not self.state.chosen else (self.state.lang,)
            self.visited.update((self.state.node, lang) for lang in langs)
        lines = describe(self.commands)
        self.heard.extend(lines)
        return lines

    def start(self, lang: str | None = None) -> list[str]:
        """Place the call (optionally to a line of one language); returns what is heard first."""
        return self._send(CallStarted(self.now, lang=lang, caller=self.caller, call=self.call_id,
                                      staff=self.staff))

    def press(self, digits: str) -> list[str]:
        """Press keys at the current prompt."""
        return self._send(Digits(self.now, digits, staff=self.staff))

    def silence(self) -> list[str]:
        """Let the current prompt time out."""
        return self._send(NoInput(self.now, staff=self.staff))

    def dial_result(self, status: str) -> list[str]:
        """Finish a transfer with a DialCallStatus."""
        return self._send(DialDone(self.now, status, staff=self.staff))

    def record(self, seconds: int) -> list[str]:
        """Finish a recording of some seconds (0: nothing was recorded)."""
        if seconds <= 0:
            return self._send(NoInput(self.now, staff=self.staff))
        return self._send(RecordingDone(self.now, f"recording://{self.turns}", seconds, staff=self.staff))

    def enter(self, entry: str) -> list[str]:
        """Feed one typed input (see `parse_entry`)."""
        kind, value = parse_entry(entry)
        if kind == "dial":
            return self.dial_result(value)
        if kind == "record":
            return self.record(int(value) if value.isdigit() else 0)
        return self.press(value) if value else self.silence()

    def waiting_for(self) -> str | None:
        """What the call waits for: "keys", "dial" or "record" (None when it has ended)."""
        last = self.waiting
        if last is None:
            return None
        return "dial" if isinstance(last, Dial) else "record" if isinstance(last, Record) else "keys"

    @property
    def waiting(self):
        """The command the call waits on, or None when it has ended."""
        last = self.commands[-1] if self.commands else None
        return None if isinstance(last, Hangup) or last is None else last

    def where(self) -> str:
        """Where the call stands: `hangup`, `transfer TEAM`, `record NODE` or `waiting NODE`."""
        last = self.waiting
        if last is None:
            return "hangup"
        if isinstance(last, Dial):
            return f"transfer {last.team}"
        node = self.state.node if self.state is not None else None
        if isinstance(last, Record):
            return f"record {node}"
        return f"waiting {node}"
