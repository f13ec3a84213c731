"""The embedded store's files: private to the service's user, and one set of them for the store's life.

A file deleted or replaced under a running store is noticed on the next use, logged once,
and from then on every read and write fails loudly; nothing is created in its place, by
this process or any worker started later. Over HTTP: the caller hears the apology, never
"saved", and `/healthz` answers 503, as it does for a database another process holds locked.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from twilio_sim import Call, assert_apology, says

import ivr.stores.sqlite
from ivr.stores import from_url
from ivr.stores.protocols import StoreUnavailable
from ivr.stores.sqlite import SqliteStore

TTL = 60
STORE_LOG = "ivr.stores"


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def files_of(store: SqliteStore) -> list[Path]:
    base = Path(store.path)
    return [base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")]


@pytest.fixture
def open_umask():
    """A umask that takes nothing away, as a careless service manager might leave it."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(str(tmp_path / "instance" / "ivr.sqlite3"))
    assert store.save("CA1", b"first", 0, TTL)
    yield store
    store.close()


def lost_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == STORE_LOG and r.levelno == logging.ERROR]


# -- modes ----------------------------------------------------------------------------------

def test_a_new_store_is_private_whatever_the_umask(tmp_path, open_umask):
    store = from_url(None, str(tmp_path / "instance"))
    try:
        assert store.save("CA1", b"x", 0, TTL)
        assert mode(tmp_path / "instance") == 0o700
        for path in files_of(store):
            assert path.exists() and mode(path) == 0o600, path
        assert mode(store.marker) == 0o600
    finally:
        store.close()


def test_an_existing_open_folder_and_files_are_tightened_and_logged(tmp_path, caplog):
    folder = tmp_path / "instance"
    folder.mkdir()
    path = folder / "ivr.sqlite3"
    old = sqlite3.connect(path)  # as earlier releases left them: 0755 and 0644
    old.execute("PRAGMA journal_mode = WAL")
    old.execute("CREATE TABLE kept (x)")
    for each in (path, folder / "ivr.sqlite3-wal", folder / "ivr.sqlite3-shm"):
        os.chmod(each, 0o644)
    os.chmod(folder, 0o755)
    store = SqliteStore(str(path))
    try:
        with caplog.at_level(logging.WARNING, logger=STORE_LOG):
            assert store.save("CA1", b"x", 0, TTL)
        assert mode(folder) == 0o700
        assert [mode(each) for each in files_of(store)] == [0o600] * 3
        warned = [r.getMessage() for r in caplog.records if r.name == STORE_LOG]
        assert len(warned) == 4 and all("open to other users" in line for line in warned)
        assert warned[0] == f"{folder} was open to other users (mode 0755); now 0700: it holds member records"
    finally:
        old.close()
        store.close()


def test_a_folder_this_user_cannot_tighten_is_refused_with_the_fix(tmp_path, monkeypatch):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)

    def not_yours(path, mode):
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr(os, "chmod", not_yours)  # as for a folder owned by another user
    store = SqliteStore(str(folder / "ivr.sqlite3"))
    with pytest.raises(StoreUnavailable, match=rf"{folder} is open to other users \(mode 0755\).*chmod 700 {folder}"):
        store.load("CA1")
    assert not (folder / "ivr.sqlite3").exists()
    assert store.check_writable(0.5) is False


# -- one set of files -----------------------------------------------------------------------

WRITES = (lambda store: store.save("CA1", b"second", 1, TTL),
          lambda store: store.add_record("CA1:voicemail", "voicemail", 1.0, b"r"),
          lambda store: store.put_value("v", b"x", None), lambda store: store.enqueue("CA1:sms", "sms", b"", 1.0),
          lambda store: store.claim(1.0, 60, 10), lambda store: store.set_availability("Ana", True, 1.0))
READS = (lambda store: store.load("CA1"), lambda store: store.get_value("v"), lambda store: store.list_records(),
         lambda store: store.outbox())


def every_write_fails(store: SqliteStore, match: str) -> None:
    for use in WRITES:
        with pytest.raises(StoreUnavailable, match=match):
            use(store)
    assert store.check_writable(0.5) is False


def every_use_fails(store: SqliteStore, match: str) -> None:
    every_write_fails(store, match)
    for use in READS:
        with pytest.raises(StoreUnavailable, match=match):
            use(store)
    assert store.ping() is False


def test_a_deleted_database_is_noticed_at_once_logged_once_and_never_recreated(store, caplog):
    with caplog.at_level(logging.ERROR, logger=STORE_LOG):
        os.unlink(store.path)
        every_use_fails(store, "was deleted")
        # A thread of its own (a new connection) does not get a fresh file either.
        errors: list[BaseException] = []
        thread = threading.Thread(target=lambda: errors.append(pytest.raises(StoreUnavailable, store.load, "CA1")))
        thread.start()
        thread.join()
        assert len(errors) == 1
        # Nor does a worker forked from this process (it has no connection of its own yet)...
        real_pid = os.getpid()
        with pytest.MonkeyPatch.context() as fork:
            fork.setattr(ivr.stores.sqlite.os, "getpid", lambda: real_pid + 1)
            with pytest.raises(StoreUnavailable, match="was deleted"):
                store.load("CA1")
        # ...nor one started after the loss: the marker says a database was here.
        later = SqliteStore(store.path)
        with pytest.raises(StoreUnavailable, match="is missing, though this store was created here"):
            later.save("CA2", b"x", 0, TTL)
        later.close()
    assert not os.path.exists(store.path)
    lines = lost_lines(caplog)
    assert lines == [f"SQLite store file {store.path} was deleted while the service used it; nothing is created "
                     "in its place: restore it (without the -wal and -shm files left beside it) and restart the "
                     "service; until then every read and write fails",
                     f"SQLite store file {store.path} is missing, though this store was created here (see "
                     "ivr.sqlite3.created); nothing is created in its place: restore it (without the -wal and -shm "
                     "files left beside it) and restart the service, or remove the marker to begin with an empty "
                     "store; until then every read and write fails"]


def test_a_replaced_database_is_refused_until_a_restart(store, tmp_path, caplog):
    other = SqliteStore(str(tmp_path / "elsewhere" / "ivr.sqlite3"))
    assert other.save("CA1", b"from elsewhere", 0, TTL)
    other.close()
    os.replace(other.path, store.path)
    with caplog.at_level(logging.ERROR, logger=STORE_LOG):
        every_use_fails(store, "was replaced by another file")
    assert len(lost_lines(caplog)) == 1
    store.close()  # as the message says: stop, remove the old side files, start
    for side in files_of(store)[1:]:
        side.unlink(missing_ok=True)
    restarted = SqliteStore(store.path)
    try:
        assert restarted.load("CA1") == (b"from elsewhere", 1)
    finally:
        restarted.close()


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_a_deleted_side_file_is_noticed_by_the_next_write(store, suffix, caplog):
    with caplog.at_level(logging.ERROR, logger=STORE_LOG):
        os.unlink(store.path + suffix)
        every_write_fails(store, f"{suffix} was deleted")  # reads go on in the file this process has open
    assert len(lost_lines(caplog)) == 1


def test_side_files_sqlite_removes_when_every_connection_closed_are_no_loss(store):
    store.close()  # the last connection: SQLite removes the -wal and -shm files
    assert not os.path.exists(store.path + "-wal")
    assert store.load("CA1") == (b"first", 1)  # new ones, learned again
    assert store.save("CA1", b"second", 1, TTL)


def test_the_marker_removed_lets_an_empty_store_begin(store):
    store.close()
    os.unlink(store.path)
    os.unlink(store.marker)
    fresh = SqliteStore(store.path)
    try:
        assert fresh.load("CA1") == (None, 0)
        assert os.path.exists(fresh.marker)
    finally:
        fresh.close()


def test_workers_starting_together_on_a_new_folder_share_one_file(tmp_path):
    path = str(tmp_path / "instance" / "ivr.sqlite3")
    stores = [SqliteStore(path) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def start(store: SqliteStore, n: int) -> None:
        try:
            barrier.wait()
            assert store.save(f"CA{n}", b"x", 0, TTL)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(store, n)) for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert all(stores[0].load(f"CA{n}") == (b"x", 1) for n in range(len(stores)))
    finally:
        for store in stores:
            store.close()


# -- writable, bounded -------------------------------------------------------------------------

def test_check_writable_is_a_real_write_given_up_within_its_bound_on_a_locked_database(store):
    assert store.check_writable(0.5) is True
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        assert store.load("CA1") == (b"first", 1)  # reads still answer: ping would say all is well
        assert store.ping() is True
        started = time.monotonic()
        assert store.check_writable(0.2) is False
        assert 0.15 < time.monotonic() - started < 1.5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.check_writable(0.5) is True
    assert store.save("CA1", b"second", 1, TTL)  # the usual patience is back for the turns


# -- over HTTP ----------------------------------------------------------------------------------

def to_voicemail(call: Call) -> None:
    call.start()
    call.press("1")  # English
    call.press("3")  # a care coordinator
    call.dial_done("no-answer", "false")
    root = call.press("1")  # leave a message
    assert root.find("Record") is not None


def test_a_voicemail_left_after_the_file_was_deleted_hears_the_apology_and_the_log_says_why(make_app, caplog):
    app = make_app()
    store = app.extensions["ivr"].store
    call = Call(app)
    to_voicemail(call)
    os.unlink(store.path)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        done = call.recorded(17)
    assert_apology(done)
    assert not any("saved" in text for text in says(done))
    assert [r.getMessage() for r in caplog.records if r.name == STORE_LOG] == [
        f"SQLite store file {store.path} was deleted while the service used it; nothing is created in its place: "
        "restore it (without the -wal and -shm files left beside it) and restart the service; until then every "
        "read and write fails"]
    turn_lines = [r.getMessage() for r in caplog.records if r.name == "ivr.calls"]
    assert len(turn_lines) == 1 and '"outcome":"store-unavailable"' in turn_lines[0]
    assert not os.path.exists(store.path)
    health = app.test_client().get("/healthz")
    assert health.status_code == 503 and health.get_json()["store"] == "not writable"


def test_healthz_answers_503_within_its_bound_while_another_process_holds_the_database_locked(make_app):
    app = make_app(HEALTH_WRITE_SECONDS=0.2)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    holder = sqlite3.connect(app.extensions["ivr"].store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        health = client.get("/healthz")
        assert time.monotonic() - started < 1.5
        assert health.status_code == 503
        body = health.get_json()
        assert body["store"] == "not writable" and body["flow_problems"] == [] and body["flows"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/healthz").status_code == 200
