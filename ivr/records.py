"""What a call leaves behind for people to act on: voicemails, callback and ride requests.

Saving a record also puts it on the worklist (`ivr.stores.protocols.Worklist`) as new; the
worklist says who has it and how it ends (`claim`, `release`, `tried`, `close`, `purge`).

Each record is saved once, as JSON, in the call store's durable records under an id
the caller gives (the server uses `<CallSid>:<effect key>`, so a retried webhook
cannot file the same request twice); ids are opaque here. Saving never overwrites.
The record types are the actions' (`ivr.flows.actions`): each kind here is one an action leaves.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from collections.abc import Iterator, Mapping
from datetime import timezone, tzinfo
from typing import Any, Protocol, Union

import msgspec

from ivr.flows.actions import (ACTIONS, COMMON, CallbackRequest, Record, RecordError, RideRequest, Voicemail,
                               record_kind)
from ivr.stores.protocols import (CLAIMED, CLOSED, NEW, OPEN_STATES, TRIED, RecordUpkeep, Records, WorkItem,
                                  Worklist)

__all__ = ["CSV_COLUMNS", "KINDS", "CallbackRequest", "Record", "RecordError", "RideRequest", "Voicemail", "WorkError",
           "claim", "close", "find", "from_dict", "from_json", "load", "load_all", "purge", "ref_of", "reindex",
           "release", "save", "to_csv_rows", "tried"]

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


class RecordStore(Records, Worklist, Protocol):
    """Where records and their place on the worklist are kept."""


def save(store: RecordStore, record: Record) -> bool:
    """Keep a record for good and put it on the worklist; True if it is new, False if one with
    its id exists (kept as it was; put on the worklist if a crash had left it off)."""
    new = store.add_record(record.id, record.kind, record.created_at, record.to_json())
    store.track(work_item(record))
    return new


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


# --- the worklist -------------------------------------------------------------------------

MAX_NOTE = 300  # characters in the note that closes a record
CHANGE_ATTEMPTS = 3


class WorkError(Exception):
    """A change the worklist refuses, saying why in words for the person who asked."""


def ref_of(record_id: str) -> str:
    """The opaque id a record goes by in URLs: nothing of the call, the caller or the kind in it."""
    return hashlib.sha256(record_id.encode()).hexdigest()[:20]


def work_item(record: Record) -> WorkItem:
    """A new record's place on the worklist."""
    return WorkItem(id=record.id, ref=ref_of(record.id), kind=record.kind, team=record.team,
                    created_at=record.created_at, changed_at=record.created_at)


def find(store: Worklist, given: str) -> WorkItem:
    """The work item a full record id or a unique prefix of one names."""
    item = store.work_item(given)
    if item is not None:
        return item
    ids = store.work_ids(given, 2) if given else []
    if not ids:
        raise WorkError(f"no record {given!r}")
    if len(ids) > 1:
        raise WorkError(f"{given!r} is the start of several records' ids; give more of it")
    found = store.work_item(ids[0])
    if found is None:
        raise WorkError(f"no record {given!r}")
    return found


def _held_by_other(item: WorkItem, by: str) -> bool:
    return item.state == CLAIMED and item.by != by


def _refuse(item: WorkItem, by: str) -> None:
    if item.state == CLOSED:
        raise WorkError(f"already done by {item.by}")
    if _held_by_other(item, by):
        raise WorkError(f"already claimed by {item.by}")


def _claim(item: WorkItem, by: str, at: float, note: str) -> WorkItem | None:
    _refuse(item, by)
    if item.state == CLAIMED:
        return None  # theirs already
    return replace(item, state=CLAIMED, by=by, changed_at=at, version=item.version + 1)


def _release(item: WorkItem, by: str, at: float, note: str) -> WorkItem | None:
    _refuse(item, by)
    if item.state != CLAIMED:
        raise WorkError("not claimed")
    return replace(item, state=TRIED if item.attempts else NEW, by="", changed_at=at, version=item.version + 1)


def _tried(item: WorkItem, by: str, at: float, note: str) -> WorkItem | None:
    _refuse(item, by)
    return replace(item, state=TRIED, by=by, attempts=item.attempts + 1, changed_at=at, version=item.version + 1)


def _close(item: WorkItem, by: str, at: float, note: str) -> WorkItem | None:
    _refuse(item, by)
    note = " ".join(note.split())
    if not note:
        raise WorkError("say in a short note how it ended")
    if len(note) > MAX_NOTE:
        raise WorkError(f"the note is {len(note)} characters; at most {MAX_NOTE}")
    return replace(item, state=CLOSED, by=by, note=note, changed_at=at, version=item.version + 1)


def _change(store: Worklist, item: WorkItem, how, by: str, at: float, note: str = "") -> WorkItem:
    # A lost compare-and-set means someone changed the item first: judge again on what they left.
    for _ in range(CHANGE_ATTEMPTS):
        new = how(item, by, at, note)
        if new is None or store.update_work(item, new):
            return item if new is None else new
        latest = store.work_item(item.id)
        if latest is None:
            raise WorkError("no longer on the worklist")
        item = latest
    raise WorkError("changed by someone else meanwhile; look again")


def claim(store: Worklist, item: WorkItem, by: str, at: float) -> WorkItem:
    """Take a new or tried record: the team sees who has it. Refused if someone else has it."""
    return _change(store, item, _claim, by, at)


def release(store: Worklist, item: WorkItem, by: str, at: float) -> WorkItem:
    """Give a claimed record back to the team (new again, or tried if it was)."""
    return _change(store, item, _release, by, at)


def tried(store: Worklist, item: WorkItem, by: str, at: float) -> WorkItem:
    """The caller was tried and did not answer: one more attempt, and it stays open."""
    return _change(store, item, _tried, by, at)


def close(store: Worklist, item: WorkItem, by: str, at: float, note: str) -> WorkItem:
    """Done, with a short note saying how it ended."""
    return _change(store, item, _close, by, at, note)


def is_open(item: WorkItem) -> bool:
    """Whether a record still waits for someone."""
    return item.state in OPEN_STATES


class PurgeStore(Records, Worklist, RecordUpkeep, Protocol):
    """What purging needs."""


def purge(store: PurgeStore, before: float, batch: int = 500) -> list[WorkItem]:
    """Delete every done record whose call was before `before` (the record, then its work item,
    so a purge cut short finds the rest next time); the items purged."""
    purged: list[WorkItem] = []
    while True:
        items = store.work_items((CLOSED,), before=before, limit=batch)
        for item in items:
            store.delete_record(item.id, item.kind)
            if store.untrack(item):
                purged.append(item)
        if len(items) < batch:
            return purged


def reindex(store: RecordStore) -> int:
    """Put every record that is not on the worklist on it (records kept before there was one);
    how many were added."""
    added = 0
    for row in _every_row(store, None):
        added += store.track(work_item(_decode(row[0], row[3])))
    return added


def load_many(store: RecordUpkeep, record_ids: list[str]) -> dict[str, Record]:
    """The records among those ids that exist, read at once."""
    return {record_id: _decode(record_id, found[2]) for record_id, found in store.get_records(record_ids).items()}


def callback_number(record: Record) -> str:
    """The number to call the caller back at ("" when there is none)."""
    if isinstance(record, (CallbackRequest, Voicemail)):
        return record.number
    if isinstance(record, RideRequest):
        return str(record.fields.get("callback", ""))
    return ""
