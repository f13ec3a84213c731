"""What the service keeps, by role: each a small protocol, and `Store`, all of them in one backend.

- `CallStates`: an opaque, versioned blob per CallSid, the state of a call between webhooks.
  Every save is a compare-and-set on the version the caller loaded, so two webhooks of one
  call racing (a retried request, a status callback overlapping a turn) cannot silently
  overwrite each other: the loser sees False and reloads. They expire, so an abandoned
  call's state goes away on its own. A save may carry the call's move on the desk's board
  (`BoardMove`), applied only when the save succeeds, in the same round trip.
- `SharedValues`: values every worker and host sees (a flow's source, who last answered), each
  expiring or kept until replaced.
- `Records`: what must outlive a call (voicemails, callback requests, ...), written once
  under an id the caller chooses and never expiring.
- `Availability`: whether each coordinator is available.
- `Outbox`: how side effects (text messages, ride hand-offs) leave the service: items
  written once under an id, leased to one worker at a time by `claim`, and marked done,
  retried later or given up. A worker that dies mid-delivery leaves its items leased; they
  come due again when the lease runs out. An admin may put a dead item back in line
  (`requeue`) and delete old done or dead ones (`purge`).
- The desk's roles (`Accounts`, `AuditLog`, `Worklist`, `RecordUpkeep`, `SignInLimits`,
  `Throttles`, `CallBoard`): what the coordinators' console keeps, described where they are defined.

The `check_*` functions at the end refuse values no type checker can catch (a NaN time, an
empty id, a negative limit); both backends call them, so they refuse the same things.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class BoardMove:
    """Where a call went on the desk's board: to `stage` since `at`, or off it (stage None)."""

    stage: str | None
    at: float


class CallStates(Protocol):
    """Each call's state: a versioned blob per CallSid that expires."""

    def load(self, call_sid: str) -> tuple[bytes | None, int]:
        """The call's blob and version; (None, 0) when absent or expired."""
        ...

    def save(self, call_sid: str, blob: bytes, expected_version: int, ttl_seconds: float,
             board: BoardMove | None = None) -> bool:
        """Store `blob` as version expected_version + 1 if the current version is
        expected_version (absent counts as 0), refreshing the TTL; False on conflict.
        With `board`, a successful save also moves the call on the board (`CallBoard`), in the
        same round trip where the backend can; a board that cannot be written then is logged
        and the save still counts."""
        ...


class SharedValues(Protocol):
    """Values shared by every worker and host, each with its own expiry or none."""

    def put_value(self, name: str, blob: bytes, ttl_seconds: float | None) -> None:
        """Keep a value (not a call's), replacing any before (and its expiry): for `ttl_seconds`,
        or with None until it is replaced (what must outlive any TTL, such as a flow's last good
        version)."""
        ...

    def get_value(self, name: str) -> bytes | None:
        """A shared value, or None when absent or expired."""
        ...


class Records(Protocol):
    """Durable records, written once under an id and never expiring."""

    def add_record(self, record_id: str, kind: str, created_at: float, blob: bytes) -> bool:
        """Keep a record; True if it is new, False if a record with that id already exists
        (which is left as it was)."""
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


class Availability(Protocol):
    """Whether each coordinator is available, durably."""

    def set_availability(self, name: str, available: bool, at: float) -> None:
        """Record whether someone is available. Setting the state they are already in keeps
        the time it last changed."""
        ...

    def availability(self) -> dict[str, tuple[bool, float]]:
        """Everyone whose availability was ever set: name -> (available, when it changed)."""
        ...


class Outbox(Protocol):
    """Side effects waiting to leave, leased to one worker at a time."""

    def enqueue(self, item_id: str, kind: str, payload: bytes, due_at: float) -> bool:
        """Add a pending item, durably (no expiry), first claimable at due_at; True if it is
        new, False if an item with that id exists (in any state; it is left as it was)."""
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


# --- the desk: accounts, the audit log, the worklist, sign-in limits, throttles, the board ----
#
# What the coordinators' console keeps. Each role is small and has its own keys or tables
# (`ivr.stores.sqlite_desk`, `ivr.stores.redis_desk`); none changes what the roles above keep.

ROLES = ("coordinator", "admin", "auditor")
NEW, CLAIMED, TRIED, CLOSED = "new", "claimed", "tried", "done"
WORK_STATES = (NEW, CLAIMED, TRIED, CLOSED)  # a record's status on the worklist
OPEN_STATES = (NEW, CLAIMED, TRIED)
BOARD_KEEP_SECONDS = 2 * 86400  # calls started longer ago than this leave the board's count


@dataclass(frozen=True, slots=True)
class Account:
    """A person who signs in to the console. `epoch` goes up whenever their sessions must end
    (a new password, the account disabled); `member` is their name in the teams file, if any."""

    name: str
    password_hash: str
    roles: tuple[str, ...]
    teams: tuple[str, ...] = ()
    member: str = ""
    disabled: bool = False
    created_at: float = 0.0
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who did what, when, in which role, to which record (an id, never its contents), from where."""

    at: float
    user: str
    role: str
    action: str
    record: str = ""
    address: str = ""
    detail: str = ""


WorkKey = tuple[float, str]  # (created_at, id): where an item stands on the worklist, oldest call first


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A record's place on the worklist: its status, who has it, how often the caller was tried.

    `ref` is the opaque id the console's URLs carry; `created_at` is when the caller called.
    Every change is a compare-and-set on `version`.
    """

    id: str
    ref: str
    kind: str
    team: str
    created_at: float
    state: str = NEW
    by: str = ""
    attempts: int = 0
    note: str = ""
    changed_at: float = 0.0
    version: int = 1


class Accounts(Protocol):
    """The console's accounts, by name."""

    def add_account(self, account: Account) -> bool:
        """Keep a new account; False if one with that name exists (left as it was)."""
        ...

    def put_account(self, account: Account) -> None:
        """Replace an existing account (or keep a new one)."""
        ...

    def get_account(self, name: str) -> Account | None:
        """The account with that name, or None."""
        ...

    def accounts(self) -> list[Account]:
        """Every account, by name."""
        ...


class AuditLog(Protocol):
    """An append-only log: events are added, read, and never changed or deleted."""

    def audit(self, event: AuditEvent) -> None:
        """Append an event."""
        ...

    def audit_events(self, since: float | None = None, user: str | None = None,
                     limit: int = 100) -> list[AuditEvent]:
        """Up to `limit` events, newest first (the order they were appended, which is time order),
        at or after `since` and of one user when given."""
        ...


class Worklist(Protocol):
    """Each record's status, indexed by team, kind and status, oldest call first."""

    def track(self, item: WorkItem) -> bool:
        """Put a record on the worklist; False if it is there already (left as it was)."""
        ...

    def work_item(self, record_id: str) -> WorkItem | None:
        """A record's work item, or None."""
        ...

    def work_item_by_ref(self, ref: str) -> WorkItem | None:
        """The work item with that opaque ref, or None."""
        ...

    def work_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` record ids on the worklist that start with `prefix`, in id order."""
        ...

    def update_work(self, old: WorkItem, new: WorkItem) -> bool:
        """Replace `old` by `new` (same id, version one more) if it is still stored as `old`'s
        version; False if someone changed it first or it is gone."""
        ...

    def work_items(self, states: tuple[str, ...], teams: tuple[str, ...] | None = None,
                   kinds: tuple[str, ...] | None = None, limit: int = 100,
                   before: float | None = None, after: WorkKey | None = None,
                   ahead_of: WorkKey | None = None) -> list[WorkItem]:
        """Up to `limit` items in those states (of those teams and kinds; None: all), oldest
        call first, ties by id (compared as bytes); with `before`, only calls before that time.

        Pages by key (`WorkKey`, an item's place in that order, whether or not it is still
        there): with `after`, the first `limit` items after that key (the next page); with
        `ahead_of`, the last `limit` items ahead of it (the page before), still oldest first.
        Not both."""
        ...

    def work_counts(self, teams: tuple[str, ...] | None = None,
                    kinds: tuple[str, ...] | None = None, ahead_of: WorkKey | None = None) -> dict[str, int]:
        """How many items are in each state (every state named, 0 when none); with `ahead_of`,
        only those ahead of that key (where a page starts)."""
        ...

    def untrack(self, old: WorkItem) -> bool:
        """Take an item off the worklist; False if it is not stored as `old`'s version."""
        ...


class RecordUpkeep(Protocol):
    """Reading durable records many at a time (a page of the worklist), and deleting them for
    retention (the worklist decides which)."""

    def get_records(self, record_ids: list[str]) -> dict[str, tuple[str, float, bytes]]:
        """id -> (kind, created_at, blob) of those records that exist."""
        ...

    def delete_record(self, record_id: str, kind: str) -> bool:
        """Delete a record of that kind; False if there was none."""
        ...


class SignInLimits(Protocol):
    """Failed sign-ins in a row, per key (an account, an address); a streak ends on its own
    `keep_seconds` after its last failure."""

    def count_failure(self, key: str, at: float, keep_seconds: float) -> int:
        """Count one more failure at `at`; how many there are now in a row."""
        ...

    def failures(self, key: str, at: float) -> tuple[int, float]:
        """(failures in a row, when the last was) as of `at`; (0, 0.0) when the streak ended."""
        ...

    def clear_failures(self, key: str) -> None:
        """End the streak (a successful sign-in)."""
        ...


class Throttles(Protocol):
    """At most one thing per key per period (a team's texts)."""

    def throttle(self, key: str, at: float, seconds: float) -> bool:
        """True, noting `at`, if nothing passed for key in the `seconds` before `at`; else False."""
        ...


class CallBoard(Protocol):
    """Where live calls are, by stage, and how many calls started: no caller data at all."""

    def board_note(self, call_sid: str, stage: str, at: float) -> None:
        """A live call is at `stage` since `at`; its first note counts it as started then."""
        ...

    def board_end(self, call_sid: str) -> None:
        """The call is over: off the board (it still counts among the calls started)."""
        ...

    def board(self, started_since: float, live_since: float) -> tuple[list[tuple[str, float]], int]:
        """[(stage, since)] of the live calls last noted at or after `live_since`, and how many
        calls started at or after `started_since`."""
        ...


class DeskStore(Accounts, AuditLog, Worklist, RecordUpkeep, SignInLimits, Throttles, CallBoard, Protocol):
    """Every role the console needs of a backend."""


DESK_ROLES = (Accounts, AuditLog, Worklist, RecordUpkeep, SignInLimits, Throttles, CallBoard)


def account_json(account: Account) -> str:
    """An account as JSON (both backends keep this)."""
    return json.dumps({"name": account.name, "password_hash": account.password_hash, "roles": list(account.roles),
                       "teams": list(account.teams), "member": account.member, "disabled": account.disabled,
                       "created_at": account.created_at, "epoch": account.epoch}, sort_keys=True)


def account_from_json(blob: str | bytes) -> Account:
    """The account JSON (as account_json makes) describes."""
    data = json.loads(blob)
    return Account(name=data["name"], password_hash=data["password_hash"], roles=tuple(data["roles"]),
                   teams=tuple(data["teams"]), member=data.get("member", ""), disabled=bool(data["disabled"]),
                   created_at=float(data["created_at"]), epoch=int(data["epoch"]))


def check_work_states(states: tuple[str, ...]) -> None:
    """Refuse an unknown worklist state."""
    for state in states:
        if state not in WORK_STATES:
            raise ValueError(f"state must be one of {', '.join(WORK_STATES)}, got {state!r}")


def work_key(item: WorkItem) -> WorkKey:
    """Where an item stands on the worklist: the key a page starts after or ends ahead of."""
    return float(item.created_at), item.id


def check_work_items(states: tuple[str, ...], limit: int, before: float | None, after: WorkKey | None,
                     ahead_of: WorkKey | None) -> None:
    """Refuse a listing of unknown states, a bad limit or bound, or a page from two keys or a bad one."""
    check_work_states(states)
    check_list(limit, before)
    if after is not None and ahead_of is not None:
        raise ValueError("a page starts after one key or ends ahead of one, not both")
    check_work_key(after if after is not None else ahead_of)


def check_work_key(key: WorkKey | None) -> None:
    """Refuse a page key without a usable time."""
    if key is not None:
        _finite("created_at", key[0])


def check_work_update(old: WorkItem, new: WorkItem) -> None:
    """Refuse an update that changes what a work item is, or skips a version."""
    if (old.id, old.ref, old.kind, old.team, old.created_at) != (new.id, new.ref, new.kind, new.team, new.created_at):
        raise ValueError("an update may change only a work item's state, by, attempts, note and time")
    if new.version != old.version + 1:
        raise ValueError(f"the new version must be {old.version + 1}, got {new.version}")
    check_work_states((new.state,))


def check_account(account: Account) -> None:
    """Refuse an account without a name, a password hash or a known role."""
    _named("name", account.name)
    _named("password_hash", account.password_hash)
    if not account.roles or any(role not in ROLES for role in account.roles):
        raise ValueError(f"roles must be some of {', '.join(ROLES)}, got {account.roles!r}")


class Store(CallStates, SharedValues, Records, Availability, Outbox, DeskStore, Protocol):
    """Every role in one backend, and what an operator asks of it."""

    def ping(self) -> bool:
        """Whether the backend answers; never raises."""
        ...

    def check_writable(self, timeout: float) -> bool:
        """Whether the backend takes a write now: one small real write (a key or row of its own,
        never call data), given up after about `timeout` seconds; never raises. A server that
        answers reads but refuses writes (locked, read-only, out of memory or disk, too few
        replicas) is not writable."""
        ...

    def describe(self) -> str:
        """Where the data is, as a URL with any password masked (for SQLite, naming its file)."""
        ...

    def close(self) -> None:
        """Release connections opened by this process."""
        ...


# --- value checks both backends make -----------------------------------------------------


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _named(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name} must not be empty")


def _limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit!r}")


def check_ttl(ttl_seconds: float | None) -> None:
    """Refuse an expiry that is not a positive finite number of seconds (None means none)."""
    if ttl_seconds is None:
        return
    _finite("ttl_seconds", ttl_seconds)
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")


def check_record(record_id: str, kind: str, created_at: float) -> None:
    """Refuse a record without an id or kind, or without a usable time."""
    _named("record_id", record_id)
    _named("kind", kind)
    _finite("created_at", created_at)


def check_list(limit: int, before: float | None) -> None:
    """Refuse a negative limit or a NaN bound (an infinite one means no bound)."""
    _limit(limit)
    if before is not None and math.isnan(before):
        raise ValueError("before must be a number or None, got nan")


def check_availability(name: str, at: float) -> None:
    """Refuse an availability change without a name or a usable time."""
    _named("name", name)
    _finite("at", at)


def check_item(item_id: str, kind: str, due_at: float) -> None:
    """Refuse an outbox item without an id or kind, or without a usable time."""
    _named("item_id", item_id)
    _named("kind", kind)
    _finite("due_at", due_at)


def check_claim(now: float, lease_seconds: float, limit: int) -> None:
    """Refuse a claim at no usable time, for no lease, or for a negative number of items."""
    _finite("now", now)
    _finite("lease_seconds", lease_seconds)
    if lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be positive, got {lease_seconds!r}")
    _limit(limit)


def check_retry(due_at: float) -> None:
    """Refuse a retry at no usable time."""
    _finite("due_at", due_at)


def check_requeue(item_id: str, due_at: float) -> None:
    """Refuse a requeue without an id or a usable time."""
    _named("item_id", item_id)
    _finite("due_at", due_at)


def check_purge(state: str, before: float, limit: int) -> None:
    """Refuse a purge of pending items, or one without a usable time or limit."""
    if state not in (DONE, DEAD):
        raise ValueError(f"only {DONE} or {DEAD} items can be purged, got state {state!r}")
    _finite("before", before)
    _limit(limit)


def check_outbox(state: str | None, limit: int) -> None:
    """Refuse an unknown state or a negative limit."""
    if state is not None and state not in OUTBOX_STATES:
        raise ValueError(f"state must be one of {', '.join(OUTBOX_STATES)} or None, got {state!r}")
    _limit(limit)

