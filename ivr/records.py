"""What a call leaves behind for people to act on: voicemails, callback and ride requests.

Each record is saved once, as JSON, in the call store's durable records under an id
the caller gives (the server uses `<CallSid>:<effect key>`, so a retried webhook
cannot file the same request twice); ids are opaque here. Saving never overwrites.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone, tzinfo
from typing import Any, ClassVar

from ivr.stores.protocols import Records

E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")

# The columns of a CSV export, in order; a column a kind has no use for is left empty.
CSV_COLUMNS = (
    "id", "kind", "created_at", "team", "language", "summary",
    "recording_url", "duration", "number", "fields",
)

PAGE_SIZE = 500  # records fetched per store call when loading them all


class RecordError(ValueError):
    """A record that is malformed, or stored data that is not a record."""


@dataclass(frozen=True, kw_only=True)
class Record:
    """What every record has: who it is for (team), in which language, and what it is about."""

    kind: ClassVar[str] = ""

    id: str
    created_at: float
    team: str = ""
    language: str = ""
    summary: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise RecordError(f"a record needs a non-empty id, got {self.id!r}")
        at = self.created_at
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
            raise RecordError(f"created_at must be a finite epoch time, got {at!r}")
        object.__setattr__(self, "created_at", float(at))
        for name in ("team", "language", "summary"):
            if not isinstance(getattr(self, name), str):
                raise RecordError(f"{name} must be a string, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """Every field, with the kind, as plain JSON-compatible values."""
        data: dict[str, Any] = {"kind": self.kind}
        for item in fields(self):
            value = getattr(self, item.name)
            data[item.name] = dict(value) if isinstance(value, dict) else value
        return data

    def to_json(self) -> bytes:
        """The record as UTF-8 JSON (keys sorted, so equal records give equal bytes)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()

    def when(self, zone: tzinfo = timezone.utc) -> datetime:
        """created_at as an aware datetime in a zone."""
        return datetime.fromtimestamp(self.created_at, zone)


@dataclass(frozen=True, kw_only=True)
class Voicemail(Record):
    """A message a caller recorded."""

    kind: ClassVar[str] = "voicemail"

    recording_url: str
    duration: int = 0  # seconds

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.recording_url, str):
            raise RecordError(f"recording_url must be a string, got {self.recording_url!r}")
        if isinstance(self.duration, bool) or not isinstance(self.duration, int) or self.duration < 0:
            raise RecordError(f"duration must be whole seconds, not negative, got {self.duration!r}")


@dataclass(frozen=True, kw_only=True)
class CallbackRequest(Record):
    """A caller asking to be called back at a number."""

    kind: ClassVar[str] = "callback"

    number: str  # E.164, e.g. +16265550100

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.number, str) or not E164_RE.match(self.number):
            raise RecordError(f"number must be in E.164 form (+ and up to 15 digits), got {self.number!r}")


@dataclass(frozen=True, kw_only=True)
class RideRequest(Record):
    """A caller asking for a ride; what the flow collected (pickup, time, ...) is in `fields`."""

    kind: ClassVar[str] = "ride"

    fields: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.fields, Mapping) or not all(isinstance(key, str) for key in self.fields):
            raise RecordError(f"fields must be a mapping with string keys, got {self.fields!r}")
        copied = dict(self.fields)
        try:
            json.dumps(copied, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise RecordError(f"fields must hold JSON values only: {exc}") from None
        object.__setattr__(self, "fields", copied)


KINDS: dict[str, type[Record]] = {cls.kind: cls for cls in (Voicemail, CallbackRequest, RideRequest)}


def from_dict(data: Mapping[str, Any]) -> Record:
    """The record a dict (as to_dict makes) describes; keys it does not know are ignored."""
    if not isinstance(data, Mapping):
        raise RecordError(f"a record is a JSON object, got {type(data).__name__}")
    cls = KINDS.get(data.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise RecordError(f"unknown record kind {data.get('kind')!r}; known: {', '.join(KINDS)}")
    known = {item.name for item in fields(cls)}
    try:
        return cls(**{key: value for key, value in data.items() if key in known})
    except TypeError as exc:  # a required field is missing
        raise RecordError(f"{cls.kind} record: {exc}") from None


def from_json(blob: bytes | str) -> Record:
    """The record JSON (as to_json makes) describes."""
    try:
        data = json.loads(blob)
    except ValueError as exc:
        raise RecordError(f"a record is JSON: {exc}") from None
    return from_dict(data)


def save(store: Records, record: Record) -> bool:
    """Keep a record for good; True if it is new, False if one with its id exists (kept as it was)."""
    return store.add_record(record.id, record.kind, record.created_at, record.to_json())


def load(store: Records, record_id: str) -> Record | None:
    """The record with an id, or None."""
    found = store.get_record(record_id)
    return None if found is None else _decode(record_id, found[2])


def load_all(store: Records, kind: str | None = None, limit: int | None = 100) -> list[Record]:
    """The newest records (of one kind, or all), newest first; limit None means every one."""
    if kind is not None and kind not in KINDS:
        raise RecordError(f"unknown record kind {kind!r}; known: {', '.join(KINDS)}")
    if limit is not None:
        return [_decode(row[0], row[3]) for row in store.list_records(kind, limit=limit)]
    return [_decode(row[0], row[3]) for row in _every_row(store, kind)]


def _every_row(store: Records, kind: str | None) -> Iterator[tuple[str, str, float, bytes]]:
    # Pages by time. Records can share a created_at, so each page after the first starts
    # at the last page's oldest time again (inclusive) and skips the ids already given;
    # should a whole page be such repeats, the next one is asked for twice as many.
    size, before, edge, seen_at_edge = PAGE_SIZE, None, None, set()
    while True:
        rows = store.list_records(kind, limit=size, before=before)
        fresh = [row for row in rows if not (row[2] == edge and row[0] in seen_at_edge)]
        yield from fresh
        if len(rows) < size:
            return
        if not fresh:
            size *= 2
            continue
        oldest = fresh[-1][2]
        if oldest != edge:
            edge, seen_at_edge = oldest, set()
        seen_at_edge.update(row[0] for row in fresh if row[2] == edge)
        before = math.nextafter(edge, math.inf)


def _decode(record_id: str, blob: bytes) -> Record:
    try:
        return from_json(blob)
    except RecordError as exc:
        raise RecordError(f"record {record_id!r}: {exc}") from None


def to_csv_rows(records: list[Record], zone: tzinfo = timezone.utc) -> list[dict[str, str]]:
    """One dict per record with exactly the CSV_COLUMNS, as strings: created_at in ISO 8601
    (to the second, with the zone's offset), a ride's fields as a JSON object."""
    rows = []
    for record in records:
        row = dict.fromkeys(CSV_COLUMNS, "")
        row.update(
            id=record.id,
            kind=record.kind,
            created_at=record.when(zone).isoformat(timespec="seconds"),
            team=record.team,
            language=record.language,
            summary=record.summary,
        )
        if isinstance(record, Voicemail):
            row.update(recording_url=record.recording_url, duration=str(record.duration))
        elif isinstance(record, CallbackRequest):
            row.update(number=record.number)
        elif isinstance(record, RideRequest):
            row.update(fields=json.dumps(record.fields, ensure_ascii=False, sort_keys=True))
        rows.append(row)
    return rows
