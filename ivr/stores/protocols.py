"""Where a call's state lives between webhooks: an opaque, versioned blob per CallSid.

Every save is a compare-and-set on the version the caller loaded, so two webhooks of
one call racing (a retried request, a status callback overlapping a turn) cannot
silently overwrite each other: the loser sees False and reloads. Records expire, so
an abandoned call's state goes away on its own.

The same store also keeps what must outlive a call: records (voicemails, callback
requests, ...) that are written once under an id the caller chooses and never expire,
and whether each coordinator is available.

And it is the outbox through which side effects (text messages, ride hand-offs) leave the
service: items written once under an id, leased to one worker at a time by `claim`, and
marked done, retried later or given up. A worker that dies mid-delivery leaves its items
leased; they come due again when the lease runs out. An admin may put a dead item back in
line (`requeue`) and delete old done or dead ones (`purge`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

DEFAULT_SQLITE_NAME = "ivr.sqlite3"

PENDING, DONE, DEAD = "pending", "done", "dead"
OUTBOX_STATES = (PENDING, DONE, DEAD)


class StoreUnavailable(Exception):
    """The backend cannot be reached; callers should take the safe route, not crash."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One side effect waiting to leave, or that left (done), or that never will (dead).

    `attempts` counts claims; `due_at` is when it may next be claimed (while a worker holds
    it: when that worker's lease runs out). `note` is what the last success recorded (a
    message SID, an HTTP status), `last_error` why the last attempt failed.
    """

    id: str
    kind: str
    payload: bytes
    attempts: int
    state: str
    due_at: float
    note: str = ""
    last_error: str = ""


@runtime_checkable
class CallStore(Protocol):
    """A versioned key-value store for call state."""

    def load(self, call_sid: str) -> tuple[bytes | None, int]:
        """The call's blob and version; (None, 0) when absent or expired."""
        ...

    def save(self, call_sid: str, blob: bytes, expected_version: int, ttl_seconds: float) -> bool:
        """Store `blob` as version expected_version + 1 if the current version is
        expected_version (absent counts as 0), refreshing the TTL; False on conflict."""
        ...

    def put_value(self, name: str, blob: bytes, ttl_seconds: float) -> None:
        """Keep a value shared by every worker and host (not a call's), replacing any before."""
        ...

    def get_value(self, name: str) -> bytes | None:
        """A shared value, or None when absent or expired."""
        ...

    def add_record(self, record_id: str, kind: str, created_at: float, blob: bytes) -> bool:
        """Keep a durable record (no expiry) under an id given by the caller; True if it is
        new, False if a record with that id already exists (which is left as it was)."""
        ...

    def get_record(self, record_id: str) -> tuple[str, float, bytes] | None:
        """A record's (kind, created_at, blob), or None when there is none with that id."""
        ...

    def list_records(
        self, kind: str | None = None, limit: int = 100, before: float | None = None
    ) -> list[tuple[str, str, float, bytes]]:
        """Up to `limit` records as (id, kind, created_at, blob), newest first (ties: greater
        id first), of one kind or all, created strictly before `before` when it is given."""
        ...

    def set_availability(self, name: str, available: bool, at: float) -> None:
        """Record whether someone (a coordinator) is available; durable. Setting the state
        they are already in keeps the time it last changed."""
        ...

    def availability(self) -> dict[str, tuple[bool, float]]:
        """Everyone whose availability was ever set: name -> (available, when it changed)."""
        ...

    def enqueue(self, item_id: str, kind: str, payload: bytes, due_at: float) -> bool:
        """Add a pending outbox item, durably (no expiry), first claimable at due_at; True if
        it is new, False if an item with that id exists (in any state; it is left as it was)."""
        ...

    def claim(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        """Lease up to `limit` pending items due at `now` (soonest due first, ties by id):
        each atomically gets due_at = now + lease_seconds and one more attempt, and is
        returned so. Concurrent claimers never get the same item while its lease lasts."""
        ...

    def complete(self, item_id: str, note: str = "") -> bool:
        """Mark an item done (delivered) with a note; True if it was pending or dead, False
        if it is unknown or already done (its first note is kept)."""
        ...

    def retry(self, item_id: str, due_at: float, error: str, attempt: int | None = None) -> bool:
        """Leave a pending item for another attempt at due_at, noting the error; with
        `attempt`, only if no one has claimed it since (its attempts still equal that).
        True if it changed."""
        ...

    def give_up(self, item_id: str, error: str, attempt: int | None = None) -> bool:
        """Mark a pending item dead with the error (same `attempt` fencing as retry)."""
        ...

    def requeue(self, item_id: str, due_at: float) -> bool:
        """Put a dead item back to pending, due at due_at, its attempts counted from 0 again
        (its note and last error are kept); True if it was dead, False if it is unknown,
        pending or done (it is left as it was)."""
        ...

    def purge(self, state: str, before: float, limit: int) -> int:
        """Delete up to `limit` items in state done or dead due strictly before `before`
        (soonest due first, ties by id), leaving nothing of them; how many went. Pending
        items are never purged (ValueError)."""
        ...

    def outbox(self, state: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Up to `limit` items, of one state or all, by due_at then id (soonest first)."""
        ...

    def ping(self) -> bool:
        """Whether the backend answers; never raises."""
        ...

    def close(self) -> None:
        """Release connections opened by this process."""
        ...


def check_record_args(record_id: str, kind: str, created_at: float, blob: bytes) -> None:
    """Refuse a record no backend could keep faithfully (shared by the implementations)."""
    if not isinstance(record_id, str) or not record_id:
        raise ValueError(f"record_id must be a non-empty string, got {record_id!r}")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")
    if isinstance(created_at, bool) or not isinstance(created_at, (int, float)) or not math.isfinite(created_at):
        raise ValueError(f"created_at must be a finite number, got {created_at!r}")
    if not isinstance(blob, bytes):
        raise TypeError(f"blob must be bytes, got {type(blob).__name__}")


def check_list_args(limit: int, before: float | None) -> None:
    """Refuse list_records arguments with no sensible meaning."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer, got {limit!r}")
    if before is not None and (isinstance(before, bool) or not isinstance(before, (int, float)) or math.isnan(before)):
        raise ValueError(f"before must be a number or None, got {before!r}")


def check_availability_args(name: str, at: float) -> None:
    """Refuse an availability change without a name or a usable time."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
        raise ValueError(f"at must be a finite number, got {at!r}")


def _finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def check_enqueue_args(item_id: str, kind: str, payload: bytes, due_at: float) -> None:
    """Refuse an outbox item no backend could keep faithfully."""
    if not isinstance(item_id, str) or not item_id:
        raise ValueError(f"item_id must be a non-empty string, got {item_id!r}")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")
    if not isinstance(payload, bytes):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    _finite("due_at", due_at)


def check_claim_args(now: float, lease_seconds: float, limit: int) -> None:
    """Refuse a claim with no sensible meaning."""
    _finite("now", now)
    _finite("lease_seconds", lease_seconds)
    if lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be positive, got {lease_seconds!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer, got {limit!r}")


def check_outcome_args(note: str, due_at: float | None = None, attempt: int | None = None) -> None:
    """Refuse a complete/retry/give_up whose note, time or attempt is unusable."""
    if not isinstance(note, str):
        raise TypeError(f"a note or error must be a string, got {type(note).__name__}")
    if due_at is not None:
        _finite("due_at", due_at)
    if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int)):
        raise ValueError(f"attempt must be an integer or None, got {attempt!r}")


def check_requeue_args(item_id: str, due_at: float) -> None:
    """Refuse a requeue without an id or a usable time."""
    if not isinstance(item_id, str) or not item_id:
        raise ValueError(f"item_id must be a non-empty string, got {item_id!r}")
    _finite("due_at", due_at)


def check_purge_args(state: str, before: float, limit: int) -> None:
    """Refuse a purge of pending items, or one without a usable time or limit."""
    if state not in (DONE, DEAD):
        raise ValueError(f"only {DONE} or {DEAD} items can be purged, got state {state!r}")
    _finite("before", before)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer, got {limit!r}")


def check_outbox_args(state: str | None, limit: int) -> None:
    """Refuse outbox() arguments with no sensible meaning."""
    if state is not None and state not in OUTBOX_STATES:
        raise ValueError(f"state must be one of {', '.join(OUTBOX_STATES)} or None, got {state!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a non-negative integer, got {limit!r}")


def sqlite_path(url: str) -> str:
    """The file a sqlite:// URL names: sqlite:///abs/path (sqlite:////abs/path also works)."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path:
        raise ValueError(f"expected sqlite:///absolute/path, got {url!r}")
    path = unquote(parts.path)
    # SQLAlchemy writes absolute paths with four slashes; accept that spelling too.
    return "/" + path.lstrip("/")


def from_url(url: str | None, instance_path: str) -> CallStore:
    """The store a URL names: empty -> SQLite in the instance folder, sqlite:///, redis(s)://,
    redis-cluster:// (or rediss-cluster://) for Redis Cluster."""
    # Imported here so that a SQLite deployment never needs redis, and vice versa.
    if not url:
        from ivr.stores.sqlite import SqliteStore

        return SqliteStore(os.path.join(instance_path, DEFAULT_SQLITE_NAME))
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from ivr.stores.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url))
    if scheme in ("redis", "rediss", "redis-cluster", "rediss-cluster"):
        from ivr.stores.redis import RedisStore

        return RedisStore.from_url(url)
    raise ValueError(
        f"unknown store URL scheme {scheme!r}; use sqlite:///, redis://, rediss:// or redis-cluster://"
    )
