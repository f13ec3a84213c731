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

Two store round trips per plain turn: one load, one save. A turn that rings someone reads who
is away first (one more); a turn with effects writes their records and outbox items.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from ivr.engine.commands import Dial, Effect, Say
from ivr.engine.events import EVERYONE_IN, CallStarted, Event, Staff
from ivr.engine.step import NeedsStaff, step
from ivr.flows.messages import BUILT_IN, CONNECTING
from ivr.flows.model import Flow
from ivr.stores.protocols import BoardMove, Store, StoreUnavailable
from ivr.web import board, documents, effects
from ivr.web.call_record import CallRecord, UnreadableRecord
from ivr.web.registry import FlowRegistry

log = logging.getLogger("ivr.calls")
CALL_TTL_SECONDS = 4 * 3600
# After the status callback a call's record keeps only where it ended, for this long: enough
# for Twilio's late retries, none of what the caller keyed.
ENDED_TTL_SECONDS = 600
SAVE_ATTEMPTS = 3
# A store that failed slowly (a timeout) is left alone for a moment: the next turns get the
# apology at once instead of each waiting out the same timeout.
SLOW_FAILURE_SECONDS = 0.1
STORE_PAUSE_SECONDS = 1.0
ERROR_OUTCOMES = frozenset({"store-unavailable", "store-paused", "bad-record", "flow-version-gone", "no-flow"})
LAST_ANSWERED = "staff:last-answered"
LAST_ANSWERED_TTL = 30 * 24 * 3600
APOLOGY = (
    Say(BUILT_IN["apology"]["en"], "Polly.Joanna", "en-US"),
    Say(BUILT_IN["apology"]["es"], "Polly.Lupe", "es-US"),
)
APOLOGY_NO_PERSON = (  # without a fallback number: no promise of a person
    Say(BUILT_IN["apology_no_person"]["en"], "Polly.Joanna", "en-US"),
    Say(BUILT_IN["apology_no_person"]["es"], "Polly.Lupe", "es-US"),
)


def apology_says(fallback_number: str | None) -> tuple[Say, ...]:
    """Sorry in both languages, then what happens next: a person (the fallback number) or call again."""
    if not fallback_number:
        return APOLOGY_NO_PERSON
    return tuple(Say(f"{say.text} {CONNECTING[lang]}", say.voice, say.language)
                 for say, lang in zip(APOLOGY, ("en", "es"), strict=True))


def apology_document(fallback_number: str | None) -> str:
    """The safe route's TwiML: sorry in both languages, then the main line (or goodbye)."""
    return documents.apology(apology_says(fallback_number), fallback_number)


_LINE = msgspec.json.Encoder()  # the turn's log line: the same JSON as json.dumps's compact form, 10x faster


class StderrLines(logging.StreamHandler):
    """The service's own handler for the `ivr` loggers: lines to stderr, as logging would write them.

    While it is the only handler a turn's line would reach, `_log_line` writes to it directly:
    a record, a formatter and the lookups in between cost about 20 us of a turn's CPU.
    """


def _log_line(level: int, line: str) -> None:
    handler = _only_handler()
    if handler is None:
        log.log(level, line)
    elif log.isEnabledFor(level) and level >= handler.level:
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        text = f"{stamp},{int(now * 1000) % 1000:03d} {logging.getLevelName(level)} {log.name} {line}\n"
        with handler.lock or nullcontext():
            handler.stream.write(text)
            handler.flush()


def _only_handler() -> StderrLines | None:
    """The service's own handler, when it is the only place the turn's log line would go."""
    parent = log.parent
    if log.handlers or log.filters or not log.propagate or parent is None or parent.name != "ivr":
        return None
    if len(parent.handlers) != 1 or parent.filters or (parent.propagate and logging.getLogger().handlers):
        return None
    handler = parent.handlers[0]
    return handler if isinstance(handler, StderrLines) and not handler.filters else None


def utc_now() -> datetime:
    """The wall clock, as an aware datetime."""
    return datetime.now(UTC)


class CallService:
    """Answers Twilio's webhooks for calls, whatever goes wrong underneath.

    `clock` gives the wall time (aware) events and records carry; `monotonic` the seconds the
    store pause counts. Both are injectable so tests never wait.
    """

    def __init__(self, registry: FlowRegistry, store: Store, flow_id: str,
                 fallback_number: str | None = None, settings: dict | None = None, *,
                 clock: Callable[[], datetime] = utc_now, monotonic: Callable[[], float] = time.monotonic):
        self.registry = registry
        self.settings = settings or {}
        self.store = store
        self.flow_id = flow_id
        self.fallback_number = fallback_number
        self.clock = clock
        self.monotonic = monotonic
        self._store_paused_until = float("-inf")
        self._apology = apology_document(fallback_number)

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
        fields: dict = {"call": call_sid, "event": type(event).__name__, "turn": turn}
        try:
            if self.monotonic() < self._store_paused_until:
                fields["outcome"] = "store-paused"
                twiml = self.apology()
            else:
                twiml = self._serve(call_sid, turn, event, fields)
        except UnreadableRecord as exc:  # kept as it is, for whoever can read it
            fields["outcome"] = "bad-record"
            fields["why"] = exc.why
            twiml = self.apology()
        except StoreUnavailable:
            fields["outcome"] = "store-unavailable"
            if time.perf_counter() - began >= SLOW_FAILURE_SECONDS:
                self._store_paused_until = self.monotonic() + STORE_PAUSE_SECONDS
            twiml = self.apology()
        except Exception as exc:  # the caller must never hear an application error
            fields["outcome"] = "error"
            fields["error"] = type(exc).__name__
            # Where only (file, line, function): a message or source line may quote caller input.
            fields["where"] = [f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                               for f in traceback.extract_tb(exc.__traceback__)[-4:]]
            twiml = self.apology()
        fields["ms"] = round((time.perf_counter() - began) * 1000, 2)
        level = logging.ERROR if "error" in fields or fields.get("outcome") in ERROR_OUTCOMES else logging.INFO
        _log_line(level, _LINE.encode(fields).decode())
        return twiml

    def _serve(self, call_sid: str, turn: int | None, event: Event, fields: dict) -> str:
        for _ in range(SAVE_ATTEMPTS):
            blob, version = self.store.load(call_sid)
            record = CallRecord.unpack(blob) if blob is not None else None
            if record is None and turn is not None:
                fields["outcome"] = "no-call-state"
                return self.apology()
            if record is not None and not _fresh(record, turn):
                if turn == record.answered or (turn is None and record.answered == -1):
                    fields["outcome"] = "replayed"  # Twilio retrying the request last answered
                    return record.twiml
                # An older turn, or a turn of an ended call: never repeat a prompt (read-backs hold
                # member ids and dates of birth).
                fields["outcome"] = "stale-turn"
                return documents.HANGUP if record.state.ended else self.apology()
            flow = self._flow(record)
            if flow is None:  # the version the call started on is gone: a person, not another version
                fields["outcome"] = "no-flow" if record is None else "flow-version-gone"
                return self.apology()
            prior = record.state if record else None
            try:
                state, commands, happened = step(flow, prior, replace(event, staff=None))
            except NeedsStaff:  # a transfer: who is away now, read fresh for this turn only
                state, commands, happened = step(flow, prior, replace(event, staff=self.staff()))
            twiml = documents.turn(commands, state.turn)
            dial = next((c for c in commands if isinstance(c, Dial)), None)
            new = CallRecord(state, -1 if turn is None else turn, twiml, dial.whisper if dial else (),
                             dial.details if dial else ())
            # Effects first, keyed by call and turn: a lost race or a retry keeps one record.
            now = self.clock().timestamp()
            effects.perform(self.store, call_sid, [c for c in commands if isinstance(c, Effect)], now,
                            caller=state.answers.get("caller_id") or None, settings=self.settings, flow=flow)
            moved = board.move(flow, prior, state, now)  # on the desk's board
            if self.store.save(call_sid, new.pack(), version, CALL_TTL_SECONDS, moved):
                fields.update(flow=flow.id, version=flow.version, node=state.node, outcome="ok",
                              ended=state.ended or None, did=[h.brief() for h in happened] or None)
                return twiml
        fields["outcome"] = "conflict"
        return self.apology()

    def _flow(self, record: CallRecord | None) -> Flow | None:
        if record is None:
            return self.registry.get(self.flow_id)
        state = record.state
        return self.registry.get(state.flow, state.flow_version)

    def staff(self) -> Staff:
        """Who is away and who last took a call, as the store says now (an availability change
        applies to the next transfer on every worker)."""
        try:
            away = frozenset(name for name, (available, _) in self.store.availability().items() if not available)
            return Staff(away, tuple(sorted(self._last_answered().items())))
        except StoreUnavailable:
            return EVERYONE_IN  # the teams file's active members; the turn itself will find out about the store

    def _last_answered(self) -> dict[str, float]:
        blob = self.store.get_value(LAST_ANSWERED)
        try:
            return {str(k): float(v) for k, v in json.loads(blob).items()} if blob else {}
        except (ValueError, AttributeError):
            return {}

    def accept(self, member_phone: str, digits: str, parent_sid: str | None = None, turn: int | None = None) -> str:
        """A coordinator's key after the whisper: 1 takes the call (and sends them to the back of
        the line for teams that hunt), hearing the transfer's details first; anything else declines
        this leg."""
        if digits != "1":
            return documents.DECLINE
        try:
            known = self._last_answered()
            known[member_phone] = self.clock().timestamp()
            self.store.put_value(LAST_ANSWERED, json.dumps(known).encode(), LAST_ANSWERED_TTL)
        except StoreUnavailable:
            pass  # only the order of the next hunt suffers
        return documents.accept(True, self._details(parent_sid, turn, member_phone))

    def _details(self, parent_sid: str | None, turn: int | None, member_phone: str) -> Say | None:
        """The details of the transfer a coordinator just accepted, in their language (None when there are none)."""
        if parent_sid is None or turn is None:
            return None
        try:
            blob, _ = self.store.load(parent_sid)
            record = CallRecord.unpack(blob) if blob is not None else None
            if record is None or record.state.turn != turn or not record.details:
                return None
            return self._to_member(record, record.details, member_phone)
        except Exception as exc:  # the details are lost, not the call: bridge without them
            log.error(json.dumps({"call": parent_sid, "event": "Accept", "error": type(exc).__name__}))
            return None

    def whisper(self, parent_sid: str, turn: int, member_phone: str) -> str:
        """The coordinator's leg: who is calling and why, then press 1 to accept."""
        try:
            blob, _ = self.store.load(parent_sid)
            record = CallRecord.unpack(blob) if blob is not None else None
            if record is None or record.state.turn != turn or not record.whisper:
                return documents.DECLINE
            return documents.whisper(self._to_member(record, record.whisper, member_phone), turn)
        except Exception as exc:  # a broken whisper declines this leg; the caller goes on ringing
            log.error(json.dumps({"call": parent_sid, "event": "Whisper", "error": type(exc).__name__}))
            return documents.DECLINE

    def _to_member(self, record: CallRecord, by_lang: tuple[tuple[str, str], ...], member_phone: str) -> Say:
        """Text of a transfer for the coordinator at `member_phone`, in their first language that it has."""
        flow = self._flow(record)
        texts = dict(by_lang)
        lang = self._member_language(flow, member_phone, texts) if flow is not None else next(iter(texts))
        voice = flow.voices[lang] if flow is not None else APOLOGY[0].voice
        language = flow.speech_languages[lang] if flow is not None else APOLOGY[0].language
        return Say(texts[lang], voice, language)

    @staticmethod
    def _member_language(flow: Flow, phone: str, texts: dict[str, str]) -> str:
        member = next((m for team in flow.teams.values() for m in team.members if m.phone == phone), None)
        spoken = [lang for lang in member.languages if lang in texts] if member is not None else []
        return spoken[0] if spoken else next(iter(texts))

    def ended(self, call_sid: str, status: str) -> None:
        """A status callback: note where the call ended (for drop-off counts) and mark it over.
        What the caller keyed (answers, an entry being read back) and the last document leave
        the store with the call: the record kept for late retries says only where it ended."""
        try:
            for _ in range(SAVE_ATTEMPTS):
                blob, version = self.store.load(call_sid)
                if blob is None:
                    return
                record = CallRecord.unpack(blob)
                state = record.state.copy()
                if not state.ended:
                    log.info(json.dumps({"call": call_sid, "event": "CallEnded", "status": status,
                                         "flow": state.flow, "node": state.node, "turns": state.turn},
                                        separators=(",", ":")))
                    state.ended = True
                state.answers, state.pending = {}, None
                ended = CallRecord(state, record.answered, documents.HANGUP)
                off = BoardMove(None, self.clock().timestamp())  # off the desk's board
                if self.store.save(call_sid, ended.pack(), version, ENDED_TTL_SECONDS, off):
                    return
        except (StoreUnavailable, ValueError) as exc:
            log.warning(json.dumps({"call": call_sid, "event": "CallEnded", "outcome": type(exc).__name__},
                                   separators=(",", ":")))


def _fresh(record: CallRecord, turn: int | None) -> bool:
    """True when a request answers the turn the call waits on."""
    return turn is not None and turn == record.state.turn and not record.state.ended
