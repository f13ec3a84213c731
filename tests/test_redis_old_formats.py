"""What the previous release left in Redis stays usable: its records and outbox items, in every state.

Until the roles were split, records were "<length of kind>:<kind><created_at>:<blob>", an outbox
item "<length of kind>:<kind><payload>" and its meta "<state>:<attempts>:<due_at>:<length of
note>:<note><last error>" (ivr/store_redis.py at 0a08dac). The helpers below pack them as that code
did, and write the keys its scripts wrote; the store of today must read them all, and rewrite an
outbox item in today's layout, whole, the first time a script touches it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from ivr import records as rec
from ivr.stores.protocols import DEAD, DONE, PENDING, OutboxItem

pytestmark = pytest.mark.redis

T0 = 1_700_000_000.25


# -- the previous release's packing, as it was ------------------------------------------------

def old_pack_record(kind: str, created_at: float, blob: bytes) -> bytes:
    kind_bytes = kind.encode()
    return b"%d:%s%s:%s" % (len(kind_bytes), kind_bytes, repr(float(created_at)).encode(), blob)


def old_pack_item(kind: str, payload: bytes) -> bytes:
    kind_bytes = kind.encode()
    return b"%d:%s%s" % (len(kind_bytes), kind_bytes, payload)


def old_meta(state: str, attempts: int, due_at: float, note: str = "", error: str = "") -> bytes:
    """As its scripts wrote it: the note's length in bytes (Lua's string.len), then note and error."""
    note_bytes = note.encode()
    return b"%s:%d:%s:%d:%s%s" % (state.encode(), attempts, repr(float(due_at)).encode(), len(note_bytes),
                                  note_bytes, error.encode())


OLD_SETS = {PENDING: "due", DONE: "done", DEAD: "dead"}


@pytest.fixture
def store(redis_url) -> Iterator:
    from ivr.stores.redis import RedisStore

    prefix = f"ivrtest-{uuid.uuid4().hex}"
    store = RedisStore.from_url(redis_url, prefix=prefix)
    yield store
    keys = list(store.client.scan_iter(match=f"{prefix}:*"))
    if keys:
        store.client.delete(*keys)
    store.close()


def old_record(store, record_id: str, kind: str, created_at: float, blob: bytes) -> None:
    """What the previous release's add_record script wrote."""
    store.client.hset(store.records_key("data"), record_id, old_pack_record(kind, created_at, blob))
    store.client.zadd(store.records_key("time"), {record_id: created_at})
    store.client.zadd(store.records_key(f"kind:{kind}"), {record_id: created_at})


def old_item(store, item: OutboxItem) -> None:
    """An outbox item as the previous release's scripts left it in `item.state`."""
    store.client.hset(store.outbox_key("items"), item.id, old_pack_item(item.kind, item.payload))
    store.client.hset(store.outbox_key("meta"), item.id,
                      old_meta(item.state, item.attempts, item.due_at, item.note, item.last_error))
    store.client.zadd(store.outbox_key(OLD_SETS[item.state]), {item.id: item.due_at})


def voicemail(n: int, created_at: float) -> rec.Voicemail:
    return rec.Voicemail(id=f"CA{n:032x}:support-line:voicemail:4:2", created_at=created_at, team="coordinators",
                         language="es", summary="Necesito un viaje: martes, 10:30", recording_url="https://x/RE1",
                         duration=17)


# -- records ------------------------------------------------------------------------------------

def test_old_records_read_as_new_ones_beside_new_ones(store):
    old_a, old_b, new = voicemail(1, T0), voicemail(2, T0 + 20), voicemail(3, T0 + 10)
    old_record(store, old_a.id, old_a.kind, old_a.created_at, old_a.to_json())
    old_record(store, old_b.id, old_b.kind, old_b.created_at, old_b.to_json())
    assert rec.save(store, new)

    assert rec.load(store, old_a.id) == old_a
    assert store.get_record(old_b.id) == ("voicemail", T0 + 20, old_b.to_json())
    assert rec.load_all(store) == [old_b, new, old_a]
    assert rec.load_all(store, "voicemail", limit=2) == [old_b, new]
    assert [r[0] for r in store.list_records(before=T0 + 20)] == [new.id, old_a.id]
    assert not rec.save(store, old_a)  # the id stays taken, the old value as it was
    assert store.client.hget(store.records_key("data"), old_a.id).startswith(b"9:voicemail")


@pytest.mark.parametrize("kind, blob", [("ride", b""), ("kind:with:colons", b"12:34:\x00\xff{not json"),
                                        ("\u00f1", "caf\u00e9 \u2603".encode())])
def test_old_records_with_any_kind_and_blob(store, kind, blob):
    old_record(store, "r1", kind, T0, blob)
    assert store.get_record("r1") == (kind, T0, blob)
    assert store.list_records(kind) == [("r1", kind, T0, blob)]


# -- the outbox ---------------------------------------------------------------------------------

def stored_forms(store, item_id: str) -> tuple[bytes, bytes]:
    return (store.client.hget(store.outbox_key("items"), item_id), store.client.hget(store.outbox_key("meta"), item_id))


def assert_new_layout(store, item: OutboxItem) -> None:
    payload, meta = stored_forms(store, item.id)
    assert payload == item.payload
    assert json.loads(meta) == {"kind": item.kind, "state": item.state, "attempts": item.attempts,
                                "due_at": repr(item.due_at), "note": item.note, "last_error": item.last_error}


FRESH = OutboxItem("CA1:sms", "sms", b'{"to": "+16265550100", "body": "10:30"}', 0, PENDING, T0)
TRIED = OutboxItem("CA2:ride", "ride", b"7:binary\x00:payload", 2, PENDING, T0 + 5, "",
                   "HTTP 503: desk: down \u2014 retry")
SENT = OutboxItem("CA3:sms", "sms", b"{}", 1, DONE, T0 - 60, "SM\u00e9:123:abc", "an earlier: error")
GAVE_UP = OutboxItem("CA4:sms", "sms", b"", 5, DEAD, T0 - 30, "", "HTTP 400: invalid number")
OLD_ITEMS = [FRESH, TRIED, SENT, GAVE_UP]


@pytest.fixture
def old_outbox(store):
    for item in OLD_ITEMS:
        old_item(store, item)
    return store


def test_old_items_are_listed_in_every_state(old_outbox):
    assert old_outbox.outbox() == sorted(OLD_ITEMS, key=lambda item: (item.due_at, item.id))
    assert old_outbox.outbox(DEAD) == [GAVE_UP]
    assert old_outbox.outbox() == sorted(OLD_ITEMS, key=lambda item: (item.due_at, item.id))  # again: same
    for item in OLD_ITEMS:
        assert_new_layout(old_outbox, item)


def test_old_pending_items_are_claimed_whole_and_then_kept_in_the_new_layout(old_outbox):
    store = old_outbox
    new = OutboxItem("CA5:sms", "sms", b"new", 0, PENDING, T0 + 1)
    assert store.enqueue(new.id, new.kind, new.payload, new.due_at)
    claimed = store.claim(T0 + 10, 60, 10)
    leased = T0 + 10 + 60
    assert claimed == [OutboxItem(FRESH.id, "sms", FRESH.payload, 1, PENDING, leased),
                       OutboxItem(new.id, "sms", b"new", 1, PENDING, leased),
                       OutboxItem(TRIED.id, "ride", TRIED.payload, 3, PENDING, leased, "", TRIED.last_error)]
    for item in claimed:
        assert_new_layout(store, item)
    assert store.claim(T0 + 10, 60, 10) == []  # leased: not claimed twice


def test_each_change_of_an_old_item_converts_it_in_the_same_script(store):
    for item in OLD_ITEMS:
        old_item(store, item)
    assert store.complete(FRESH.id, "SM1")
    assert store.retry(TRIED.id, T0 + 100, "again: timeout", attempt=2)
    assert not store.retry(TRIED.id, T0 + 200, "a stale attempt", attempt=1)
    assert store.requeue(GAVE_UP.id, T0 + 50)
    assert not store.complete(SENT.id, "a second note")  # done already: its first note is kept

    expected = [
        OutboxItem(FRESH.id, "sms", FRESH.payload, 0, DONE, T0, "SM1"),
        OutboxItem(TRIED.id, "ride", TRIED.payload, 2, PENDING, T0 + 100, "", "again: timeout"),
        SENT,
        OutboxItem(GAVE_UP.id, "sms", b"", 0, PENDING, T0 + 50, "", GAVE_UP.last_error),
    ]
    for item in expected:
        assert_new_layout(store, item)
    assert store.outbox() == sorted(expected, key=lambda item: (item.due_at, item.id))
    assert store.give_up(GAVE_UP.id, "no such number")
    assert store.outbox(DEAD) == [OutboxItem(GAVE_UP.id, "sms", b"", 0, DEAD, T0 + 50, "", "no such number")]


def test_old_done_and_dead_items_are_purged(old_outbox):
    store = old_outbox
    assert store.purge(DONE, T0, 10) == 1
    assert store.purge(DEAD, T0, 10) == 1
    assert [item.id for item in store.outbox()] == [FRESH.id, TRIED.id]
    for gone in (SENT, GAVE_UP):
        assert stored_forms(store, gone.id) == (None, None)


def test_an_old_meta_without_its_item_or_beyond_reading_counts_as_unknown(store):
    store.client.hset(store.outbox_key("meta"), "orphan", old_meta(PENDING, 0, T0))
    store.client.zadd(store.outbox_key("due"), {"orphan": T0})
    store.client.hset(store.outbox_key("items"), "garbled", old_pack_item("sms", b"x"))
    store.client.hset(store.outbox_key("meta"), "garbled", b"not a meta at all")
    store.client.zadd(store.outbox_key("due"), {"garbled": T0})
    assert store.claim(T0, 60, 10) == []
    assert not store.complete("garbled")
    assert store.client.zcard(store.outbox_key("due")) == 0  # dropped from the queue, as a broken item always was
