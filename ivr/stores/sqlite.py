"""Call state in one SQLite file: the embedded default for a single machine.

Several gunicorn workers (processes) and their threads share the file. Each thread
of each process gets its own connection, opened on first use, because SQLite
connections must not be shared across threads without care nor carried across
fork(). WAL mode lets readers proceed while one writer commits; busy_timeout makes
a writer wait its turn instead of failing. Every save takes the write lock up front
(BEGIN IMMEDIATE) so the check-then-write of the compare-and-set is atomic across
processes. Expired rows count as absent and are purged when a new call is stored.

Any error of SQLite or of the file system becomes StoreUnavailable, in one place (`_Unavailable`).
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from ivr.stores.protocols import (
    DEAD,
    DONE,
    PENDING,
    OutboxItem,
    StoreUnavailable,
    check_availability,
    check_claim,
    check_item,
    check_list,
    check_outbox,
    check_purge,
    check_record,
    check_requeue,
    check_retry,
)

PURGE_BATCH = 100  # expired rows removed per new call: bounded work on the hot path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ivr_call (
    call_sid TEXT PRIMARY KEY,
    blob BLOB NOT NULL,
    version INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ivr_call_expires_at ON ivr_call (expires_at);
CREATE TABLE IF NOT EXISTS ivr_value (
    name TEXT PRIMARY KEY,
    blob BLOB NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ivr_record (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    blob BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ivr_record_kind_created_at ON ivr_record (kind, created_at);
CREATE INDEX IF NOT EXISTS ivr_record_created_at ON ivr_record (created_at);
CREATE TABLE IF NOT EXISTS ivr_availability (
    name TEXT PRIMARY KEY,
    available INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ivr_outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    due_at REAL NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ivr_outbox_state_due_at ON ivr_outbox (state, due_at, id);
"""

_OUTBOX_COLUMNS = "id, kind, payload, attempts, state, due_at, note, last_error"


def _item(row: tuple) -> OutboxItem:
    return OutboxItem(row[0], row[1], bytes(row[2]), row[3], row[4], row[5], row[6], row[7])


class _Unavailable:
    """A `with` block in which an error of SQLite or of the file system (opening a file in a
    folder that cannot exist, a corrupt file, a full disk) becomes StoreUnavailable."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, (sqlite3.Error, OSError)):
            raise StoreUnavailable(f"SQLite store {self.path!r}: {exc}") from exc


class _ProcessConnections:
    """The connections one process opened, by thread."""

    def __init__(self, pid: int):
        self.pid = pid
        self.lock = threading.Lock()
        self.by_thread: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}


class SqliteStore:
    """Every store role in a SQLite file, safe across threads and forked worker processes."""

    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_ms: int = 5000,
    ):
        self.path = path
        self._unavailable = _Unavailable(path)
        self._clock = clock
        self._busy_timeout_ms = busy_timeout_ms
        self._conns = _ProcessConnections(os.getpid())
        # Connections inherited from a parent process: never used or closed here, since
        # closing them in the child could release the parent's locks; just kept alive.
        self._inherited: list[_ProcessConnections] = []

    def _open(self) -> sqlite3.Connection:
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
        # check_same_thread=False only so close() may close other threads' connections;
        # each connection is otherwise used by the thread that opened it.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            self._use_wal(conn)
            # NORMAL is durable against crashes of the app in WAL mode; call state is short-lived.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        # WAL is a property of the file, so usually it is already on. Switching needs an
        # exclusive lock and SQLite does not call the busy handler for it: when several
        # workers open a new file at once, wait for the lock by hand.
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            if mode != "wal":
                raise sqlite3.OperationalError(f"cannot use WAL journal mode, got {mode!r}")
            return

    def _connection(self) -> sqlite3.Connection:
        conns = self._conns
        pid = os.getpid()
        if conns.pid != pid:
            self._inherited.append(conns)
            conns = self._conns = _ProcessConnections(pid)
        me = threading.current_thread()
        entry = conns.by_thread.get(me.ident)  # type: ignore[arg-type]
        if entry is not None and entry[0] is me:
            return entry[1]
        conn = self._open()
        with conns.lock:
            # Threads come and go (e.g. a thread per request): close what dead ones left.
            for ident, (thread, old) in list(conns.by_thread.items()):
                if not thread.is_alive():
                    old.close()
                    del conns.by_thread[ident]
            conns.by_thread[me.ident] = (me, conn)  # type: ignore[index]
        return conn

    def load(self, call_sid: str) -> tuple[bytes | None, int]:
        """The call's blob and version; (None, 0) when absent or expired."""
        with self._unavailable:
            row = self._connection().execute(
                "SELECT blob, version FROM ivr_call WHERE call_sid = ? AND expires_at > ?", (call_sid, self._clock())
            ).fetchone()
        return (bytes(row[0]), row[1]) if row else (None, 0)

    def save(self, call_sid: str, blob: bytes, expected_version: int, ttl_seconds: float) -> bool:
        """Compare-and-set: store as expected_version + 1 if the version still matches."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        now = self._clock()
        expires_at = now + ttl_seconds
        with self._transaction() as conn:
            if expected_version == 0:
                return self._insert(conn, call_sid, blob, now, expires_at)
            return conn.execute(
                "UPDATE ivr_call SET blob = ?, version = version + 1, expires_at = ?"
                " WHERE call_sid = ? AND version = ? AND expires_at > ?",
                (blob, expires_at, call_sid, expected_version, now),
            ).rowcount == 1

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the lock from its start (BEGIN IMMEDIATE)."""
        with self._unavailable:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _insert(
        conn: sqlite3.Connection, call_sid: str, blob: bytes, now: float, expires_at: float
    ) -> bool:
        # An expired row is absent: drop it (and a batch of others) before claiming version 1.
        conn.execute(
            "DELETE FROM ivr_call WHERE call_sid IN"
            " (SELECT call_sid FROM ivr_call WHERE expires_at <= ? LIMIT ?)",
            (now, PURGE_BATCH),
        )
        conn.execute("DELETE FROM ivr_call WHERE call_sid = ? AND expires_at <= ?", (call_sid, now))
        cursor = conn.execute(
            "INSERT INTO ivr_call (call_sid, blob, version, expires_at) VALUES (?, ?, 1, ?)"
            " ON CONFLICT (call_sid) DO NOTHING",
            (call_sid, blob, expires_at),
        )
        return cursor.rowcount == 1

    def put_value(self, name: str, blob: bytes, ttl_seconds: float | None) -> None:
        """Keep a shared value, replacing any before (None: without expiry)."""
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        with self._unavailable:
            self._connection().execute(
                "INSERT INTO ivr_value (name, blob, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET blob = excluded.blob, expires_at = excluded.expires_at",
                (name, blob, math.inf if ttl_seconds is None else self._clock() + ttl_seconds),
            )

    def get_value(self, name: str) -> bytes | None:
        """A shared value, or None when absent or expired."""
        with self._unavailable:
            row = self._connection().execute(
                "SELECT blob FROM ivr_value WHERE name = ? AND expires_at > ?", (name, self._clock())
            ).fetchone()
        return bytes(row[0]) if row else None

    def add_record(self, record_id: str, kind: str, created_at: float, blob: bytes) -> bool:
        """Keep a durable record; True if new, False if the id was taken (nothing changes)."""
        check_record(record_id, kind, created_at)
        return self._change(
            "INSERT INTO ivr_record (id, kind, created_at, blob) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (record_id, kind, float(created_at), blob),
        )

    def get_record(self, record_id: str) -> tuple[str, float, bytes] | None:
        """A record's (kind, created_at, blob), or None."""
        with self._unavailable:
            row = self._connection().execute(
                "SELECT kind, created_at, blob FROM ivr_record WHERE id = ?", (record_id,)
            ).fetchone()
        return (row[0], row[1], bytes(row[2])) if row else None

    def list_records(
        self, kind: str | None = None, limit: int = 100, before: float | None = None
    ) -> list[tuple[str, str, float, bytes]]:
        """Records as (id, kind, created_at, blob), newest first, ties by greater id first."""
        check_list(limit, before)
        where: list[str] = []
        params: list[object] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if before is not None:
            where.append("created_at < ?")
            params.append(float(before))
        sql = "SELECT id, kind, created_at, blob FROM ivr_record"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._unavailable:
            rows = self._connection().execute(sql, (*params, limit)).fetchall()
        return [(row[0], row[1], row[2], bytes(row[3])) for row in rows]

    def set_availability(self, name: str, available: bool, at: float) -> None:
        """Record someone's availability; the same state again keeps the time it changed."""
        check_availability(name, at)
        self._change(
            "INSERT INTO ivr_availability (name, available, at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET available = excluded.available, at = excluded.at"
            " WHERE available != excluded.available",
            (name, int(bool(available)), float(at)),
        )

    def availability(self) -> dict[str, tuple[bool, float]]:
        """name -> (available, when it changed), for everyone ever set."""
        with self._unavailable:
            rows = self._connection().execute("SELECT name, available, at FROM ivr_availability ORDER BY name").fetchall()
        return {name: (bool(available), at) for name, available, at in rows}

    def enqueue(self, item_id: str, kind: str, payload: bytes, due_at: float) -> bool:
        """Add a pending outbox item; True if new, False if the id was taken (nothing changes)."""
        check_item(item_id, kind, due_at)
        return self._change(
            "INSERT INTO ivr_outbox (id, kind, payload, attempts, state, due_at) VALUES (?, ?, ?, 0, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (item_id, kind, payload, PENDING, float(due_at)),
        )

    def claim(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        """Lease up to `limit` due pending items to the caller, in one write transaction."""
        check_claim(now, lease_seconds, limit)
        if limit == 0:
            return []
        until = float(now) + lease_seconds
        # The write lock up front: another process's claim waits for this one to commit,
        # then sees these items leased into the future.
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM ivr_outbox WHERE state = ? AND due_at <= ?"
                " ORDER BY due_at, id LIMIT ?",
                (PENDING, float(now), limit),
            ).fetchall()
            conn.executemany(
                "UPDATE ivr_outbox SET attempts = attempts + 1, due_at = ? WHERE id = ?",
                [(until, row[0]) for row in rows],
            )
        return [_item((*row[:3], row[3] + 1, row[4], until, *row[6:])) for row in rows]

    def _change(self, sql: str, params: tuple) -> bool:
        """Run one write; whether it changed a row."""
        with self._unavailable:
            return self._connection().execute(sql, params).rowcount == 1

    def complete(self, item_id: str, note: str = "") -> bool:
        """Mark an item done; False if unknown or already done (its first note is kept)."""
        return self._change(
            "UPDATE ivr_outbox SET state = ?, note = ? WHERE id = ? AND state != ?", (DONE, note, item_id, DONE)
        )

    def retry(self, item_id: str, due_at: float, error: str, attempt: int | None = None) -> bool:
        """Leave a pending item for another attempt at due_at (if still at `attempt`, when given)."""
        check_retry(due_at)
        return self._change(
            "UPDATE ivr_outbox SET due_at = ?, last_error = ? WHERE id = ? AND state = ?"
            " AND (? IS NULL OR attempts = ?)",
            (float(due_at), error, item_id, PENDING, attempt, attempt),
        )

    def give_up(self, item_id: str, error: str, attempt: int | None = None) -> bool:
        """Mark a pending item dead (if still at `attempt`, when given)."""
        return self._change(
            "UPDATE ivr_outbox SET state = ?, last_error = ? WHERE id = ? AND state = ?"
            " AND (? IS NULL OR attempts = ?)",
            (DEAD, error, item_id, PENDING, attempt, attempt),
        )

    def requeue(self, item_id: str, due_at: float) -> bool:
        """Put a dead item back to pending at due_at with no attempts; False if it was not dead."""
        check_requeue(item_id, due_at)
        return self._change(
            "UPDATE ivr_outbox SET state = ?, attempts = 0, due_at = ? WHERE id = ? AND state = ?",
            (PENDING, float(due_at), item_id, DEAD),
        )

    def purge(self, state: str, before: float, limit: int) -> int:
        """Delete up to `limit` done or dead items due before `before`, soonest first, in one transaction."""
        check_purge(state, before, limit)
        if limit == 0:
            return 0
        with self._transaction() as conn:
            return conn.execute(
                "DELETE FROM ivr_outbox WHERE id IN (SELECT id FROM ivr_outbox WHERE state = ? AND due_at < ?"
                " ORDER BY due_at, id LIMIT ?)",
                (state, float(before), limit),
            ).rowcount

    def outbox(self, state: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Items of one state or all, by due_at then id."""
        check_outbox(state, limit)
        where, params = ("WHERE state = ? ", (state,)) if state is not None else ("", ())
        with self._unavailable:
            rows = self._connection().execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM ivr_outbox {where}ORDER BY due_at, id LIMIT ?", (*params, limit)
            ).fetchall()
        return [_item(row) for row in rows]

    def ping(self) -> bool:
        """Whether the database file can be opened and queried; never raises."""
        try:
            self._connection().execute("SELECT 1 FROM ivr_call LIMIT 1").fetchall()
        except Exception:
            return False
        return True

    def describe(self) -> str:
        """The file, as a sqlite:/// URL."""
        return f"sqlite:///{os.path.abspath(self.path).lstrip('/')}"

    def close(self) -> None:
        """Close every connection this process opened (threads reconnect on next use)."""
        conns = self._conns
        if conns.pid != os.getpid():
            return
        with conns.lock:
            for _thread, conn in conns.by_thread.values():
                conn.close()
            conns.by_thread.clear()
