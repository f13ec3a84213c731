"""The console's roles in the SQLite file: accounts, the audit log, the worklist, sign-in
limits, throttles and the live board, each in tables of its own (`DESK_SCHEMA`).

A mixin of `SqliteStore`: it uses the store's per-thread connection, its write transaction
and its one converter of errors into StoreUnavailable. The audit table refuses UPDATE and
DELETE with triggers, so even a hand-written statement cannot rewrite history.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from ivr.stores.protocols import (
    BOARD_KEEP_SECONDS, WORK_STATES, Account, AuditEvent, BoardMove, WorkItem, WorkKey,
    account_from_json, account_json, check_account, check_list, check_work_items, check_work_key,
    check_work_states, check_work_update,
)

PURGE_BATCH = 100

DESK_SCHEMA = """
CREATE TABLE IF NOT EXISTS ivr_account (
    name TEXT PRIMARY KEY,
    blob TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ivr_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    record TEXT NOT NULL,
    address TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ivr_audit_user ON ivr_audit (user, seq);
CREATE TRIGGER IF NOT EXISTS ivr_audit_no_update BEFORE UPDATE ON ivr_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ivr_audit_no_delete BEFORE DELETE ON ivr_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS ivr_work (
    id TEXT PRIMARY KEY,
    ref TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    team TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,
    by_name TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    note TEXT NOT NULL,
    changed_at REAL NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ivr_work_queue ON ivr_work (state, team, kind, created_at, id);
CREATE INDEX IF NOT EXISTS ivr_work_time ON ivr_work (state, created_at, id);
CREATE TABLE IF NOT EXISTS ivr_signin (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last_at REAL NOT NULL,
    until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ivr_throttle (
    key TEXT PRIMARY KEY,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ivr_board (
    call_sid TEXT PRIMARY KEY,
    stage TEXT,
    since REAL NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ivr_board_started ON ivr_board (started_at);
"""

_WORK_COLUMNS = "id, ref, kind, team, created_at, state, by_name, attempts, note, changed_at, version"


def _work(row: tuple) -> WorkItem:
    return WorkItem(*row)


def _in(column: str, values: tuple[str, ...] | None, where: list[str], params: list[Any]) -> None:
    if values is not None:
        where.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
        params.extend(values)


def move_on_board(conn: sqlite3.Connection, call_sid: str, move: BoardMove) -> None:
    """Move a call on the board, inside the caller's transaction (a save's, for a turn)."""
    if move.stage is None:
        conn.execute("UPDATE ivr_board SET stage = NULL WHERE call_sid = ?", (call_sid,))
        return
    at = float(move.at)
    conn.execute("DELETE FROM ivr_board WHERE call_sid IN"
                 " (SELECT call_sid FROM ivr_board WHERE started_at < ? LIMIT ?)",
                 (at - BOARD_KEEP_SECONDS, PURGE_BATCH))
    conn.execute("INSERT INTO ivr_board (call_sid, stage, since, started_at) VALUES (?, ?, ?, ?)"
                 " ON CONFLICT (call_sid) DO UPDATE SET stage = excluded.stage, since = excluded.since",
                 (call_sid, move.stage, at, at))


def _from(key: WorkKey | None, side: str, where: list[str], params: list[Any]) -> None:
    """Only items after (`>`) or ahead of (`<`) a key: ids compare as bytes (TEXT's BINARY collation)."""
    if key is not None:
        where.append(f"(created_at, id) {side} (?, ?)")
        params.extend((float(key[0]), key[1]))


class SqliteDesk:
    """The console's roles, over the connection and transaction of the store it is mixed into."""

    _unavailable: AbstractContextManager[None]

    def _connection(self) -> sqlite3.Connection:  # pragma: no cover - the store's
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover - the store's
        raise NotImplementedError

    def _rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._unavailable:
            return self._connection().execute(sql, params).fetchall()

    def _write(self, sql: str, params: tuple | list = ()) -> int:
        with self._unavailable:
            return self._connection().execute(sql, params).rowcount

    # -- accounts ----------------------------------------------------------------------
    def add_account(self, account: Account) -> bool:
        """Keep a new account; False if the name is taken."""
        check_account(account)
        return self._write("INSERT INTO ivr_account (name, blob) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                           (account.name, account_json(account))) == 1

    def put_account(self, account: Account) -> None:
        """Replace (or keep) an account."""
        check_account(account)
        self._write("INSERT INTO ivr_account (name, blob) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET blob = excluded.blob", (account.name, account_json(account)))

    def get_account(self, name: str) -> Account | None:
        """The account, or None."""
        rows = self._rows("SELECT blob FROM ivr_account WHERE name = ?", (name,))
        return account_from_json(rows[0][0]) if rows else None

    def accounts(self) -> list[Account]:
        """Every account, by name."""
        return [account_from_json(row[0]) for row in self._rows("SELECT blob FROM ivr_account ORDER BY name")]

    # -- the audit log -----------------------------------------------------------------
    def audit(self, event: AuditEvent) -> None:
        """Append an event."""
        self._write("INSERT INTO ivr_audit (at, user, role, action, record, address, detail)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (float(event.at), event.user, event.role, event.action, event.record, event.address, event.detail))

    def audit_events(self, since: float | None = None, user: str | None = None,
                     limit: int = 100) -> list[AuditEvent]:
        """Newest first, at or after `since`, of `user`, at most `limit`."""
        check_list(limit, since)
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("at >= ?")
            params.append(float(since))
        if user is not None:
            where.append("user = ?")
            params.append(user)
        sql = "SELECT at, user, role, action, record, address, detail FROM ivr_audit"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC LIMIT ?"
        return [AuditEvent(*row) for row in self._rows(sql, (*params, limit))]

    # -- the worklist ------------------------------------------------------------------
    def track(self, item: WorkItem) -> bool:
        """Put a record on the worklist unless it is there."""
        check_work_states((item.state,))
        return self._write(f"INSERT INTO ivr_work ({_WORK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                           " ON CONFLICT DO NOTHING",
                           (item.id, item.ref, item.kind, item.team, float(item.created_at), item.state, item.by,
                            item.attempts, item.note, float(item.changed_at), item.version)) == 1

    def work_item(self, record_id: str) -> WorkItem | None:
        """The item, or None."""
        rows = self._rows(f"SELECT {_WORK_COLUMNS} FROM ivr_work WHERE id = ?", (record_id,))
        return _work(rows[0]) if rows else None

    def work_item_by_ref(self, ref: str) -> WorkItem | None:
        """The item with that ref, or None."""
        rows = self._rows(f"SELECT {_WORK_COLUMNS} FROM ivr_work WHERE ref = ?", (ref,))
        return _work(rows[0]) if rows else None

    def work_ids(self, prefix: str, limit: int) -> list[str]:
        """Ids starting with `prefix`, in id order."""
        check_list(limit, None)
        rows = self._rows("SELECT id FROM ivr_work WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT ?",
                          (len(prefix), prefix, limit))
        return [row[0] for row in rows]

    def update_work(self, old: WorkItem, new: WorkItem) -> bool:
        """Compare-and-set on the version."""
        check_work_update(old, new)
        return self._write("UPDATE ivr_work SET state = ?, by_name = ?, attempts = ?, note = ?, changed_at = ?,"
                           " version = ? WHERE id = ? AND version = ?",
                           (new.state, new.by, new.attempts, new.note, float(new.changed_at), new.version,
                            old.id, old.version)) == 1

    def work_items(self, states: tuple[str, ...], teams: tuple[str, ...] | None = None,
                   kinds: tuple[str, ...] | None = None, limit: int = 100,
                   before: float | None = None, after: WorkKey | None = None,
                   ahead_of: WorkKey | None = None) -> list[WorkItem]:
        """One query on the worklist's index (see `Worklist` in protocols for the order and the
        keys)."""
        check_work_items(states, limit, before, after, ahead_of)
        where: list[str] = []
        params: list[Any] = []
        _in("state", states, where, params)
        _in("team", teams, where, params)
        _in("kind", kinds, where, params)
        if before is not None:
            where.append("created_at < ?")
            params.append(float(before))
        _from(after, ">", where, params)
        _from(ahead_of, "<", where, params)
        order = "created_at DESC, id DESC" if ahead_of is not None else "created_at, id"
        rows = self._rows(f"SELECT {_WORK_COLUMNS} FROM ivr_work WHERE {' AND '.join(where)}"
                          f" ORDER BY {order} LIMIT ?", (*params, limit))
        items = [_work(row) for row in rows]
        return items[::-1] if ahead_of is not None else items

    def work_counts(self, teams: tuple[str, ...] | None = None,
                    kinds: tuple[str, ...] | None = None, ahead_of: WorkKey | None = None) -> dict[str, int]:
        """Items per state (ahead of a key, with one)."""
        check_work_key(ahead_of)
        where: list[str] = []
        params: list[Any] = []
        _in("team", teams, where, params)
        _in("kind", kinds, where, params)
        _from(ahead_of, "<", where, params)
        sql = "SELECT state, COUNT(*) FROM ivr_work" + (" WHERE " + " AND ".join(where) if where else "")
        counts = dict.fromkeys(WORK_STATES, 0)
        counts.update({state: count for state, count in self._rows(sql + " GROUP BY state", params)})
        return counts

    def untrack(self, old: WorkItem) -> bool:
        """Take an item off the worklist if it is still at `old`'s version."""
        return self._write("DELETE FROM ivr_work WHERE id = ? AND version = ?", (old.id, old.version)) == 1

    def get_records(self, record_ids: list[str]) -> dict[str, tuple[str, float, bytes]]:
        """The records that exist among those ids."""
        found: dict[str, tuple[str, float, bytes]] = {}
        for start in range(0, len(record_ids), 500):
            chunk = record_ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._rows(f"SELECT id, kind, created_at, blob FROM ivr_record WHERE id IN ({marks})", chunk)
            found.update({row[0]: (row[1], row[2], bytes(row[3])) for row in rows})
        return found

    def delete_record(self, record_id: str, kind: str) -> bool:
        """Delete a durable record."""
        return self._write("DELETE FROM ivr_record WHERE id = ? AND kind = ?", (record_id, kind)) == 1

    # -- sign-in limits and throttles ----------------------------------------------------
    def count_failure(self, key: str, at: float, keep_seconds: float) -> int:
        """One more failure in a row (a streak past its time starts over)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM ivr_signin WHERE key IN (SELECT key FROM ivr_signin WHERE until <= ? LIMIT ?)",
                         (float(at), PURGE_BATCH))
            conn.execute("INSERT INTO ivr_signin (key, count, last_at, until) VALUES (?, 1, ?, ?)"
                         " ON CONFLICT (key) DO UPDATE SET count = count + 1, last_at = excluded.last_at,"
                         " until = excluded.until", (key, float(at), float(at) + keep_seconds))
            return int(conn.execute("SELECT count FROM ivr_signin WHERE key = ?", (key,)).fetchone()[0])

    def failures(self, key: str, at: float) -> tuple[int, float]:
        """(failures in a row, the last one's time), or (0, 0.0)."""
        rows = self._rows("SELECT count, last_at FROM ivr_signin WHERE key = ? AND until > ?", (key, float(at)))
        return (int(rows[0][0]), float(rows[0][1])) if rows else (0, 0.0)

    def clear_failures(self, key: str) -> None:
        """End the streak."""
        self._write("DELETE FROM ivr_signin WHERE key = ?", (key,))

    def throttle(self, key: str, at: float, seconds: float) -> bool:
        """True (noting `at`) if nothing passed for key in the last `seconds`."""
        return self._write("INSERT INTO ivr_throttle (key, at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                           " SET at = excluded.at WHERE excluded.at - ivr_throttle.at >= ?",
                           (key, float(at), float(seconds))) == 1

    # -- the live board ----------------------------------------------------------------
    def board_note(self, call_sid: str, stage: str, at: float) -> None:
        """The call is at `stage` since `at`."""
        with self._transaction() as conn:
            move_on_board(conn, call_sid, BoardMove(stage, at))

    def board_end(self, call_sid: str) -> None:
        """Off the board; still counted as started."""
        with self._transaction() as conn:
            move_on_board(conn, call_sid, BoardMove(None, 0.0))

    def board(self, started_since: float, live_since: float) -> tuple[list[tuple[str, float]], int]:
        """Live calls by stage, and calls started since a time."""
        live = self._rows("SELECT stage, since FROM ivr_board WHERE stage IS NOT NULL AND since >= ?"
                          " ORDER BY since, call_sid", (float(live_since),))
        started = self._rows("SELECT COUNT(*) FROM ivr_board WHERE started_at >= ?", (float(started_since),))
        return [(stage, since) for stage, since in live], int(started[0][0])

