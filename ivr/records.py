"""What a call leaves behind for people to act on: voicemails, callback and ride requests.

Each record is saved once, as JSON, in the call store's durable records under an id
the caller gives (the server uses `<CallSid>:<effect key>`, so a retried webhook
cannot file the same request twice); ids are opaque here. Saving never overwrites.
The record types are the actions' (`ivr.flows.actions`): each kind here is one an action leaves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from datetime import timezone, tzinfo
from typing import Any, Union

import msgspec

from ivr.flows.actions import (ACTIONS, COMMON, CallbackRequest, Record, RecordError, RideRequest, Voicemail,
                               record_kind)
from ivr.stores.protocols import Records

__all__ = ["CSV_COLUMNS", "KINDS", "CallbackRequest", "Record", "RecordError", "RideRequest", "Voicemail",
           "from_dict", "from_json", "load", "load_all", "save", "to_csv_rows"]

KINDS: dict[str, type[Record]] = {
    record_kind(action.record_type): action.record_type for action in ACTIONS.values() if action.record_type
}
_ANY_RECORD: Any = Union[tuple(KINDS.values())]
_decoder = msgspec.json.Decoder(_ANY_RECORD)

# The columns of a CSV export, in order: the common ones, then each kind's own in the catalogue's order
# (a column a kind has no use for is left empty).
CSV_COLUMNS = ("id", "kind", "created_at", "team", "language", "summary", *dict.fromkeys(
    name for cls in KINDS.values() for name in cls.__struct_fields__ if name not in COMMON))

PAGE_SIZE = 500  # records fetched per store call when loading them all


def from_dict(data: Mapping[str, Any]) -> Record:
    """The record a dict (as to_dict makes) describes; keys it does not know are ignored."""
    try:
        return msgspec.convert(data, _ANY_RECORD)
    except msgspec.ValidationError as exc:
        raise RecordError(f"not a record: {exc}") from None


def from_json(blob: bytes | str) -> Record:
    """The record JSON (as to_json makes) describes."""
    try:
        return _decoder.decode(blob)
    except msgspec.DecodeError as exc:
        raise RecordError(f"not a record: {exc}") from None


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
    size, before, edge = PAGE_SIZE, None, None
    seen_at_edge: set[str] = set()
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
    (to the second, with the zone's offset), a mapping (a ride's fields) as a JSON object."""
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
        for name, value in msgspec.structs.asdict(record).items():
            if name not in COMMON:
                row[name] = _cell(value)
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
