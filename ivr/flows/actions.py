"""The built-in side effects an `action` node may request, each with everything it knows.

One class per action holds its parameters, the answers the engine saves when the action is
requested (book_ride's confirmation number), the durable record it leaves (a voicemail, a
callback or ride request; a text leaves none) and the outbox deliveries it asks for (texts,
ride hand-offs), all as pure data and functions, so the engine, the records, the outbox and
the web layer read one definition. Adding an action is a class here and a line in the docs.

The service saves an effect's record under `<CallSid>:<effect key>`, never overwriting one,
and enqueues its deliveries under that id plus a suffix (`:sms`, `:ride`), so a retried
webhook neither files nor sends anything twice.

Records are msgspec Structs, one tagged union on `kind`, encoded as JSON with sorted keys
(equal records give equal bytes). msgspec checks types only when it decodes, so a record
made in Python is checked against the same annotations when it is made.
"""

from __future__ import annotations

import hashlib
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta

from ivr.flows import sms

E164 = r"^\+[1-9][0-9]{1,14}$"
E164_RE = re.compile(E164)
E164_OR_EMPTY = r"^(\+[1-9][0-9]{1,14})?$"
SMS, RIDE = "sms", "ride"  # the kinds of outbox delivery
COMMON = ("kind", "id", "created_at", "team", "language", "summary")  # what every record has, in this order

_encode = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.Decoder().decode


class RecordError(ValueError):
    """A record that is malformed, or stored data that is not a record."""


# --- records ---------------------------------------------------------------------------


class Record(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """What every record has: who it is for (team), in which language, and what it is about."""

    id: Annotated[str, Meta(min_length=1)]
    created_at: float  # seconds since the epoch
    team: str = ""
    language: str = ""
    summary: str = ""

    def __post_init__(self) -> None:
        _check_types(self)
        if not math.isfinite(self.created_at):
            raise RecordError(f"created_at must be a finite epoch time, got {self.created_at!r}")

    @property
    def kind(self) -> str:
        """The record's kind, its JSON tag."""
        return record_kind(type(self))

    def to_dict(self) -> dict[str, Any]:
        """Every field, with the kind, as plain JSON-compatible values (the common ones first)."""
        data = msgspec.to_builtins(self)
        return {name: data.pop(name) for name in COMMON} | data

    def to_json(self) -> bytes:
        """The record as UTF-8 JSON (keys sorted, so equal records give equal bytes)."""
        return _encode(self)

    def when(self, zone: tzinfo = timezone.utc) -> datetime:
        """created_at as an aware datetime in a zone."""
        return datetime.fromtimestamp(self.created_at, zone)


def record_kind(cls: type[Record]) -> str:
    """The kind (JSON tag) of a record type."""
    return str(cls.__struct_config__.tag)


_SHAPES: dict[type, Any] = {}


def _check_types(record: Record) -> None:
    # The record's annotations as a plain Struct (no __post_init__), which msgspec.convert checks.
    cls = type(record)
    shape = _SHAPES.get(cls)
    if shape is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        shape = _SHAPES[cls] = msgspec.defstruct(
            f"{cls.__name__}Fields", [(name, hints[name]) for name in cls.__struct_fields__], kw_only=True)
    values = msgspec.structs.asdict(record)
    try:
        checked = msgspec.convert(values, shape)
    except msgspec.ValidationError as exc:
        raise RecordError(f"{record.kind} record: {exc}") from None
    for name, value in values.items():
        new = getattr(checked, name)
        if new is not value:  # an int made a float, a mapping copied
            msgspec.structs.force_setattr(record, name, new)


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox item an action asks for: queued as `<CallSid>:<effect key>:<suffix>`, delivered by kind."""

    suffix: str
    kind: str  # SMS or RIDE
    payload: bytes


def sms_payload(to: str | None, body: str, lang: str, queued_at: float) -> bytes:
    """A text to send: to whom, what, in which language, and since when it may have gone."""
    return _encode({"to": to or "", "body": body, "lang": lang, "queued_at": queued_at})


# --- actions ---------------------------------------------------------------------------


class Action:
    """One built-in action: what a flow gives it, and what requesting it leaves behind."""

    name: ClassVar[str]
    summary: ClassVar[str]
    required: ClassVar[frozenset[str]]
    optional: ClassVar[frozenset[str]] = frozenset()
    outputs: ClassVar[frozenset[str]] = frozenset()  # the names of the answers it saves
    record_type: ClassVar[type[Record] | None] = None  # the durable record it leaves, if any

    @property
    def allowed(self) -> frozenset[str]:
        """Every parameter name the action takes."""
        return self.required | self.optional

    def answers(self, call: str, key: str) -> dict[str, str]:
        """The answers the engine saves when it requests the action (known at once, and in the effect's params)."""
        return {}

    def record(self, record_id: str, params: Mapping[str, str], created_at: float, *,
               caller: str | None = None) -> Record | None:
        """The durable record the effect leaves, if any (`caller`: the number the call came from)."""
        return None

    def deliveries(self, params: Mapping[str, str], record: Record | None, *, caller: str | None, now: float,
                   settings: Mapping[str, Any]) -> tuple[Delivery, ...]:
        """What the effect sends through the outbox. `caller` is the caller's number, `settings` the
        outbox's (RIDES_WEBHOOK_URL, ...)."""
        return ()


class Voicemail(Record, frozen=True, kw_only=True, tag="voicemail"):
    """A message a caller recorded, and the number to call them back at (empty when withheld)."""

    recording_url: str
    duration: Annotated[int, Meta(ge=0)] = 0  # seconds
    number: Annotated[str, Meta(pattern=E164_OR_EMPTY)] = ""


class SaveVoicemail(Action):
    name = "save_voicemail"
    summary = "keep a voice message for a team, durably"
    required = frozenset({"team", "recording"})
    optional = frozenset({"duration", "summary"})
    record_type = Voicemail

    def record(self, record_id: str, params: Mapping[str, str], created_at: float, *,
               caller: str | None = None) -> Voicemail:
        """The message, keeping the number the caller called from, to call them back."""
        duration = params.get("duration", "")
        number = caller or ""
        return Voicemail(id=record_id, created_at=created_at, language=params.get("lang", ""),
                         summary=params.get("summary", ""), team=params["team"], recording_url=params["recording"],
                         duration=int(duration) if duration.isdecimal() else 0,
                         number=number if E164_RE.match(number) else "")


class CallbackRequest(Record, frozen=True, kw_only=True, tag="callback"):
    """A caller asking to be called back at a number."""

    number: Annotated[str, Meta(pattern=E164)]  # E.164, e.g. +16265550100


class RequestCallback(Action):
    name = "request_callback"
    summary = "ask a team to call the caller back, durably"
    required = frozenset({"team", "number"})
    optional = frozenset({"summary"})
    record_type = CallbackRequest

    def record(self, record_id: str, params: Mapping[str, str], created_at: float, *,
               caller: str | None = None) -> CallbackRequest:
        return CallbackRequest(id=record_id, created_at=created_at, language=params.get("lang", ""),
                               summary=params.get("summary", ""), team=params["team"], number=params["number"])


class RideRequest(Record, frozen=True, kw_only=True, tag="ride"):
    """A caller asking for a ride; what the flow collected (pickup, time, ...) is in `fields`."""

    fields: dict[str, Any] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        try:  # JSON values only: what JSON gives back unchanged (no NaN, no tuples, no other objects)
            same = _decode(_encode(self.fields)) == self.fields
        except (TypeError, ValueError, OverflowError, msgspec.MsgspecError):
            same = False
        if not same:
            raise RecordError("ride record: fields must hold JSON values only")  # values unshown: they are a member's


# What a ride request may carry besides its callback number, date and time (`text_sender` and `text_phone`:
# the name its text is signed with and the number it gives for changes).
RIDE_FIELDS = frozenset({
    "appt_ampm", "member_id", "dob", "pickup_zip", "mobility", "attendant", "pcs", "return_trip", "return_time",
    "address_recording", "address_seconds", "door_to_door", "summary", "health_plan", "no_other_way",
    "text_sender", "text_phone",
})


def ride_payload(record: RideRequest) -> bytes:
    """What the transportation desk receives: the ride request with every field it holds."""
    data = record.to_dict()
    data["confirmation"] = str(record.fields.get("confirmation", ""))
    return _encode(data)


class BookRide(Action):
    name = "book_ride"
    summary = "hand a ride request to the transportation desk"
    required = frozenset({"callback", "appt_date", "appt_time"})
    optional = RIDE_FIELDS
    outputs = frozenset({"confirmation"})
    record_type = RideRequest

    def answers(self, call: str, key: str) -> dict[str, str]:
        """An eight-digit confirmation number, the same for the same call and effect key."""
        digest = hashlib.sha256(f"{call}:{key}".encode()).hexdigest()
        return {"confirmation": str(int(digest, 16) % 90_000_000 + 10_000_000)}

    def record(self, record_id: str, params: Mapping[str, str], created_at: float, *,
               caller: str | None = None) -> RideRequest:
        fields = {name: value for name, value in params.items() if name not in ("lang", "summary")}
        return RideRequest(id=record_id, created_at=created_at, language=params.get("lang", ""),
                           summary=params.get("summary", ""), team="transportation", fields=fields)

    def deliveries(self, params: Mapping[str, str], record: Record | None, *, caller: str | None, now: float,
                   settings: Mapping[str, Any]) -> tuple[Delivery, ...]:
        """A text to the callback number; the hand-off to the desk when RIDES_WEBHOOK_URL is set."""
        if not isinstance(record, RideRequest):
            raise ValueError("book_ride needs its ride record")
        lang = params.get("lang", "")
        body = sms.ride_received(lang, params.get("appt_date", ""), params.get("appt_time", ""),
                                 params.get("appt_ampm"), params.get("confirmation", ""),
                                 sender=params.get("text_sender", ""), phone=params.get("text_phone", ""))
        text = Delivery("sms", SMS, sms_payload(params.get("callback"), body, lang, now))
        if settings.get("RIDES_WEBHOOK_URL"):
            return text, Delivery("ride", RIDE, ride_payload(record))
        return (text,)


class SendText(Action):
    name = "send_text"
    summary = "text the caller (or `to`) a message"
    required = frozenset({"body"})
    optional = frozenset({"to"})

    def deliveries(self, params: Mapping[str, str], record: Record | None, *, caller: str | None, now: float,
                   settings: Mapping[str, Any]) -> tuple[Delivery, ...]:
        """The text, to `to` or else the caller; it leaves no record."""
        to = params.get("to") or caller
        return (Delivery("sms", SMS, sms_payload(to, params.get("body", ""), params.get("lang", ""), now)),)


# The catalogue. Its order is the order of the record kinds and of their columns in a CSV export.
ACTIONS: dict[str, Action] = {
    action.name: action for action in (SaveVoicemail(), RequestCallback(), BookRide(), SendText())
}
