"""One webhook turn: load the call, step the engine, render TwiML, save — safely.

Theory of operation
-------------------
Each call is one record in the store: the engine state, the number of the last
turn answered and that answer's TwiML. Every URL we give Twilio carries the turn
number it answers (`t`), never an answer of the caller's. So:

- a request for the turn the call is waiting on is stepped and saved with a
  compare-and-set; losing the race means another request of the same call got
  there first, so we reload and answer from what it saved;
- a request for a turn already answered (Twilio retrying) gets the same TwiML
  again and changes nothing;
- a missing record, an unreachable store, a flow that cannot be found, or any
  exception: the caller hears an apology and goes to the safe route. A store that
  failed slowly (a timeout) is not asked again for a second: those turns get the
  apology at once rather than each waiting out the same timeout.

Two store round trips per turn: one load, one save.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from datetime import datetime

from ivr.web import effects
from ivr.engine.commands import Dial, Effect, Say
from ivr.engine.step import CallState, step
from ivr.engine.events import EVERYONE_IN, CallStarted, Event, Staff
from ivr.web.registry import FlowRegistry
from ivr.flows.messages import BUILT_IN
from ivr.stores.protocols import Store, StoreUnavailable
from ivr.telephony.twiml import TurnUrls, render, render_accept, render_apology, render_whisper

log = logging.getLogger("ivr.calls")
CALL_TTL_SECONDS = 4 * 3600
SAVE_ATTEMPTS = 3
STAFF_CACHE_SECONDS = 5.0
# A store that failed slowly (a timeout) is left alone for a moment: the next turns get the
# apology at once instead of each waiting out the same timeout.
SLOW_FAILURE_SECONDS = 0.1
STORE_PAUSE_SECONDS = 1.0
STORE_OUTCOMES = frozenset({"store-unavailable", "store-paused"})
LAST_ANSWERED = "staff:last-answered"
LAST_ANSWERED_TTL = 30 * 24 * 3600
APOLOGY = (
    Say(BUILT_IN["apology"]["en"], "Polly.Joanna", "en-US"),
    Say(BUILT_IN["apology"]["es"], "Polly.Lupe", "es-US"),
)


@dataclass(frozen=True, slots=True)
class Record:
    """What the store keeps for a call."""

    state: CallState
    answered: int  # the last turn number answered; -1 for the first response
    twiml: str
    whisper: tuple[tuple[str, str], ...] = ()  # what coordinators hear while this turn's transfer rings

    def pack(self) -> bytes:
        """Bytes for the store: the JSON header, NUL, the TwiML, compressed together."""
        head = {"s": self.state.to_dict(), "a": self.answered}
        if self.whisper:
            head["w"] = self.whisper
        body = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode() + b"\0" + self.twiml.encode()
        return zlib.compress(body, 6)

    @classmethod
    def unpack(cls, blob: bytes) -> Record:
        """Inverse of pack; ValueError when the bytes are not a record of ours."""
        try:
            head, body = zlib.decompress(blob).split(b"\0", 1)
            data = json.loads(head)
            whisper = tuple((str(lang), str(text)) for lang, text in data.get("w", ()))
            return cls(CallState.from_dict(data["s"]), int(data["a"]), body.decode(), whisper)
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            raise ValueError(f"not a call record: {type(exc).__name__}") from None


TURN_MARK = "__TURN__"


@lru_cache(maxsize=4096)
def _rendered(commands: tuple) -> str:
    return render(commands, urls_for(TURN_MARK))


def render_turn(commands, turn: int) -> str:
    """A turn's TwiML; the same prompts at another turn reuse one rendering (only `t=` differs)."""
    sounding = tuple(c for c in commands if not isinstance(c, Effect))
    return _rendered(sounding).replace(f"t={TURN_MARK}", f"t={turn}")


def urls_for(turn: int | str) -> TurnUrls:
    """Relative URLs for a turn's answers; only the turn number, never caller data."""
    base = f"/voice/turn?t={turn}"
    return TurnUrls(gather=base, no_input=base, dial=base, record=base, whisper=f"/voice/whisper?t={turn}")


class CallService:
    """Answers Twilio's webhooks for calls, whatever goes wrong underneath."""

    def __init__(self, registry: FlowRegistry, store: Store, flow_id: str,
                 fallback_number: str | None = None, settings: dict | None = None):
        self.registry = registry
        self.settings = settings or {}
        self.store = store
        self.flow_id = flow_id
        self.fallback_number = fallback_number
        self._staff = EVERYONE_IN
        self._staff_read = float("-inf")
        self._store_paused_until = float("-inf")
        self._apology = render_apology(APOLOGY, fallback_number)

    def apology(self) -> str:
        """The safe route: sorry in both languages, then the main line (or goodbye)."""
        return self._apology

    def start(self, call_sid: str, event: CallStarted) -> str:
        """The first webhook of a call."""
        return self._turn(call_sid, None, event)

    def advance(self, call_sid: str, turn: int, event: Event) -> str:
        """A later webhook, answering the TwiML of turn `turn`."""
        return self._turn(call_sid, turn, event)

    def _turn(self, call_sid: str, turn: int | None, event: Event) -> str:
        began = time.perf_counter()
        fields = {"call": call_sid, "event": type(event).__name__, "turn": turn}
        try:
            if time.monotonic() < self._store_paused_until:
                fields["outcome"] = "store-paused"
                twiml = self.apology()
            else:
                twiml = self._serve(call_sid, turn, event, fields)
        except StoreUnavailable:
            fields["outcome"] = "store-unavailable"
            if time.perf_counter() - began >= SLOW_FAILURE_SECONDS:
                self._store_paused_until = time.monotonic() + STORE_PAUSE_SECONDS
            twiml = self.apology()
        except Exception as exc:  # the caller must never hear an application error
            fields["outcome"] = "error"
            fields["error"] = type(exc).__name__
            # Where only (file, line, function): a message or source line may quote caller input.
            fields["where"] = [f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                               for f in traceback.extract_tb(exc.__traceback__)[-4:]]
            twiml = self.apology()
        fields["ms"] = round((time.perf_counter() - began) * 1000, 2)
        level = logging.ERROR if "error" in fields or fields.get("outcome") in STORE_OUTCOMES else logging.INFO
        log.log(level, json.dumps(fields, separators=(",", ":")))
        return twiml

    def _serve(self, call_sid: str, turn: int | None, event: Event, fields: dict) -> str:
        for _ in range(SAVE_ATTEMPTS):
            blob, version = self.store.load(call_sid)
            record = Record.unpack(blob) if blob is not None else None
            if record is None and turn is not None:
                fields["outcome"] = "no-call-state"
                return self.apology()
            if record is not None and (turn is None or turn != record.state.turn or record.state.ended):
                fields["outcome"] = "replayed"
                return record.twiml
            flow = self._flow(record)
            if flow is None:
                fields["outcome"] = "no-flow"
                return self.apology()
            event = replace(event, staff=self.staff())
            state, commands = step(flow, record.state if record else None, event)
            twiml = render_turn(commands, state.turn)
            dial = next((c for c in commands if isinstance(c, Dial)), None)
            new = Record(state, -1 if turn is None else turn, twiml, dial.whisper if dial else ())
            # Effects first, keyed by call and turn: a lost race or a retry keeps one record.
            effects.perform(self.store, call_sid, [c for c in commands if isinstance(c, Effect)], time.time(),
                            caller=state.answers.get("caller_id") or None, settings=self.settings)
            if self.store.save(call_sid, new.pack(), version, CALL_TTL_SECONDS):
                fields.update(flow=flow.id, version=flow.version, node=state.node, outcome="ok",
                              ended=state.ended or None)
                return twiml
        fields["outcome"] = "conflict"
        return self.apology()

    def _flow(self, record: Record | None):
        if record is None:
            return self.registry.get(self.flow_id)
        state = record.state
        return self.registry.get(state.flow, state.flow_version)

    def staff(self) -> Staff:
        """Who is away and who last took a call, read from the store at most every few seconds."""
        now = time.monotonic()
        if now - self._staff_read >= STAFF_CACHE_SECONDS:
            try:
                away = frozenset(name for name, (available, _) in self.store.availability().items() if not available)
                self._staff = Staff(away, tuple(sorted(self._last_answered().items())))
                self._staff_read = now
            except StoreUnavailable:
                pass  # keep what was known; the turn itself will find out about the store
        return self._staff

    def _last_answered(self) -> dict[str, float]:
        blob = self.store.get_value(LAST_ANSWERED)
        try:
            return {str(k): float(v) for k, v in json.loads(blob).items()} if blob else {}
        except (ValueError, AttributeError):
            return {}

    def answered(self, member_phone: str, at: float) -> None:
        """A coordinator took a call: they go to the back of the line for teams that hunt."""
        try:
            known = self._last_answered()
            known[member_phone] = at
            self.store.put_value(LAST_ANSWERED, json.dumps(known).encode(), LAST_ANSWERED_TTL)
        except StoreUnavailable:
            pass  # only the order of the next hunt suffers

    def whisper(self, parent_sid: str, turn: int, member_phone: str) -> str:
        """The coordinator's leg: who is calling and why, then press 1 to accept."""
        try:
            blob, _ = self.store.load(parent_sid)
            record = Record.unpack(blob) if blob is not None else None
            if record is None or record.state.turn != turn or not record.whisper:
                return render_accept(False)
            flow = self._flow(record)
            texts = dict(record.whisper)
            lang = self._member_language(flow, member_phone, texts) if flow is not None else next(iter(texts))
            voice = flow.voices[lang] if flow is not None else APOLOGY[0].voice
            language = flow.speech_languages[lang] if flow is not None else APOLOGY[0].language
            return render_whisper(Say(texts[lang], voice, language), f"/voice/whisper/accept?t={turn}")
        except Exception as exc:  # a broken whisper declines this leg; the caller goes on ringing
            log.error(json.dumps({"call": parent_sid, "event": "Whisper", "error": type(exc).__name__}))
            return render_accept(False)

    @staticmethod
    def _member_language(flow, phone: str, texts: dict[str, str]) -> str:
        for team in flow.teams.values():
            for member in team.members:
                if member.phone == phone:
                    for lang in member.languages:
                        if lang in texts:
                            return lang
        return next(iter(texts))

    def ended(self, call_sid: str, status: str) -> None:
        """A status callback: note where the call ended (for drop-off counts) and mark it over."""
        try:
            for _ in range(SAVE_ATTEMPTS):
                blob, version = self.store.load(call_sid)
                if blob is None:
                    return
                record = Record.unpack(blob)
                state = record.state.copy()
                if not state.ended:
                    log.info(json.dumps({"call": call_sid, "event": "CallEnded", "status": status,
                                         "flow": state.flow, "node": state.node, "turns": state.turn},
                                        separators=(",", ":")))
                    state.ended = True
                ended = Record(state, record.answered, record.twiml)
                if self.store.save(call_sid, ended.pack(), version, CALL_TTL_SECONDS):
                    return
        except (StoreUnavailable, ValueError) as exc:
            log.warning(json.dumps({"call": call_sid, "event": "CallEnded", "outcome": type(exc).__name__},
                                   separators=(",", ":")))


def now_in(zone) -> datetime:
    """The current time in the line's time zone (for events)."""
    return datetime.now(zone)
