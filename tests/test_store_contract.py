"""One contract for every call-state store (SQLite and Redis), plus what only one of them does."""

from __future__ import annotations

import logging

import base64
import json
import math
import multiprocessing
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from twilio_sim import FakeClock

from ivr.stores.protocols import (
    Availability,
    BoardMove,
    CallStates,
    Outbox,
    OutboxItem,
    Records,
    SharedValues,
    Store,
    StoreUnavailable,
)
from ivr.stores.sqlite import SqliteStore

TTL = 60
T0 = 1_700_000_000.25


@dataclass
class Backend:
    """A store under test, with the means to let its records expire."""

    name: str
    store: Store
    new_sid: Callable[[], str]
    expire: Callable[[float], None]
    make_twin: Callable[[], Store] | None = None
    sids: list[str] = field(default_factory=list)


def _sid_factory(sids: list[str]) -> Callable[[], str]:
    def new_sid() -> str:
        sid = f"CA{uuid.uuid4().hex}"
        sids.append(sid)
        return sid

    return new_sid


@pytest.fixture
def sqlite_backend(tmp_path) -> Iterator[Backend]:
    clock = FakeClock(1_700_000_000.0)
    path = str(tmp_path / "instance" / "ivr.sqlite3")
    stores = [SqliteStore(path, clock=clock)]

    def twin() -> SqliteStore:
        stores.append(SqliteStore(path, clock=clock))
        return stores[-1]

    sids: list[str] = []
    yield Backend("sqlite", stores[0], _sid_factory(sids), clock.advance, twin, sids)
    for store in stores:
        store.close()


@pytest.fixture
def redis_backend(redis_url) -> Iterator[Backend]:
    from ivr.stores.redis import RedisStore

    store = RedisStore.from_url(redis_url)
    sids: list[str] = []

    def expire(seconds: float) -> None:
        # Time passes for this test's keys alone, without waiting for it: each one's PTTL (as
        # the store set it) drops by `seconds`, and a key whose time is up goes, as Redis would
        # let it go. A key the store left without an expiry (PTTL -1) stays.
        for key in [store.key(sid) for sid in sids] + [store.value_key(sid) for sid in sids]:
            left = store.client.pttl(key)
            if left < 0:
                continue
            if left <= seconds * 1000:
                store.client.delete(key)
            else:
                store.client.pexpire(key, left - round(seconds * 1000))

    yield Backend("redis", store, _sid_factory(sids), expire, None, sids)
    # Remove only what this test created; the server may be shared.
    if sids:
        store.client.delete(*(store.key(sid) for sid in sids), *(store.value_key(sid) for sid in sids))
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


def _increment(store: Store, sid: str, times: int) -> int:
    """Add one to a counter `times` times with load + compare-and-set retries; return conflicts."""
    conflicts = 0
    for _ in range(times):
        while True:
            blob, version = store.load(sid)
            count = int(blob) if blob is not None else 0
            if store.save(sid, str(count + 1).encode(), version, TTL):
                break
            conflicts += 1
    return conflicts


# --- the contract ---------------------------------------------------------------------


def test_absent_is_version_zero(backend):
    assert backend.store.load(backend.new_sid()) == (None, 0)


def test_round_trip(backend):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, b'{"node": "greeting"}', 0, TTL) is True
    assert store.load(sid) == (b'{"node": "greeting"}', 1)
    assert store.save(sid, b'{"node": "menu"}', 1, TTL) is True
    assert store.load(sid) == (b'{"node": "menu"}', 2)


@pytest.mark.parametrize(
    "blob", [b"", b"7:not a version", b"\x00\xff:\x00binary\n", "caf\u00e9 \u20ac".encode() * 500]
)
def test_blob_is_opaque(backend, blob):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, blob, 0, TTL)
    assert store.load(sid) == (blob, 1)


def test_calls_are_kept_apart(backend):
    store, first, second = backend.store, backend.new_sid(), backend.new_sid()
    assert store.save(first, b"one", 0, TTL)
    assert store.load(second) == (None, 0)
    assert store.save(second, b"two", 0, TTL)
    assert store.load(first) == (b"one", 1)


@pytest.mark.parametrize("stale", [0, 1, 3])
def test_compare_and_set_conflict(backend, stale):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, b"v1", 0, TTL)
    assert store.save(sid, b"v2", 1, TTL)
    assert store.save(sid, b"lost", stale, TTL) is False
    assert store.load(sid) == (b"v2", 2)


def test_absent_record_only_accepts_version_zero(backend):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, b"ghost", 1, TTL) is False
    assert store.load(sid) == (None, 0)


def test_second_save_of_the_same_version_loses(backend):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, b"a", 0, TTL)
    assert store.save(sid, b"b", 1, TTL)
    assert store.save(sid, b"c", 1, TTL) is False
    assert store.load(sid) == (b"b", 2)


def test_expired_record_is_absent(backend):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, b"short", 0, 0.5)
    assert store.load(sid) == (b"short", 1)
    backend.expire(0.55)
    assert store.load(sid) == (None, 0)
    # The old version is gone with it: a fresh call starts again at version 1.
    assert store.save(sid, b"stale", 1, TTL) is False
    assert store.save(sid, b"fresh", 0, TTL) is True
    assert store.load(sid) == (b"fresh", 1)


def test_each_save_refreshes_the_ttl(backend):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, b"a", 0, 1.0)
    backend.expire(0.6)
    assert store.save(sid, b"b", 1, 1.0)
    backend.expire(0.6)  # 1.2 s after the first save, 0.6 s after the second
    assert store.load(sid) == (b"b", 2)


def test_ttl_must_be_positive(backend):
    with pytest.raises(ValueError, match="ttl"):
        backend.store.save(backend.new_sid(), b"x", 0, 0)


def test_shared_values_round_trip_replace_and_expire(backend):
    store = backend.store
    name = f"test-{backend.new_sid()}"
    assert store.get_value(name) is None
    store.put_value(name, b"first", 0.5)
    store.put_value(name, b"second", 0.5)
    assert store.get_value(name) == b"second"
    backend.sids.append(name)  # for Redis: let its time pass, and clean it up with the call keys
    backend.expire(0.55)
    assert store.get_value(name) is None


def test_shared_values_without_expiry_are_kept_until_replaced(backend):
    store = backend.store
    name = f"test-{backend.new_sid()}"
    backend.sids.append(name)
    store.put_value(name, b"expiring", 0.5)
    store.put_value(name, b"kept", None)  # replaces the value and its expiry
    backend.expire(10 * 365 * 24 * 3600.0)
    assert store.get_value(name) == b"kept"
    store.put_value(name, b"expiring again", 0.5)
    backend.expire(0.55)
    assert store.get_value(name) is None


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), float("-inf")])
def test_a_shared_value_ttl_must_be_a_positive_number_or_none(backend, ttl):
    with pytest.raises(ValueError, match="ttl_seconds"):
        backend.store.put_value("never-written", b"x", ttl)
    assert backend.store.get_value("never-written") is None


def test_ping(backend):
    assert backend.store.ping() is True


def test_a_reachable_store_is_writable_and_the_check_leaves_no_call_data(backend):
    store = backend.store
    assert store.check_writable(1.0) is True
    assert store.check_writable(1.0) is True  # again, on the connection kept for it
    assert store.load("CAwritable") == (None, 0)


def test_only_one_racer_wins_each_version(backend):
    store, sid = backend.store, backend.new_sid()
    assert store.save(sid, b"start", 0, TTL)
    racers = 8
    barrier = threading.Barrier(racers)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race(n: int) -> None:
        try:
            blob, version = store.load(sid)
            barrier.wait()
            results.append(store.save(sid, f"racer {n}".encode(), version, TTL))
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results) == [False] * (racers - 1) + [True]
    blob, version = store.load(sid)
    assert version == 2
    assert blob.startswith(b"racer ")


def test_concurrent_increments_add_up(backend):
    store, sid = backend.store, backend.new_sid()
    workers, each = 8, 25
    errors: list[BaseException] = []
    conflicts: list[int] = []

    def work() -> None:
        try:
            conflicts.append(_increment(store, sid, each))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.load(sid) == (str(workers * each).encode(), workers * each)


# --- unreachable backends -------------------------------------------------------------

# Every method of every role, with arguments a reachable store would accept.
EVERY_CALL = [
    ("load", ("CAunreachable",)),
    ("save", ("CAunreachable", b"x", 0, TTL)),
    ("put_value", ("unreachable", b"x", TTL)),
    ("get_value", ("unreachable",)),
    ("add_record", ("CAunreachable:voicemail", "voicemail", T0, b"x")),
    ("get_record", ("CAunreachable:voicemail",)),
    ("list_records", ()),
    ("set_availability", ("Ana", True, T0)),
    ("availability", ()),
    ("enqueue", ("a", "sms", b"", T0)),
    ("claim", (T0, 60, 1)),
    ("complete", ("a", "")),
    ("retry", ("a", T0, "e")),
    ("give_up", ("a", "e")),
    ("requeue", ("a", T0)),
    ("purge", ("done", T0, 10)),
    ("outbox", ()),
]


def test_the_unreachable_table_has_every_method_of_every_role():
    roles = (CallStates, SharedValues, Records, Availability, Outbox)
    methods = {name for role in roles for name in vars(role) if not name.startswith("_")}
    assert {method for method, _ in EVERY_CALL} == methods


@pytest.fixture(params=["sqlite-unwritable-path", "sqlite-corrupt-file", "redis-closed-port"])
def unreachable(request, tmp_path) -> Iterator[Store]:
    """A store whose backend cannot be used."""
    store: Store
    if request.param == "sqlite-unwritable-path":
        # A path below a regular file can be neither created nor opened, even by root.
        (tmp_path / "not-a-folder").write_text("")
        store = SqliteStore(str(tmp_path / "not-a-folder" / "ivr.sqlite3"))
    elif request.param == "sqlite-corrupt-file":
        path = tmp_path / "ivr.sqlite3"
        path.write_bytes(b"this is not a database" * 100)
        store = SqliteStore(str(path))
    else:
        from ivr.stores.redis import RedisStore

        store = RedisStore.from_url("redis://127.0.0.1:1/15")
    yield store
    store.close()


@pytest.mark.parametrize(("method", "args"), EVERY_CALL, ids=[method for method, _ in EVERY_CALL])
def test_every_method_of_an_unreachable_store_raises_store_unavailable_quickly(unreachable, method, args):
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        getattr(unreachable, method)(*args)
    assert time.monotonic() - started < 3


def test_an_unreachable_store_does_not_answer_ping_quickly(unreachable):
    started = time.monotonic()
    assert unreachable.ping() is False
    assert time.monotonic() - started < 3


def test_an_unreachable_store_is_not_writable_within_the_bound(unreachable):
    started = time.monotonic()
    assert unreachable.check_writable(0.5) is False
    assert time.monotonic() - started < 1


def test_redis_silent_server_is_not_writable_within_the_bound():
    from ivr.stores.redis import RedisStore

    with socket.socket() as silent:  # accepts connections, never answers: as a paused server
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        store = RedisStore.from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/15", socket_timeout=5)
        try:
            started = time.monotonic()
            assert store.check_writable(0.4) is False
            assert time.monotonic() - started < 0.4 + 0.2
        finally:
            store.close()


def test_redis_silent_server_times_out_quickly():
    from ivr.stores.redis import RedisStore

    # Accepts connections (the kernel's backlog does) but never answers a command.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/15", socket_timeout=0.2)
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.load("CAsilent")
            assert time.monotonic() - started < 2
        finally:
            store.close()


def test_redis_timed_out_command_is_not_tried_again():
    from ivr.stores.redis import RedisStore

    accepted = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        silent.settimeout(0.05)
        stop = threading.Event()

        def count_connections():
            while not stop.is_set():
                try:
                    accepted.append(silent.accept()[0])
                except OSError:
                    continue

        counter = threading.Thread(target=count_connections)
        counter.start()
        store = RedisStore.from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/15", socket_timeout=0.2)
        try:
            with pytest.raises(StoreUnavailable):
                store.load("CAsilent")
        finally:
            stop.set()
            counter.join()
            store.close()
            for conn in accepted:
                conn.close()
    assert len(accepted) == 1


# --- Redis only -----------------------------------------------------------------------


@pytest.mark.redis
def test_redis_key_has_the_call_hash_tag(redis_backend):
    store, sid = redis_backend.store, redis_backend.new_sid()
    assert store.key(sid) == f"ivr:{{{sid}}}:call"
    assert store.save(sid, b"state", 0, TTL)
    assert store.client.get(f"ivr:{{{sid}}}:call") == b"1:state"
    assert store.client.type(store.key(sid)) == b"string"


@pytest.mark.redis
def test_redis_ttl_is_set_and_refreshed(redis_backend):
    store, sid = redis_backend.store, redis_backend.new_sid()
    assert store.save(sid, b"a", 0, 60)
    assert 0 < store.client.pttl(store.key(sid)) <= 60_000
    assert store.save(sid, b"b", 1, 3600)
    assert 60_000 < store.client.pttl(store.key(sid)) <= 3_600_000
    assert store.save(sid, b"c", 1, 3600) is False
    assert store.client.pttl(store.key(sid)) > 60_000


@pytest.mark.redis
def test_redis_shared_value_ttl_is_set_and_replaced(redis_backend):
    store, name = redis_backend.store, f"test-{redis_backend.new_sid()}"
    redis_backend.sids.append(name)
    store.put_value(name, b"a", 60)
    assert 0 < store.client.pttl(store.value_key(name)) <= 60_000
    store.put_value(name, b"b", 3600)
    assert 60_000 < store.client.pttl(store.value_key(name)) <= 3_600_000


@pytest.mark.redis
def test_redis_shared_value_without_expiry_is_a_key_without_one(redis_backend):
    store, name = redis_backend.store, f"test-{redis_backend.new_sid()}"
    redis_backend.sids.append(name)
    store.put_value(name, b"short", 60)
    store.put_value(name, b"kept", None)
    assert store.client.pttl(store.value_key(name)) == -1


@pytest.mark.redis
def test_redis_unparsable_value_counts_as_absent(redis_backend):
    store, sid = redis_backend.store, redis_backend.new_sid()
    store.client.set(store.key(sid), b"garbage", px=60_000)
    assert store.load(sid) == (None, 0)
    assert store.save(sid, b"fresh", 0, TTL)
    assert store.load(sid) == (b"fresh", 1)


@pytest.mark.redis
def test_redis_save_survives_a_server_that_forgot_its_scripts(redis_backend):
    store, sid = redis_backend.store, redis_backend.new_sid()
    assert store.save(sid, b"a", 0, TTL)
    store.client.script_flush()  # as after a restart without persistence
    assert store.save(sid, b"b", 1, TTL)
    assert store.save(sid, b"c", 1, TTL) is False
    assert store.load(sid) == (b"b", 2)


@pytest.mark.redis
def test_redis_turn_connection_reconnects_after_the_server_drops_it(redis_backend):
    store, sid = redis_backend.store, redis_backend.new_sid()
    assert store.save(sid, b"a", 0, TTL)
    store.client.client_kill_filter(_type="normal", skipme=True)  # every connection but this one
    assert store.load(sid) == (b"a", 1)
    store.client.client_kill_filter(_type="normal", skipme=True)
    assert store.save(sid, b"b", 1, TTL)


@pytest.mark.redis
def test_redis_threads_each_use_their_own_turn_connection(redis_backend):
    store = redis_backend.store
    sids = [redis_backend.new_sid() for _ in range(8)]

    def play(sid):
        for version in range(25):
            assert store.load(sid) == ((b"%d" % version if version else None), version)
            assert store.save(sid, b"%d" % (version + 1), version, TTL)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(play, sids))
    assert all(store.load(sid) == (b"25", 25) for sid in sids)


@pytest.mark.redis
def test_redis_forked_worker_opens_its_own_turn_connection(redis_backend):
    store, sid = redis_backend.store, redis_backend.new_sid()
    assert store.save(sid, b"parent", 0, TTL)
    pid = os.fork()
    if pid == 0:  # as a gunicorn worker forked from a master that had used the store
        ok = store.load(sid) == (b"parent", 1) and store.save(sid, b"child", 1, TTL)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.load(sid) == (b"child", 2)


# --- SQLite only ----------------------------------------------------------------------


def test_sqlite_two_stores_on_one_file_share_state(sqlite_backend):
    # As two gunicorn workers would: separate objects, separate connections, one file.
    first, second, sid = sqlite_backend.store, sqlite_backend.make_twin(), sqlite_backend.new_sid()
    assert first.save(sid, b"from first", 0, TTL)
    assert second.load(sid) == (b"from first", 1)
    assert second.save(sid, b"from second", 1, TTL)
    assert first.load(sid) == (b"from second", 2)
    assert first.save(sid, b"stale", 1, TTL) is False


def test_sqlite_uses_wal_and_a_busy_timeout(sqlite_backend):
    store = sqlite_backend.store
    assert store.ping()
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_sqlite_expired_rows_are_purged_when_a_call_starts(sqlite_backend):
    store = sqlite_backend.store
    old = [sqlite_backend.new_sid() for _ in range(3)]
    for sid in old:
        assert store.save(sid, b"old", 0, 10)
    sqlite_backend.expire(11)
    assert store.save(sqlite_backend.new_sid(), b"new", 0, 10)
    rows = store._connection().execute("SELECT call_sid FROM ivr_call").fetchall()
    assert [sid for (sid,) in rows if sid in old] == []
    assert len(rows) == 1


def test_sqlite_opens_nothing_until_used(tmp_path):
    store = SqliteStore(str(tmp_path / "later" / "ivr.sqlite3"))
    assert not (tmp_path / "later").exists()
    assert store.ping()
    assert (tmp_path / "later" / "ivr.sqlite3").exists()
    store.close()


def test_sqlite_each_thread_has_its_own_connection(sqlite_backend):
    store = sqlite_backend.store
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(store._connection()))
    thread.start()
    thread.join()
    assert seen[0] is not store._connection()
    assert store._connection() is store._connection()


def test_sqlite_connections_of_finished_threads_are_closed(sqlite_backend):
    store = sqlite_backend.store
    for _ in range(5):
        thread = threading.Thread(target=store.ping)
        thread.start()
        thread.join()
    store.ping()  # a new connection for this thread sweeps up the dead threads' ones
    assert len(store._conns.by_thread) == 1


def test_sqlite_after_fork_the_parents_connection_is_left_alone(sqlite_backend, monkeypatch):
    store, sid = sqlite_backend.store, sqlite_backend.new_sid()
    assert store.save(sid, b"parent", 0, TTL)
    parent_conn = store._connection()

    import ivr.stores.sqlite

    real_pid = os.getpid()
    monkeypatch.setattr(ivr.stores.sqlite.os, "getpid", lambda: real_pid + 1)
    child_conn = store._connection()
    assert child_conn is not parent_conn
    assert store.load(sid) == (b"parent", 1)
    parent_conn.execute("SELECT 1")  # not closed by the "child"
    store.close()  # closes the "child's" connections only
    parent_conn.execute("SELECT 1")
    monkeypatch.undo()
    parent_conn.close()


def _process_worker(path: str, sid: str, times: int) -> None:
    store = SqliteStore(path)
    try:
        _increment(store, sid, times)
    finally:
        store.close()


@pytest.mark.parametrize("parent_first", [True, False], ids=["parent-opened", "fresh-file"])
def test_sqlite_worker_processes_add_up(tmp_path, parent_first):
    path = str(tmp_path / "ivr.sqlite3")
    sid = "CAprocesses"
    store = SqliteStore(path)
    if parent_first:
        assert store.save(sid, b"0", 0, TTL)  # the parent opens the file first, as a master might
    processes, each = 3, 20
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_process_worker, args=(path, sid, each)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    try:
        assert [worker.exitcode for worker in workers] == [0] * processes
        total = processes * each
        assert store.load(sid) == (str(total).encode(), total + 1 if parent_first else total)
    finally:
        store.close()


# --- durable records and availability: the contract -----------------------------------


@dataclass
class RecordBackend:
    """A store under test for records, with the means to close it and open it again."""

    name: str
    store: Store
    reopen: Callable[[], Store]


@pytest.fixture
def records_sqlite(tmp_path) -> Iterator[RecordBackend]:
    path = str(tmp_path / "instance" / "ivr.sqlite3")
    stores = [SqliteStore(path)]

    def reopen() -> SqliteStore:
        stores[-1].close()
        stores.append(SqliteStore(path))
        backend.store = stores[-1]
        return stores[-1]

    backend = RecordBackend("sqlite", stores[0], reopen)
    yield backend
    for store in stores:
        store.close()


@pytest.fixture
def records_redis(redis_url) -> Iterator[RecordBackend]:
    from ivr.stores.redis import RedisStore

    # Records share fixed keys; a prefix of its own keeps this test's apart from anyone else's.
    prefix = f"ivrtest-{uuid.uuid4().hex}"
    stores = [RedisStore.from_url(redis_url, prefix=prefix)]

    def reopen() -> RedisStore:
        stores[-1].close()
        stores.append(RedisStore.from_url(redis_url, prefix=prefix))
        backend.store = stores[-1]
        return stores[-1]

    backend = RecordBackend("redis", stores[0], reopen)
    yield backend
    cleaner = stores[-1]
    keys = list(cleaner.client.scan_iter(match=f"{prefix}:*"))
    if keys:
        cleaner.client.delete(*keys)
    for store in stores:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def records_backend(request) -> RecordBackend:
    return request.getfixturevalue(f"records_{request.param}")



def test_record_round_trip(records_backend):
    store = records_backend.store
    assert store.add_record("CA1:voicemail", "voicemail", T0, b'{"summary": "hi"}') is True
    assert store.get_record("CA1:voicemail") == ("voicemail", T0, b'{"summary": "hi"}')


def test_missing_record_is_none(records_backend):
    assert records_backend.store.get_record("CAnothing:voicemail") is None


def test_adding_an_id_again_keeps_the_first(records_backend):
    store = records_backend.store
    assert store.add_record("CA1:callback", "callback", T0, b"first") is True
    assert store.add_record("CA1:callback", "voicemail", T0 + 9, b"second") is False
    assert store.get_record("CA1:callback") == ("callback", T0, b"first")
    assert store.list_records() == [("CA1:callback", "callback", T0, b"first")]
    assert store.list_records("voicemail") == []


@pytest.mark.parametrize(
    ("record_id", "kind", "blob"),
    [
        ("CA1:x", "voicemail", b""),
        ("id:with:colons", "kind:with:colons", b"12:not:a:length"),
        ("caf\u00e9 \u20ac", "\u00fcber kind", b"\x00\xff:\x00binary\n" * 300),
    ],
)
def test_record_ids_kinds_and_blobs_are_opaque(records_backend, record_id, kind, blob):
    store = records_backend.store
    assert store.add_record(record_id, kind, T0, blob)
    assert store.get_record(record_id) == (kind, T0, blob)
    assert store.list_records(kind) == [(record_id, kind, T0, blob)]


@pytest.mark.parametrize("created_at", [1_700_000_000.123456789, 0.1, 1e-300, -5.5, 1_700_000_000])
def test_created_at_comes_back_exactly(records_backend, created_at):
    store = records_backend.store
    assert store.add_record("r", "voicemail", created_at, b"x")
    kind, stored, _ = store.get_record("r")
    assert type(stored) is float and stored == created_at
    assert store.list_records()[0][2] == created_at


def _add_sample(store: Store) -> None:
    for record_id, kind, at in [
        ("a", "voicemail", T0 + 1),
        ("b", "callback", T0 + 2),
        ("c", "voicemail", T0 + 3),
        ("d", "ride", T0 + 4),
        ("e", "voicemail", T0 + 5),
    ]:
        assert store.add_record(record_id, kind, at, f"blob {record_id}".encode())


def _ids(rows: list[tuple[str, str, float, bytes]]) -> list[str]:
    return [row[0] for row in rows]


def test_list_is_newest_first_with_every_field(records_backend):
    store = records_backend.store
    _add_sample(store)
    rows = store.list_records()
    assert _ids(rows) == ["e", "d", "c", "b", "a"]
    assert rows[1] == ("d", "ride", T0 + 4, b"blob d")


def test_list_filters_by_kind(records_backend):
    store = records_backend.store
    _add_sample(store)
    assert _ids(store.list_records("voicemail")) == ["e", "c", "a"]
    assert _ids(store.list_records(kind="callback")) == ["b"]
    assert store.list_records("fax") == []


def test_list_limit(records_backend):
    store = records_backend.store
    _add_sample(store)
    assert _ids(store.list_records(limit=2)) == ["e", "d"]
    assert _ids(store.list_records("voicemail", limit=2)) == ["e", "c"]
    assert store.list_records(limit=0) == []
    assert _ids(store.list_records(limit=1000)) == ["e", "d", "c", "b", "a"]


def test_list_before_is_exclusive(records_backend):
    store = records_backend.store
    _add_sample(store)
    assert _ids(store.list_records(before=T0 + 4)) == ["c", "b", "a"]
    assert _ids(store.list_records(before=T0 + 4.5, limit=2)) == ["d", "c"]
    assert _ids(store.list_records("voicemail", before=T0 + 5)) == ["c", "a"]
    assert store.list_records(before=T0 + 1) == []
    assert _ids(store.list_records(before=float("inf"))) == ["e", "d", "c", "b", "a"]


def test_list_breaks_ties_by_greater_id_first(records_backend):
    store = records_backend.store
    for record_id in ["m", "z", "a"]:
        assert store.add_record(record_id, "voicemail", T0, b"")
    assert store.add_record("later", "voicemail", T0 + 1, b"")
    assert _ids(store.list_records()) == ["later", "z", "m", "a"]
    assert _ids(store.list_records(limit=2, before=T0 + 0.5)) == ["z", "m"]


@pytest.mark.parametrize(
    "args",
    [("", "voicemail", T0, b""), ("r", "", T0, b""), ("r", "voicemail", float("nan"), b""),
     ("r", "voicemail", float("inf"), b"")],
)
def test_bad_records_are_refused(records_backend, args):
    store = records_backend.store
    with pytest.raises(ValueError):
        store.add_record(*args)
    assert store.list_records() == []


@pytest.mark.parametrize("kwargs", [{"limit": -1}, {"before": float("nan")}])
def test_bad_list_arguments_are_refused(records_backend, kwargs):
    with pytest.raises(ValueError):
        records_backend.store.list_records(**kwargs)


def test_records_survive_closing_and_reopening(records_backend):
    store = records_backend.store
    _add_sample(store)
    store.set_availability("Ana", True, T0)
    reopened = records_backend.reopen()
    assert reopened is not store
    assert reopened.get_record("d") == ("ride", T0 + 4, b"blob d")
    assert _ids(reopened.list_records()) == ["e", "d", "c", "b", "a"]
    assert reopened.availability() == {"Ana": (True, T0)}
    assert reopened.add_record("d", "ride", T0, b"again") is False


def test_concurrent_adds_of_one_id_make_one_record(records_backend):
    store = records_backend.store
    racers = 8
    barrier = threading.Barrier(racers)
    results: dict[int, bool] = {}
    errors: list[BaseException] = []

    def race(n: int) -> None:
        try:
            barrier.wait()
            results[n] = store.add_record("CArace:voicemail", "voicemail", T0 + n, f"racer {n}".encode())
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    winners = [n for n, added in results.items() if added]
    assert len(results) == racers and len(winners) == 1
    (winner,) = winners
    assert store.get_record("CArace:voicemail") == ("voicemail", T0 + winner, f"racer {winner}".encode())
    assert store.list_records() == [("CArace:voicemail", "voicemail", T0 + winner, f"racer {winner}".encode())]


def test_availability_round_trip(records_backend):
    store = records_backend.store
    assert store.availability() == {}
    store.set_availability("Ana", True, T0)
    store.set_availability("Bo Li", False, T0 + 1)
    assert store.availability() == {"Ana": (True, T0), "Bo Li": (False, T0 + 1)}
    store.set_availability("Ana", False, T0 + 2)
    assert store.availability() == {"Ana": (False, T0 + 2), "Bo Li": (False, T0 + 1)}
    store.set_availability("Ana", True, T0 + 3)
    assert store.availability()["Ana"] == (True, T0 + 3)


def test_availability_keeps_when_the_state_last_changed(records_backend):
    store = records_backend.store
    store.set_availability("Ana", True, T0)
    store.set_availability("Ana", True, T0 + 60)
    assert store.availability() == {"Ana": (True, T0)}
    store.set_availability("Ana", False, T0 + 120)
    store.set_availability("Ana", False, T0 + 180)
    assert store.availability() == {"Ana": (False, T0 + 120)}


def test_availability_names_are_opaque(records_backend):
    store = records_backend.store
    names = ["Jos\u00e9 P\u00e9rez", "a:b", "1:2", "{availability}"]
    for n, name in enumerate(names):
        store.set_availability(name, n % 2 == 0, T0 + n)
    assert store.availability() == {name: (n % 2 == 0, T0 + n) for n, name in enumerate(names)}


@pytest.mark.parametrize("args", [("", True, T0), ("Ana", True, float("nan")), ("Ana", True, float("inf"))])
def test_bad_availability_is_refused(records_backend, args):
    with pytest.raises(ValueError):
        records_backend.store.set_availability(*args)
    assert records_backend.store.availability() == {}


def test_records_are_not_call_state(records_backend):
    store = records_backend.store
    assert store.add_record("CAshared", "voicemail", T0, b"record")
    assert store.load("CAshared") == (None, 0)
    assert store.get_value("CAshared") is None


@pytest.mark.redis
def test_redis_records_keys_share_a_hash_tag_and_never_expire(records_redis):
    store = records_redis.store
    prefix = store.prefix
    assert store.add_record("CA1:voicemail", "voicemail", T0, b"blob")
    store.set_availability("Ana", True, T0)
    keys = sorted(key.decode() for key in store.client.scan_iter(match=f"{prefix}:*"))
    assert keys == [
        f"{prefix}:{{availability}}",
        f"{prefix}:{{records}}:data",
        f"{prefix}:{{records}}:kind:voicemail",
        f"{prefix}:{{records}}:time",
    ]
    assert [store.client.pttl(key) for key in keys] == [-1] * 4
    assert store.client.type(f"{prefix}:{{records}}:data") == b"hash"
    assert json.loads(store.client.hget(f"{prefix}:{{records}}:data", "CA1:voicemail")) == {
        "kind": "voicemail", "created_at": T0, "blob": base64.b64encode(b"blob").decode()}
    assert store.client.zscore(f"{prefix}:{{records}}:time", "CA1:voicemail") == T0
    assert store.client.zscore(f"{prefix}:{{records}}:kind:voicemail", "CA1:voicemail") == T0


@pytest.mark.redis
def test_redis_records_keep_the_default_prefix_layout(redis_url):
    from ivr.stores.redis import RedisStore

    store = RedisStore.from_url(redis_url)
    try:
        assert store.records_key("data") == "ivr:{records}:data"
        assert store.records_key("time") == "ivr:{records}:time"
        assert store.availability_key() == "ivr:{availability}"
    finally:
        store.close()


def test_sqlite_records_tables_and_index(records_sqlite):
    store = records_sqlite.store
    assert store.ping()
    conn = store._connection()
    columns = [row[1] for row in conn.execute("PRAGMA table_info(ivr_record)")]
    assert columns == ["id", "kind", "created_at", "blob"]
    indexed = {
        tuple(row[2] for row in conn.execute(f"PRAGMA index_info({name!r})"))
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ivr_record'")
    }
    assert ("kind", "created_at") in indexed
    columns = [row[1] for row in conn.execute("PRAGMA table_info(ivr_availability)")]
    assert columns == ["name", "available", "at"]


# --- the outbox: the contract --------------------------------------------------------------


def _states(store: Store) -> list[tuple[str, str, int, float]]:
    return [(item.id, item.state, item.attempts, item.due_at) for item in store.outbox()]


def test_enqueue_keeps_an_item_pending(records_backend):
    store = records_backend.store
    assert store.enqueue("CA1:k:sms", "sms", b'{"to": "+16265550100"}', T0) is True
    (item,) = store.outbox()
    assert item == OutboxItem("CA1:k:sms", "sms", b'{"to": "+16265550100"}', 0, "pending", T0, "", "")
    assert type(item.due_at) is float and type(item.attempts) is int


def test_enqueue_of_an_existing_id_changes_nothing_in_any_state(records_backend):
    store = records_backend.store
    assert store.enqueue("a", "sms", b"first", T0)
    assert store.enqueue("a", "ride", b"second", T0 - 50) is False
    assert store.outbox() == [OutboxItem("a", "sms", b"first", 0, "pending", T0)]
    store.claim(T0, 30, 10)
    assert store.complete("a", "SM1")
    assert store.enqueue("a", "sms", b"again", T0) is False
    assert _states(store) == [("a", "done", 1, T0 + 30)]
    assert store.claim(T0 + 1000, 30, 10) == []


@pytest.mark.parametrize(
    ("item_id", "kind", "payload"),
    [("id:with:colons", "kind:with:colons", b"12:not:a:length"),
     ("caf\u00e9 \u20ac {outbox}", "\u00fcber", b"\x00\xff:\x00binary\n" * 300), ("x", "sms", b"")],
)
def test_outbox_ids_kinds_and_payloads_are_opaque(records_backend, item_id, kind, payload):
    store = records_backend.store
    assert store.enqueue(item_id, kind, payload, T0)
    (claimed,) = store.claim(T0, 10, 5)
    assert (claimed.id, claimed.kind, claimed.payload) == (item_id, kind, payload)
    assert store.retry(item_id, T0 + 1, "caf\u00e9: 12:34", attempt=1)
    assert store.complete(item_id, "n\u00f3te:5:x")
    (item,) = store.outbox()
    assert (item.id, item.kind, item.payload, item.note, item.last_error) == (
        item_id, kind, payload, "n\u00f3te:5:x", "caf\u00e9: 12:34")


@pytest.mark.parametrize("due_at", [1_700_000_000.123456789, 0.1, 1e-300, -5.5, 1_700_000_000])
def test_due_at_comes_back_exactly(records_backend, due_at):
    store = records_backend.store
    assert store.enqueue("a", "sms", b"", due_at)
    assert store.outbox()[0].due_at == due_at
    (claimed,) = store.claim(due_at, 0.25, 1)
    assert claimed.due_at == due_at + 0.25 == store.outbox()[0].due_at


def test_claim_takes_only_due_pending_items_soonest_first(records_backend):
    store = records_backend.store
    for item_id, due in [("late", T0 + 60), ("b", T0), ("a", T0), ("early", T0 - 5), ("done", T0 - 9)]:
        assert store.enqueue(item_id, "sms", item_id.encode(), due)
    store.claim(T0 - 9, 1000, 1)
    store.complete("done", "ok")
    claimed = store.claim(T0, 60, 10)
    assert [(item.id, item.payload, item.attempts, item.state, item.due_at) for item in claimed] == [
        ("early", b"early", 1, "pending", T0 + 60), ("a", b"a", 1, "pending", T0 + 60),
        ("b", b"b", 1, "pending", T0 + 60)]
    assert store.claim(T0 + 59, 60, 10) == []  # leased, or not due yet
    # All four are due at T0 + 60 now: by id.
    assert [item.id for item in store.claim(T0 + 60, 60, 10)] == ["a", "b", "early", "late"]
    assert {item.id: item.attempts for item in store.outbox("pending")} == {"early": 2, "a": 2, "b": 2, "late": 1}


def test_claim_limit(records_backend):
    store = records_backend.store
    for n in range(5):
        store.enqueue(f"i{n}", "sms", b"", T0 + n)
    assert store.claim(T0 + 10, 60, 0) == []
    assert [item.id for item in store.claim(T0 + 10, 60, 2)] == ["i0", "i1"]
    assert [item.id for item in store.claim(T0 + 10, 60, 100)] == ["i2", "i3", "i4"]
    assert store.claim(T0 + 10, 60, 100) == []


def test_a_claimed_item_keeps_its_last_error_and_note(records_backend):
    store = records_backend.store
    store.enqueue("a", "ride", b"{}", T0)
    store.claim(T0, 60, 1)
    assert store.retry("a", T0 + 5, "HTTP 500", attempt=1)
    (again,) = store.claim(T0 + 5, 60, 1)
    assert (again.attempts, again.last_error, again.due_at) == (2, "HTTP 500", T0 + 65)


def test_complete_marks_done_once(records_backend):
    store = records_backend.store
    store.enqueue("a", "sms", b"", T0)
    store.claim(T0, 60, 1)
    assert store.complete("a", "SM123") is True
    assert store.complete("a", "SM456") is False
    assert store.outbox("done") == [OutboxItem("a", "sms", b"", 1, "done", T0 + 60, "SM123", "")]
    assert store.complete("nothing", "x") is False
    assert store.outbox("pending") == []


def test_complete_turns_a_dead_item_done(records_backend):
    # A worker whose lease ran out may still learn that its delivery went through.
    store = records_backend.store
    store.enqueue("a", "sms", b"", T0)
    store.claim(T0, 60, 1)
    store.retry("a", T0, "HTTP 500")
    store.claim(T0, 60, 1)
    assert store.give_up("a", "HTTP 400", attempt=2)
    assert store.complete("a", "SM1") is True
    assert store.outbox("dead") == []
    assert store.outbox("done") == [OutboxItem("a", "sms", b"", 2, "done", T0 + 60, "SM1", "HTTP 400")]


def test_retry_sets_the_next_attempt(records_backend):
    store = records_backend.store
    store.enqueue("a", "sms", b"", T0)
    store.claim(T0, 60, 1)
    assert store.retry("a", T0 + 5, "HTTP 503") is True
    assert store.outbox() == [OutboxItem("a", "sms", b"", 1, "pending", T0 + 5, "", "HTTP 503")]
    assert store.claim(T0 + 4.9, 60, 1) == []
    assert [item.id for item in store.claim(T0 + 5, 60, 1)] == ["a"]


def test_retry_and_give_up_answer_only_the_latest_claim(records_backend):
    store = records_backend.store
    store.enqueue("a", "sms", b"", T0)
    (first,) = store.claim(T0, 60, 1)
    (second,) = store.claim(T0 + 60, 60, 1)  # the first worker's lease ran out
    assert (first.attempts, second.attempts) == (1, 2)
    assert store.retry("a", T0 + 9999, "late", attempt=first.attempts) is False
    assert store.give_up("a", "late", attempt=first.attempts) is False
    assert _states(store) == [("a", "pending", 2, T0 + 120)]
    assert store.give_up("a", "HTTP 404", attempt=second.attempts) is True
    assert _states(store) == [("a", "dead", 2, T0 + 120)]


def test_give_up_is_final(records_backend):
    store = records_backend.store
    store.enqueue("a", "ride", b"{}", T0)
    store.claim(T0, 60, 1)
    assert store.give_up("a", "HTTP 422") is True
    assert store.outbox("dead") == [OutboxItem("a", "ride", b"{}", 1, "dead", T0 + 60, "", "HTTP 422")]
    assert store.claim(T0 + 10_000, 60, 1) == []
    assert store.retry("a", T0, "again") is False
    assert store.give_up("a", "again") is False
    assert store.give_up("nothing", "x") is False and store.retry("nothing", T0, "x") is False
    assert store.outbox("dead")[0].last_error == "HTTP 422"


def _dead(store: Store, item_id: str, due_at: float, error: str = "HTTP 500") -> None:
    """An item given up after two attempts, due (when last leased until) at due_at."""
    assert store.enqueue(item_id, "sms", item_id.encode(), due_at - 120)
    store.claim(due_at - 120, 60, 1)
    assert store.retry(item_id, due_at - 60, error, attempt=1)
    store.claim(due_at - 60, 60, 1)
    assert store.give_up(item_id, error, attempt=2)


def test_requeue_puts_a_dead_item_back_with_attempts_from_zero(records_backend):
    store = records_backend.store
    _dead(store, "a", T0, "HTTP 422")
    assert store.outbox() == [OutboxItem("a", "sms", b"a", 2, "dead", T0, "", "HTTP 422")]
    assert store.requeue("a", T0 + 500) is True
    assert store.outbox() == [OutboxItem("a", "sms", b"a", 0, "pending", T0 + 500, "", "HTTP 422")]
    assert store.outbox("dead") == [] and [item.id for item in store.outbox("pending")] == ["a"]
    assert store.claim(T0 + 499, 60, 10) == []
    (again,) = store.claim(T0 + 500, 60, 10)
    assert (again.id, again.attempts, again.due_at, again.last_error) == ("a", 1, T0 + 560, "HTTP 422")
    assert store.retry("a", T0 + 600, "HTTP 503", attempt=1) is True
    assert store.complete("a", "HTTP 200") is True
    assert store.outbox() == [OutboxItem("a", "sms", b"a", 1, "done", T0 + 600, "HTTP 200", "HTTP 503")]


def test_requeue_of_a_pending_done_or_unknown_item_changes_nothing(records_backend):
    store = records_backend.store
    store.enqueue("pending", "sms", b"", T0)
    store.enqueue("leased", "sms", b"", T0 - 1)
    store.claim(T0 - 1, 60, 1)
    store.enqueue("done", "sms", b"", T0 + 1)
    store.complete("done", "SM1")
    before = store.outbox()
    for item_id in ("pending", "leased", "done", "unknown"):
        assert store.requeue(item_id, T0 + 1000) is False
    assert store.outbox() == before
    _dead(store, "dead", T0)
    assert store.requeue("dead", T0 + 5) is True
    assert store.requeue("dead", T0 + 1000) is False  # pending now
    assert ("dead", "pending", 0, T0 + 5) in _states(store)


def _purge_sample(store: Store) -> None:
    """Done items d1..d5 and dead items x1..x3, due at increasing times, and a pending one."""
    for item_id, due in [("d1", T0 + 1), ("d3", T0 + 2), ("d2", T0 + 2), ("d4", T0 + 3), ("d5", T0 + 10)]:
        assert store.enqueue(item_id, "sms", b"", due)
        assert store.complete(item_id, "ok")
    for item_id, due in [("x1", T0 + 1), ("x2", T0 + 2), ("x3", T0 + 3)]:
        assert store.enqueue(item_id, "ride", b"{}", due)
        assert store.give_up(item_id, "HTTP 404")
    assert store.enqueue("p", "sms", b"", T0 - 100)


def _ids_of(store: Store, state: str | None = None) -> list[str]:
    return [item.id for item in store.outbox(state)]


def test_purge_deletes_done_items_due_before_oldest_first_up_to_the_limit(records_backend):
    store = records_backend.store
    _purge_sample(store)
    assert store.purge("done", T0 + 3, 0) == 0
    assert store.purge("done", T0 + 3, 2) == 2
    assert _ids_of(store, "done") == ["d3", "d4", "d5"]  # d1, then d2 before d3 (same due time)
    assert store.purge("done", T0 + 3, 100) == 1  # due before, not at, T0 + 3
    assert _ids_of(store, "done") == ["d4", "d5"]
    assert store.purge("done", T0 + 3, 100) == 0
    assert _ids_of(store, "dead") == ["x1", "x2", "x3"] and _ids_of(store, "pending") == ["p"]


def test_purge_deletes_dead_items_only(records_backend):
    store = records_backend.store
    _purge_sample(store)
    assert store.purge("dead", T0 + 2.5, 100) == 2
    assert _ids_of(store, "dead") == ["x3"]
    assert store.purge("dead", T0 + 1000, 100) == 1
    assert store.outbox("dead") == []
    assert _ids_of(store, "done") == ["d1", "d2", "d3", "d4", "d5"] and _ids_of(store, "pending") == ["p"]


def test_a_purged_item_is_gone_everywhere(records_backend):
    store = records_backend.store
    _purge_sample(store)
    assert store.purge("done", T0 + 1.5, 10) == 1
    assert store.purge("dead", T0 + 1.5, 10) == 1
    assert "d1" not in _ids_of(store) and "x1" not in _ids_of(store)
    assert _ids_of(store) == ["p", "d2", "d3", "x2", "d4", "x3", "d5"]
    assert store.complete("d1", "again") is False and store.requeue("x1", T0) is False
    assert store.enqueue("x1", "sms", b"new", T0 + 50) is True  # its id is free again
    assert store.outbox("pending")[-1] == OutboxItem("x1", "sms", b"new", 0, "pending", T0 + 50)


def test_purge_refuses_pending_items(records_backend):
    store = records_backend.store
    _purge_sample(store)
    with pytest.raises(ValueError, match="pending"):
        store.purge("pending", T0 + 1000, 100)
    assert _ids_of(store, "pending") == ["p"] and len(store.outbox()) == 9


def test_outbox_lists_by_state_due_time_and_id(records_backend):
    store = records_backend.store
    for item_id, due in [("p2", T0 + 2), ("p1", T0 + 1), ("d", T0 - 1), ("x", T0 - 2), ("q", T0 + 1)]:
        store.enqueue(item_id, "sms", b"", due)
    store.claim(T0 - 1, 0.5, 2)  # x until T0 - 0.5, d until T0 - 0.5
    store.complete("d", "ok")
    store.give_up("x", "bad")
    assert [item.id for item in store.outbox()] == ["d", "x", "p1", "q", "p2"]
    assert [item.id for item in store.outbox("pending")] == ["p1", "q", "p2"]
    assert [item.id for item in store.outbox("pending", limit=2)] == ["p1", "q"]
    assert [item.id for item in store.outbox(limit=3)] == ["d", "x", "p1"]
    assert [item.id for item in store.outbox("done")] == ["d"]
    assert [item.id for item in store.outbox("dead")] == ["x"]
    assert store.outbox(limit=0) == []


@pytest.mark.parametrize(
    ("method", "args"),
    [("enqueue", ("", "sms", b"", T0)), ("enqueue", ("a", "", b"", T0)), ("enqueue", ("a", "sms", b"", float("nan"))),
     ("enqueue", ("a", "sms", b"", float("inf"))), ("claim", (T0, 0, 1)), ("claim", (T0, -5, 1)),
     ("claim", (T0, float("nan"), 1)), ("claim", (T0, 60, -1)), ("claim", (float("nan"), 60, 1)),
     ("retry", ("a", float("nan"), "e")), ("outbox", ("sent",)), ("outbox", (None, -1)), ("requeue", ("", T0)),
     ("requeue", ("a", float("nan"))), ("requeue", ("a", float("inf"))), ("purge", ("pending", T0, 1)),
     ("purge", ("sent", T0, 1)), ("purge", ("done", float("nan"), 1)), ("purge", ("done", T0, -1))],
)
def test_bad_outbox_arguments_are_refused(records_backend, method, args):
    store = records_backend.store
    with pytest.raises(ValueError):
        getattr(store, method)(*args)
    assert store.outbox() == []


def test_outbox_survives_closing_and_reopening_and_is_not_records(records_backend):
    store = records_backend.store
    store.enqueue("a", "sms", b"payload", T0)
    store.claim(T0, 60, 1)
    reopened = records_backend.reopen()
    assert reopened.outbox() == [OutboxItem("a", "sms", b"payload", 1, "pending", T0 + 60)]
    assert reopened.list_records() == [] and reopened.get_record("a") is None
    assert reopened.load("a") == (None, 0) and reopened.get_value("a") is None


def test_concurrent_claimers_never_share_an_item(records_backend):
    store = records_backend.store
    total, claimers = 300, 8
    for n in range(total):
        store.enqueue(f"item-{n:04d}", "sms", b"", T0 + n % 7)
    barrier = threading.Barrier(claimers)
    got: list[list[str]] = [[] for _ in range(claimers)]
    errors: list[BaseException] = []

    def claim_all(n: int) -> None:
        try:
            barrier.wait()
            while True:
                batch = store.claim(T0 + 10, 600, 7)
                if not batch:
                    return
                got[n].extend(item.id for item in batch)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [item_id for ids in got for item_id in ids]
    assert len(every) == total and set(every) == {f"item-{n:04d}" for n in range(total)}
    assert sum(1 for ids in got if ids) > 1  # they really raced
    assert {item.attempts for item in store.outbox()} == {1}


def test_sqlite_claimers_in_several_stores_never_share_an_item(records_sqlite):
    path = records_sqlite.store.path
    for n in range(200):
        records_sqlite.store.enqueue(f"i{n}", "sms", b"", T0)
    twins = [SqliteStore(path) for _ in range(4)]
    got: list[str] = []
    lock = threading.Lock()

    def drain(store: SqliteStore) -> None:
        while batch := store.claim(T0, 600, 3):
            with lock:
                got.extend(item.id for item in batch)

    threads = [threading.Thread(target=drain, args=(twin,)) for twin in twins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for twin in twins:
        twin.close()
    assert sorted(got) == sorted(f"i{n}" for n in range(200))


@pytest.mark.redis
def test_redis_outbox_keys_share_a_hash_tag_and_never_expire(records_redis):
    store = records_redis.store
    prefix = store.prefix
    for item_id in ("a", "b", "c"):
        store.enqueue(item_id, "sms", b"x", T0)
    store.claim(T0, 60, 2)
    store.complete("a", "ok")
    store.give_up("b", "bad")
    keys = sorted(key.decode() for key in store.client.scan_iter(match=f"{prefix}:*"))
    assert keys == [f"{prefix}:{{outbox}}:{part}" for part in ("dead", "done", "due", "items", "meta")]
    assert [store.client.pttl(key) for key in keys] == [-1] * 5
    assert store.client.zrange(f"{prefix}:{{outbox}}:due", 0, -1, withscores=True) == [(b"c", T0)]
    assert store.client.zscore(f"{prefix}:{{outbox}}:done", "a") == T0 + 60
    assert store.client.zscore(f"{prefix}:{{outbox}}:dead", "b") == T0 + 60
    # The payload as raw bytes; the rest as JSON, due_at as the repr of the float.
    assert store.client.hget(f"{prefix}:{{outbox}}:items", "b") == b"x"
    assert json.loads(store.client.hget(f"{prefix}:{{outbox}}:meta", "b")) == {
        "kind": "sms", "state": "dead", "attempts": 1, "due_at": repr(T0 + 60), "note": "", "last_error": "bad"}
    from ivr.stores.redis import RedisStore

    assert RedisStore(store.client).outbox_key("items") == "ivr:{outbox}:items"  # the default prefix


@pytest.mark.redis
def test_redis_requeue_and_purge_keep_the_outbox_keys_in_step(records_redis):
    store = records_redis.store
    key = store.outbox_key
    _dead(store, "a", T0)
    store.enqueue("b", "sms", b"", T0 + 1)
    store.complete("b", "ok")
    # A dead item written by hand, as the scripts write one: requeue keeps its note and error whole.
    meta = {"kind": "sms", "state": "dead", "attempts": 3, "due_at": repr(T0), "note": "SM:1", "last_error": "HTTP: 500"}
    store.client.hset(key("meta"), "c", json.dumps(meta))
    store.client.hset(key("items"), "c", b"x")
    store.client.zadd(key("dead"), {"c": T0})
    assert store.requeue("a", T0 + 9) and store.requeue("c", T0 + 9)
    assert store.client.zcard(key("dead")) == 0
    assert store.client.zrange(key("due"), 0, -1, withscores=True) == [(b"a", T0 + 9), (b"c", T0 + 9)]
    assert json.loads(store.client.hget(key("meta"), "c")) == {**meta, "state": "pending", "attempts": 0,
                                                               "due_at": repr(T0 + 9)}
    assert store.outbox("pending")[1] == OutboxItem("c", "sms", b"x", 0, "pending", T0 + 9, "SM:1", "HTTP: 500")
    assert store.purge("done", T0 + 2, 10) == 1
    assert store.client.zcard(key("done")) == 0
    assert sorted(store.client.hkeys(key("items"))) == sorted(store.client.hkeys(key("meta"))) == [b"a", b"c"]


def test_sqlite_outbox_table_and_index(records_sqlite):
    conn = records_sqlite.store._connection()
    columns = [row[1] for row in conn.execute("PRAGMA table_info(ivr_outbox)")]
    assert columns == ["id", "kind", "payload", "attempts", "state", "due_at", "note", "last_error"]
    indexed = {
        tuple(row[2] for row in conn.execute(f"PRAGMA index_info({name!r})"))
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ivr_outbox'")
    }
    assert ("state", "due_at", "id") in indexed


# --- the desk's roles: the contract ------------------------------------------------------

from ivr.stores.protocols import (  # noqa: E402
    CLAIMED,
    CLOSED,
    DESK_ROLES,
    NEW,
    TRIED,
    Account,
    AuditEvent,
    WorkItem,
    work_key,
)

ANA = Account(name="ana", password_hash="$argon2id$x", roles=("coordinator",), teams=("coordinators",),
              member="Ana Rivera", created_at=T0)


def _item(record_id: str, at: float, team: str = "coordinators", kind: str = "voicemail", **kw) -> WorkItem:
    return WorkItem(id=record_id, ref=f"ref-{record_id}", kind=kind, team=team, created_at=at, changed_at=at, **kw)


def _changed(item: WorkItem, **changes) -> WorkItem:
    from dataclasses import replace

    return replace(item, version=item.version + 1, **changes)


def test_accounts_round_trip_replace_and_list(records_backend):
    store = records_backend.store
    assert store.get_account("ana") is None
    assert store.add_account(ANA) is True
    assert store.add_account(Account(name="ana", password_hash="other", roles=("admin",))) is False
    assert store.get_account("ana") == ANA
    disabled = Account(name="ana", password_hash="new", roles=("coordinator", "admin"), disabled=True, epoch=2)
    store.put_account(disabled)
    store.put_account(Account(name="bo", password_hash="h", roles=("auditor",)))
    assert store.accounts() == [disabled, Account(name="bo", password_hash="h", roles=("auditor",))]
    assert records_backend.reopen().get_account("ana") == disabled


@pytest.mark.parametrize("account", [
    Account(name="", password_hash="h", roles=("admin",)),
    Account(name="x", password_hash="", roles=("admin",)),
    Account(name="x", password_hash="h", roles=()),
    Account(name="x", password_hash="h", roles=("root",)),
])
def test_bad_accounts_are_refused(records_backend, account):
    with pytest.raises(ValueError):
        records_backend.store.add_account(account)
    with pytest.raises(ValueError):
        records_backend.store.put_account(account)


def test_audit_is_newest_first_by_time_and_user(records_backend):
    store = records_backend.store
    events = [AuditEvent(T0 + i, "ana" if i % 2 else "bo", "coordinator", f"act{i}", f"CA{i}:vm", "127.0.0.1",
                         "d\u00e9tail") for i in range(6)]
    for event in events:
        store.audit(event)
    assert store.audit_events() == events[::-1]
    assert store.audit_events(limit=2) == [events[5], events[4]]
    assert store.audit_events(since=T0 + 3) == [events[5], events[4], events[3]]
    assert store.audit_events(user="ana") == [events[5], events[3], events[1]]
    assert store.audit_events(user="ana", since=T0 + 2, limit=1) == [events[5]]
    assert store.audit_events(user="nobody") == []
    assert records_backend.reopen().audit_events(limit=1) == [events[5]]


def test_audit_has_no_way_to_change_or_delete(records_backend):
    from ivr.stores.protocols import AuditLog

    assert {name for name in vars(AuditLog) if not name.startswith("_")} == {"audit", "audit_events"}


def test_sqlite_audit_table_refuses_updates_and_deletes(records_sqlite):
    import sqlite3

    store = records_sqlite.store
    store.audit(AuditEvent(T0, "ana", "coordinator", "signed-in"))
    conn = store._connection()
    for sql in ("UPDATE ivr_audit SET user = 'x'", "DELETE FROM ivr_audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    assert len(store.audit_events()) == 1


def test_worklist_track_find_and_prefix(records_backend):
    store = records_backend.store
    item = _item("CA1:vm", T0)
    assert store.track(item) is True
    assert store.track(_item("CA1:vm", T0 + 5, team="other")) is False
    assert store.work_item("CA1:vm") == item
    assert store.work_item_by_ref("ref-CA1:vm") == item
    assert store.work_item("CA2:vm") is None and store.work_item_by_ref("nope") is None
    store.track(_item("CA12:cb", T0 + 1, kind="callback"))
    store.track(_item("CB1:vm", T0 + 2))
    assert store.work_ids("CA1", 10) == ["CA12:cb", "CA1:vm"]  # in byte order: "2" before ":"
    assert store.work_ids("CA1", 1) == ["CA12:cb"]
    assert store.work_ids("CA12:", 10) == ["CA12:cb"]
    assert store.work_ids("", 10) == ["CA12:cb", "CA1:vm", "CB1:vm"]
    assert store.work_ids("X", 10) == []


def test_worklist_updates_are_compare_and_set(records_backend):
    store = records_backend.store
    item = _item("CA1:vm", T0)
    store.track(item)
    claimed = _changed(item, state=CLAIMED, by="ana", changed_at=T0 + 60)
    assert store.update_work(item, claimed) is True
    assert store.update_work(item, _changed(item, state=CLAIMED, by="bo")) is False
    assert store.work_item("CA1:vm") == claimed
    done = _changed(claimed, state=CLOSED, note="called back", changed_at=T0 + 120)
    assert store.update_work(claimed, done) is True
    assert store.work_items((CLAIMED,)) == [] and store.work_items((CLOSED,)) == [done]
    with pytest.raises(ValueError):
        store.update_work(done, _changed(done, team="other"))
    with pytest.raises(ValueError):
        store.update_work(done, done)
    assert store.update_work(_item("CA9:vm", T0), _changed(_item("CA9:vm", T0))) is False


def test_only_one_of_two_claims_wins(records_backend):
    store = records_backend.store
    item = _item("CA1:vm", T0)
    store.track(item)
    barrier = threading.Barrier(8)

    def claim(who: str) -> bool:
        barrier.wait()
        return store.update_work(item, _changed(item, state=CLAIMED, by=who))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, [f"c{i}" for i in range(8)]))
    assert results.count(True) == 1
    assert store.work_item("CA1:vm").by == f"c{results.index(True)}"


def test_worklist_lists_oldest_call_first_with_filters_and_counts(records_backend):
    store = records_backend.store
    a = _item("CA3:vm", T0 + 30)
    b = _item("CA1:cb", T0 + 10, kind="callback")
    c = _item("CA2:ride", T0 + 20, team="transportation", kind="ride")
    d = _item("CA0:vm", T0 + 10)
    for item in (a, b, c, d):
        store.track(item)
    tried = _changed(a, state=TRIED, attempts=1)
    store.update_work(a, tried)
    assert store.work_items((NEW, CLAIMED, TRIED)) == [d, b, c, tried]
    assert store.work_items((NEW,)) == [d, b, c]
    assert store.work_items((NEW, TRIED), teams=("coordinators",)) == [d, b, tried]
    assert store.work_items((NEW, TRIED), kinds=("voicemail",)) == [d, tried]
    assert store.work_items((NEW, TRIED), teams=("coordinators",), kinds=("ride",)) == []
    assert store.work_items((NEW, TRIED), teams=()) == []
    assert store.work_items((NEW, TRIED), limit=2) == [d, b]
    assert store.work_items((NEW, TRIED), before=T0 + 20) == [d, b]
    assert store.work_counts() == {NEW: 3, CLAIMED: 0, TRIED: 1, CLOSED: 0}
    assert store.work_counts(teams=("transportation",)) == {NEW: 1, CLAIMED: 0, TRIED: 0, CLOSED: 0}
    assert store.work_counts(kinds=("voicemail",)) == {NEW: 1, CLAIMED: 0, TRIED: 1, CLOSED: 0}
    with pytest.raises(ValueError):
        store.work_items(("lost",))


def _paging_sample(store: Store) -> list[WorkItem]:
    """Items of two teams, two kinds and three states, many of them called at the very same
    time, with ids whose byte order is not their alphabetical one ("CAB" < "CA_" < "CAa")."""
    import random

    chooser = random.Random(7)
    items = []
    for n, suffix in enumerate(["CAB", "CA_", "CAa", "CAb", "CA0", "CAZ", "CAz", "CA9"] * 4):
        item = _item(f"{suffix}{n % 3}:{n}", T0 + chooser.choice((0, 0, 5, 5, 5, 9.5, 12)),
                     team=chooser.choice(("coordinators", "transportation")),
                     kind=chooser.choice(("voicemail", "callback")))
        store.track(item)
        state = chooser.choice((NEW, NEW, TRIED, CLOSED))
        if state != NEW:
            changed = _changed(item, state=state)
            store.update_work(item, changed)
            item = changed
        items.append(item)
    return sorted(items, key=lambda item: (item.created_at, item.id.encode()))


@pytest.mark.parametrize("size", [1, 3, 7, 100])
@pytest.mark.parametrize(("states", "teams", "kinds"), [
    ((NEW, TRIED), None, None),
    ((NEW,), ("coordinators",), None),
    ((NEW, TRIED, CLOSED), ("transportation",), ("callback",)),
])
def test_worklist_pages_by_key_forward_and_back(records_backend, size, states, teams, kinds):
    store = records_backend.store
    every = [item for item in _paging_sample(store) if item.state in states
             and (teams is None or item.team in teams) and (kinds is None or item.kind in kinds)]
    assert store.work_items(states, teams=teams, kinds=kinds, limit=100) == every
    pages = [store.work_items(states, teams=teams, kinds=kinds, limit=size)]
    while pages[-1]:
        pages.append(store.work_items(states, teams=teams, kinds=kinds, limit=size, after=work_key(pages[-1][-1])))
    assert [item for page in pages for item in page] == every
    assert all(len(page) == size for page in pages[:-2])
    back = [store.work_items(states, teams=teams, kinds=kinds, limit=size, after=work_key(every[-1]))]
    assert back == [[]]
    back = [store.work_items(states, teams=teams, kinds=kinds, limit=size, ahead_of=(T0 + 60, ""))]
    while back[-1]:
        back.append(store.work_items(states, teams=teams, kinds=kinds, limit=size, ahead_of=work_key(back[-1][0])))
    assert [item for page in reversed(back) for item in page] == every
    for place, item in enumerate(every):
        counts = store.work_counts(teams=teams, kinds=kinds, ahead_of=work_key(item))
        assert sum(counts[state] for state in states) == place


def test_a_page_key_need_not_be_on_the_worklist(records_backend):
    store = records_backend.store
    every = [item for item in _paging_sample(store) if item.state in (NEW, TRIED)]
    gone = (T0 + 5, "CAa")  # between ids called at T0 + 5, and the id of nothing
    after = [item for item in every if (item.created_at, item.id.encode()) > (gone[0], gone[1].encode())]
    assert store.work_items((NEW, TRIED), after=gone) == after
    assert store.work_items((NEW, TRIED), ahead_of=gone) == every[:len(every) - len(after)]
    assert store.work_items((NEW, TRIED), ahead_of=gone, limit=2) == every[len(every) - len(after) - 2:][:2]
    counts = store.work_counts(ahead_of=gone)
    assert counts[NEW] + counts[TRIED] == len(every) - len(after)
    assert sum(store.work_counts(ahead_of=(T0 - 1, "")).values()) == 0
    assert sum(store.work_counts(ahead_of=(T0 + 60, "")).values()) == len(store.work_ids("", 1000))


def test_a_page_key_keeps_the_time_bound(records_backend):
    store = records_backend.store
    every = [item for item in _paging_sample(store) if item.state in (NEW, TRIED)]
    early = [item for item in every if item.created_at < T0 + 9.5]
    assert store.work_items((NEW, TRIED), before=T0 + 9.5, after=work_key(early[1])) == early[2:]
    assert store.work_items((NEW, TRIED), before=T0 + 9.5, after=work_key(every[-1])) == []
    assert store.work_items((NEW, TRIED), before=T0 + 9.5, ahead_of=work_key(every[-1])) == early
    assert store.work_items((NEW, TRIED), before=T0 + 9.5, ahead_of=work_key(early[-1]), limit=2) == early[-3:-1]
    assert store.work_items((NEW, TRIED), before=T0 + 5, ahead_of=(T0 + 5, "\U0010ffff")) == \
        [item for item in every if item.created_at < T0 + 5]


@pytest.mark.parametrize("kwargs", [
    {"after": (T0, "CA1"), "ahead_of": (T0 + 1, "CA2")},
    {"after": (math.nan, "CA1")},
    {"ahead_of": (math.inf, "CA1")},
])
def test_bad_page_keys_are_refused(records_backend, kwargs):
    with pytest.raises(ValueError):
        records_backend.store.work_items((NEW,), **kwargs)
    if "ahead_of" in kwargs and "after" not in kwargs:
        with pytest.raises(ValueError):
            records_backend.store.work_counts(**kwargs)


def test_untrack_and_delete_record(records_backend):
    store = records_backend.store
    store.add_record("CA1:vm", "voicemail", T0, b"{}")
    item = _item("CA1:vm", T0)
    store.track(item)
    assert store.untrack(_changed(item)) is False
    assert store.untrack(item) is True
    assert store.work_item("CA1:vm") is None and store.work_item_by_ref(item.ref) is None
    assert store.work_ids("CA", 5) == [] and store.work_counts()[NEW] == 0
    store.add_record("CA2:cb", "callback", T0 + 1, b"\x00two")
    assert store.get_records(["CA2:cb", "CA1:vm", "CA9:none"]) == {"CA1:vm": ("voicemail", T0, b"{}"),
                                                                    "CA2:cb": ("callback", T0 + 1, b"\x00two")}
    assert store.get_records([]) == {}
    assert store.delete_record("CA1:vm", "voicemail") is True
    assert store.delete_record("CA1:vm", "voicemail") is False
    assert store.get_record("CA1:vm") is None
    assert store.list_records("voicemail") == [] and [row[0] for row in store.list_records()] == ["CA2:cb"]


def test_sign_in_failures_count_in_a_row_and_end(records_backend):
    store = records_backend.store
    assert store.failures("user:ana", T0) == (0, 0.0)
    assert [store.count_failure("user:ana", T0 + i, 900) for i in range(3)] == [1, 2, 3]
    assert store.failures("user:ana", T0 + 10) == (3, T0 + 2)
    assert store.failures("user:bo", T0 + 10) == (0, 0.0)
    assert store.failures("user:ana", T0 + 2 + 900) == (0, 0.0)
    assert store.count_failure("user:ana", T0 + 2 + 900, 900) == 1
    store.clear_failures("user:ana")
    assert store.failures("user:ana", T0 + 903) == (0, 0.0)


def test_throttle_passes_one_per_period(records_backend):
    store = records_backend.store
    assert store.throttle("team:coordinators", T0, 600) is True
    assert store.throttle("team:coordinators", T0 + 599, 600) is False
    assert store.throttle("team:transportation", T0 + 1, 600) is True
    assert store.throttle("team:coordinators", T0 + 600, 600) is True
    assert store.throttle("team:coordinators", T0 + 700, 600) is False


def test_board_counts_live_calls_by_stage_and_calls_started(records_backend):
    store = records_backend.store
    store.board_note("CA1", "menu", T0)
    store.board_note("CA2", "menu", T0 + 1)
    store.board_note("CA1", "transfer", T0 + 5)
    store.board_note("CA3", "booking", T0 + 9)
    store.board_end("CA2")
    assert store.board(T0, T0) == ([("transfer", T0 + 5), ("booking", T0 + 9)], 3)
    assert store.board(T0 + 1, T0 + 6) == ([("booking", T0 + 9)], 2)
    store.board_end("CA1")
    store.board_end("CA9")
    assert store.board(T0, T0) == ([("booking", T0 + 9)], 3)


def test_a_save_carries_the_calls_move_on_the_board_only_when_it_succeeds(records_backend):
    _moves_with_saves(records_backend.store)


@pytest.mark.redis
def test_a_save_on_a_cluster_moves_the_call_on_the_board_by_a_command_of_its_own(records_redis):
    store = records_redis.store
    store._own = None  # as on a cluster, where the board's keys are in a slot of their own
    _moves_with_saves(store)


@pytest.mark.redis
def test_a_board_that_cannot_be_written_does_not_undo_the_save(records_redis, caplog):
    store = records_redis.store
    store.client.set(store.board_keys()[0], "not a hash")
    with caplog.at_level(logging.WARNING, logger="ivr.stores"):
        assert store.save("CA1", b"one", 0, 60, BoardMove("menu", T0)) is True
    assert store.load("CA1") == (b"one", 1) and "BoardNotNoted" in caplog.text


@pytest.mark.redis
def test_a_server_that_keeps_slots_behind_a_plain_url_gets_the_board_by_a_command_of_its_own(records_redis,
                                                                                                monkeypatch):
    from redis.exceptions import ClusterCrossSlotError

    store = records_redis.store
    real = store._save_by

    def slotted(script, keys, args):
        if len(keys) > 1:  # as such a server answers a script across slots
            raise ClusterCrossSlotError("Keys in request don't hash to the same slot")
        return real(script, keys, args)

    monkeypatch.setattr(store, "_save_by", slotted)
    _moves_with_saves(store)
    assert store._board_apart


def _moves_with_saves(store: Store) -> None:
    assert store.save("CA1", b"one", 0, 60, BoardMove("menu", T0)) is True
    assert store.save("CA2", b"two", 0, 60, BoardMove("menu", T0 + 1)) is True
    assert store.save("CA1", b"lost", 0, 60, BoardMove("transfer", T0 + 2)) is False  # a lost race moves nothing
    assert store.board(T0, T0) == ([("menu", T0), ("menu", T0 + 1)], 2)
    assert store.save("CA1", b"one more", 1, 60, BoardMove("transfer", T0 + 5)) is True
    assert store.save("CA2", b"ended", 1, 60, BoardMove(None, T0 + 6)) is True
    assert store.save("CA1", b"same stage", 2, 60) is True
    assert store.board(T0, T0) == ([("transfer", T0 + 5)], 2)
    assert store.load("CA1") == (b"same stage", 3)


def test_the_desk_roles_on_an_unreachable_store_raise_store_unavailable(unreachable):
    item = _item("CA1:vm", T0)
    calls = [("add_account", (ANA,)), ("put_account", (ANA,)), ("get_account", ("ana",)), ("accounts", ()),
             ("audit", (AuditEvent(T0, "a", "admin", "x"),)), ("audit_events", ()), ("track", (item,)),
             ("work_item", ("x",)), ("work_item_by_ref", ("x",)), ("work_ids", ("x", 1)),
             ("update_work", (item, _changed(item))), ("work_items", ((NEW,),)), ("work_counts", ()),
             ("untrack", (item,)), ("delete_record", ("x", "voicemail")), ("get_records", (["x"],)), ("count_failure", ("k", T0, 60)),
             ("failures", ("k", T0)), ("clear_failures", ("k",)), ("throttle", ("k", T0, 60)),
             ("board_note", ("CA1", "menu", T0)), ("board_end", ("CA1",)), ("board", (T0, T0))]
    assert {name for name, _ in calls} == {name for role in DESK_ROLES for name in vars(role)
                                           if not name.startswith("_")}
    for name, args in calls:
        with pytest.raises(StoreUnavailable):
            getattr(unreachable, name)(*args)
