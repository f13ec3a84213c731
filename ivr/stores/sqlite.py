"""Call state in one SQLite file: the embedded default for a single machine.

Several gunicorn workers (processes) and their threads share the file. Each thread
of each process gets its own connection, opened on first use, because SQLite
connections must not be shared across threads without care nor carried across
fork(). WAL mode lets readers proceed while one writer commits; busy_timeout makes
a writer wait its turn instead of failing. Every save takes the write lock up front
(BEGIN IMMEDIATE) so the check-then-write of the compare-and-set is atomic across
processes. Expired rows count as absent and are purged when a new call is stored.

Any error of SQLite or of the file system becomes StoreUnavailable, in one place (`_Unavailable`).

The files hold member ids and dates of birth, so they are the service's user's alone: the
database is created 0600 (SQLite gives its -wal and -shm files the database's mode) in a
folder created 0700. A folder or file left open to others, as earlier releases left them, is
tightened on first use, with a log line, rather than refused: a refusal would take the line
off the air at the upgrade for a fix the service can make itself. Only when it cannot (the
folder is another user's) does it refuse, naming the chmod to run. Give the store a folder
of its own: the folder of the file a sqlite:/// URL names is tightened too.

A store uses one set of files for its whole life, in every thread and forked worker: the
database it first opened (by inode), and the -wal and -shm files there while it holds a
connection (SQLite removes them only when the last connection closes). Every use checks the
database first, and every write the -wal and -shm too (a stat each, 2-3 us); a file deleted
or replaced under the service is logged once, and from then on the uses that check it raise
StoreUnavailable: the caller hears the apology, never "saved" into a file no one else sees.
Nothing is ever created in its place: a marker (`<database>.created`) records that the
database existed, so a worker started later does not make a fresh, empty one that only it
would use. Restore the file and restart the service (or remove the marker to begin with an
empty store).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import NoReturn
from urllib.parse import quote

from ivr.stores import protocols
from ivr.stores.protocols import DEAD, DONE, PENDING, BoardMove, OutboxItem, StoreUnavailable
from ivr.stores.sqlite_desk import DESK_SCHEMA, SqliteDesk, move_on_board

log = logging.getLogger("ivr.stores")

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

FOLDER_MODE, FILE_MODE = 0o700, 0o600
MARKER_SUFFIX = ".created"
SIDE_FILES = ("-wal", "-shm")
WRITABLE_CHECK = "store:writable-check"  # the shared value check_writable writes
WRITABLE_CHECK_TTL = 60.0


def _item(row: tuple) -> OutboxItem:
    return OutboxItem(row[0], row[1], bytes(row[2]), row[3], row[4], row[5], row[6], row[7])


def _identity(path: str) -> tuple[int, int] | None:
    """The file's (device, inode), or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _private(path: str, mode: int) -> None:
    """Take away every permission of others on a file or folder (group and world), or refuse."""
    current = stat.S_IMODE(os.stat(path).st_mode)
    if not current & 0o077:
        return
    try:
        os.chmod(path, current & mode)
    except PermissionError:
        raise StoreUnavailable(f"{path} is open to other users (mode {current:04o}) and this user cannot change "
                               f"that; it holds member records: run chmod {mode:o} {path}, or use another folder") \
            from None
    log.warning("%s was open to other users (mode %04o); now %04o: it holds member records",
                path, current, current & mode)


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


class SqliteStore(SqliteDesk):
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
        self.marker = path + MARKER_SUFFIX
        # The files this store uses, each with the (device, inode) it had when first opened:
        # the database for good, then its -wal and -shm while this process holds a connection.
        self._files: tuple[tuple[str, tuple[int, int]], ...] = ()
        self._lost_lock = threading.Lock()
        self._reported: set[str] = set()

    def _open(self, alone: bool) -> sqlite3.Connection:
        """A new connection to this store's files; `alone`: the process holds no other."""
        if self._files:
            # Alone, the side files may have gone with the last connection: they are learned again.
            self._check_files(self._files[:1] if alone else self._files)
        else:
            self._prepare()
        # mode=rw: SQLite never creates the file (only _prepare does, once).
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
        # check_same_thread=False only so close() may close other threads' connections;
        # each connection is otherwise used by the thread that opened it.
        conn = sqlite3.connect(
            f"file:{quote(self.path)}?mode=rw",
            uri=True,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            self._use_wal(conn)
            # NORMAL is durable against crashes of the app in WAL mode; call state is short-lived.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA + DESK_SCHEMA)  # reads the database: its -wal and -shm exist from here on
            self._learn_files(alone)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self) -> None:
        """Before the first connection: the folder 0700, the database 0600, created only if this
        store never had one (the marker says it had)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, mode=FOLDER_MODE, exist_ok=True)
        _private(folder, FOLDER_MODE)
        # The marker is written after the database: seen first, it means the database existed.
        marked = os.path.exists(self.marker)
        if not os.path.exists(self.path):
            if marked:
                self._lost(self.path, "is missing, though this store was created here (see "
                           f"{os.path.basename(self.marker)}); nothing is created in its place: restore it (without "
                           "the -wal and -shm files left beside it) and restart the service, or remove the marker to "
                           "begin with an empty store")
            try:
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
            except FileExistsError:
                pass  # another worker created it first
        for path in (self.path, *(self.path + suffix for suffix in SIDE_FILES)):
            if os.path.exists(path):
                _private(path, FILE_MODE)
        if not os.path.exists(self.marker):
            with open(os.open(self.marker, os.O_WRONLY | os.O_CREAT, FILE_MODE), "w", encoding="utf-8") as marker:
                marker.write(f"The store {os.path.basename(self.path)} was created here. While this file exists, a "
                             "missing database is an error: it is never created again.\n")

    def _learn_files(self, alone: bool) -> None:
        """Remember the files just opened: the database the first time, the -wal and -shm
        whenever no other connection of this process kept them."""
        if self._files and not alone:
            return
        if self._files:
            files = [self._files[0]]
        else:
            identity = _identity(self.path)
            if identity is None:
                raise sqlite3.OperationalError("the database file went away as it was opened")
            files = [(self.path, identity)]
        for path in (self.path + suffix for suffix in SIDE_FILES):
            identity = _identity(path)
            if identity is not None:
                files.append((path, identity))
        self._files = tuple(files)

    def _check_files(self, files: tuple[tuple[str, tuple[int, int]], ...]) -> None:
        """Raise StoreUnavailable (logged once) if one of these files was deleted or replaced."""
        for path, identity in files:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                self._lost(path, "was deleted while the service used it; nothing is created in its place: restore "
                           "it (without the -wal and -shm files left beside it) and restart the service")
            if (st.st_dev, st.st_ino) != identity:
                self._lost(path, "was replaced by another file while the service used it; stop the service, remove "
                           "the -wal and -shm files the old one left, and start it again to use the new one")

    def _lost(self, path: str, what: str) -> NoReturn:
        message = f"SQLite store file {path} {what}; until then every read and write fails"
        with self._lost_lock:
            first = message not in self._reported
            self._reported.add(message)
        if first:
            log.error(message)
        raise StoreUnavailable(message)

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

    def _connection(self, write: bool = False) -> sqlite3.Connection:
        """This thread's connection, once the files are found unchanged: the database for any use,
        its -wal and -shm too for a write."""
        conns = self._conns
        pid = os.getpid()
        if conns.pid != pid:
            self._inherited.append(conns)
            conns = self._conns = _ProcessConnections(pid)
        me = threading.current_thread()
        entry = conns.by_thread.get(me.ident)  # type: ignore[arg-type]
        if entry is not None and entry[0] is me:
            self._check_files(self._files if write else self._files[:1])
            return entry[1]
        with conns.lock:
            alone = not conns.by_thread
        conn = self._open(alone)
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

    def save(self, call_sid: str, blob: bytes, expected_version: int, ttl_seconds: float,
             board: BoardMove | None = None) -> bool:
        """Compare-and-set: store as expected_version + 1 if the version still matches (and
        then move the call on the board, in the same transaction)."""
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        now = self._clock()
        expires_at = now + ttl_seconds
        with self._transaction() as conn:
            if expected_version == 0:
                saved = self._insert(conn, call_sid, blob, now, expires_at)
            else:
                saved = conn.execute(
                    "UPDATE ivr_call SET blob = ?, version = version + 1, expires_at = ?"
                    " WHERE call_sid = ? AND version = ? AND expires_at > ?",
                    (blob, expires_at, call_sid, expected_version, now),
                ).rowcount == 1
            if saved and board is not None:
                move_on_board(conn, call_sid, board)
            return saved

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the lock from its start (BEGIN IMMEDIATE)."""
        with self._unavailable:
            conn = self._connection(write=True)
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
        """Keep a shared value, replacing any before; with no TTL it never expires (+inf)."""
        protocols.check_ttl(ttl_seconds)
        expires_at = float("inf") if ttl_seconds is None else self._clock() + ttl_seconds
        with self._unavailable:
            self._connection(write=True).execute(
                "INSERT INTO ivr_value (name, blob, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET blob = excluded.blob, expires_at = excluded.expires_at",
                (name, blob, expires_at),
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
        protocols.check_record(record_id, kind, created_at)
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
        protocols.check_list(limit, before)
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
        protocols.check_availability(name, at)
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
        protocols.check_item(item_id, kind, due_at)
        return self._change(
            "INSERT INTO ivr_outbox (id, kind, payload, attempts, state, due_at) VALUES (?, ?, ?, 0, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (item_id, kind, payload, PENDING, float(due_at)),
        )

    def claim(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        """Lease up to `limit` due pending items to the caller, in one write transaction."""
        protocols.check_claim(now, lease_seconds, limit)
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
            return self._connection(write=True).execute(sql, params).rowcount == 1

    def complete(self, item_id: str, note: str = "") -> bool:
        """Mark an item done; False if unknown or already done (its first note is kept)."""
        return self._change(
            "UPDATE ivr_outbox SET state = ?, note = ? WHERE id = ? AND state != ?", (DONE, note, item_id, DONE)
        )

    def retry(self, item_id: str, due_at: float, error: str, attempt: int | None = None) -> bool:
        """Leave a pending item for another attempt at due_at (if still at `attempt`, when given)."""
        protocols.check_retry(due_at)
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
        protocols.check_requeue(item_id, due_at)
        return self._change(
            "UPDATE ivr_outbox SET state = ?, attempts = 0, due_at = ? WHERE id = ? AND state = ?",
            (PENDING, float(due_at), item_id, DEAD),
        )

    def purge(self, state: str, before: float, limit: int) -> int:
        """Delete up to `limit` done or dead items due before `before`, soonest first, in one transaction."""
        protocols.check_purge(state, before, limit)
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
        protocols.check_outbox(state, limit)
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

    def check_writable(self, timeout: float) -> bool:
        """Whether a write commits within about `timeout` seconds (the wait for a lock held
        elsewhere); never raises."""
        try:
            with self._unavailable:
                conn = self._connection()
                conn.execute(f"PRAGMA busy_timeout = {max(0, round(timeout * 1000))}")
                try:
                    with self._transaction() as conn:
                        conn.execute(
                            "INSERT INTO ivr_value (name, blob, expires_at) VALUES (?, x'', ?)"
                            " ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
                            (WRITABLE_CHECK, self._clock() + WRITABLE_CHECK_TTL),
                        )
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
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
