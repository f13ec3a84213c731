"""One contract for every call-state store (SQLite and Redis), plus what only one of them does."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from ivr.store import CallStore, StoreUnavailable
from ivr.store_sqlite import SqliteStore

TTL = 60


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """A store under test, with the means to let its records expire."""

    name: str
    store: CallStore
    new_sid: Callable[[], str]
    expire: Callable[[float], None]
    make_twin: Callable[[], CallStore] | None = None
    sids: list[str] = field(default_factory=list)


def _sid_factory(sids: list[str]) -> Callable[[], str]:
    def new_sid() -> str:
        sid = f"CA{uuid.uuid4().hex}"
        sids.append(sid)
        return sid

    return new_sid


@pytest.fixture
def sqlite_backend(tmp_path) -> Iterator[Backend]:
    clock = FakeClock()
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
    from ivr.store_redis import RedisStore

    store = RedisStore.from_url(redis_url)
    sids: list[str] = []

    def expire(seconds: float) -> None:
        # Real time: wait the TTL out, then poll briefly for Redis's expiry to show.
        time.sleep(seconds)

    yield Backend("redis", store, _sid_factory(sids), expire, None, sids)
    # Remove only what this test created; the server may be shared.
    if sids:
        store.client.delete(*(store.key(sid) for sid in sids), *(store.value_key(sid) for sid in sids))
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


def _increment(store: CallStore, sid: str, times: int) -> int:
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


def test_is_a_call_store(backend):
    assert isinstance(backend.store, CallStore)


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
    deadline = time.monotonic() + 3
    while store.load(sid) != (None, 0) and time.monotonic() < deadline:
        time.sleep(0.02)
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
    if backend.name == "redis":
        backend.sids.append(name)  # cleaned up below with the call keys
    backend.expire(0.55)
    deadline = time.monotonic() + 3
    while store.get_value(name) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.get_value(name) is None


def test_ping(backend):
    assert backend.store.ping() is True


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


def _assert_unavailable(store: CallStore) -> None:
    assert store.ping() is False
    with pytest.raises(StoreUnavailable):
        store.load("CAunreachable")
    with pytest.raises(StoreUnavailable):
        store.save("CAunreachable", b"x", 0, TTL)


def test_sqlite_unwritable_path_is_unavailable(tmp_path):
    # A path below a regular file can be neither created nor opened, even by root.
    (tmp_path / "not-a-folder").write_text("")
    store = SqliteStore(str(tmp_path / "not-a-folder" / "ivr.sqlite3"))
    try:
        _assert_unavailable(store)
    finally:
        store.close()


def test_sqlite_corrupt_file_is_unavailable(tmp_path):
    path = tmp_path / "ivr.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = SqliteStore(str(path))
    try:
        _assert_unavailable(store)
    finally:
        store.close()


def test_redis_closed_port_is_unavailable_quickly():
    from ivr.store_redis import RedisStore

    store = RedisStore.from_url("redis://127.0.0.1:1/15")
    try:
        started = time.monotonic()
        _assert_unavailable(store)
        assert time.monotonic() - started < 3
    finally:
        store.close()


def test_redis_silent_server_times_out_quickly():
    from ivr.store_redis import RedisStore

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
def test_redis_unparsable_value_counts_as_absent(redis_backend):
    store, sid = redis_backend.store, redis_backend.new_sid()
    store.client.set(store.key(sid), b"garbage", px=60_000)
    assert store.load(sid) == (None, 0)
    assert store.save(sid, b"fresh", 0, TTL)
    assert store.load(sid) == (b"fresh", 1)


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

    import ivr.store_sqlite

    real_pid = os.getpid()
    monkeypatch.setattr(ivr.store_sqlite.os, "getpid", lambda: real_pid + 1)
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
