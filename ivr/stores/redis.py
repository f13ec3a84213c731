"""Call state in Redis: one string key per call, one round trip per load or save.

The value is the version in ASCII, a colon, then the blob ("7:{...}"), which is
smaller than a hash and read with a single GET. A save is one Lua script that
compares the version, writes the new value and sets its expiry atomically. Keys are
`ivr:{CallSid}:call`: the braces are a Redis Cluster hash tag, so anything else ever
kept for a call lands in the same slot; nothing here scans keys.

Durable records (no expiry) live under the `{records}` hash tag: `ivr:{records}:data`
(a hash, id -> packed kind, created_at and blob), `ivr:{records}:time` (a sorted set of
ids by created_at) and `ivr:{records}:kind:<kind>` (the same, per kind), written
together by one Lua script only when the id is new. Availability is the hash
`ivr:{availability}`, name -> "1:<when>" or "0:<when>".

The outbox lives under the `{outbox}` hash tag, so every script touches one slot:
`ivr:{outbox}:items` (a hash, id -> the item's kind and payload, written once),
`ivr:{outbox}:meta` (a hash, id -> "<state>:<attempts>:<due_at>:<length of note>:<note><last
error>", the part that changes) and one sorted set of ids by due_at per state:
`ivr:{outbox}:due` (pending), `ivr:{outbox}:done`, `ivr:{outbox}:dead`. Enqueue, claim,
complete, retry, give_up, requeue and purge are each one Lua script, so a claim (find the
due items, lease them, count the attempt) is atomic. No outbox key expires.
"""

from __future__ import annotations

import os
import threading

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ivr.stores.protocols import (
    DEAD,
    DONE,
    OUTBOX_STATES,
    PENDING,
    OutboxItem,
    StoreUnavailable,
    check_availability_args,
    check_claim_args,
    check_enqueue_args,
    check_list_args,
    check_outbox_args,
    check_outcome_args,
    check_purge_args,
    check_record_args,
    check_requeue_args,
)

CLUSTER_SCHEMES = {"redis-cluster": "redis", "rediss-cluster": "rediss"}

# A failover replica answers writes with READONLY: as unavailable as a dead server.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)

# KEYS[1] the call key; ARGV: expected version, blob, ttl in milliseconds.
# A value that does not start with "<digits>:" is treated as absent (version 0).
_SAVE = """
local current = redis.call('GET', KEYS[1])
local version = 0
if current then
  version = tonumber(string.match(current, '^(%d+):')) or 0
end
if version ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], (version + 1) .. ':' .. ARGV[2], 'PX', ARGV[3])
return 1
"""

# Records: KEYS[1] the data hash, KEYS[2] the time-ordered set of all records, KEYS[3]
# that of the record's kind; ARGV: id, packed record, created_at. Written only if new.
_ADD_RECORD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# KEYS[1] a time-ordered set, KEYS[2] the data hash; ARGV: the highest score to include
# ("+inf" or "(<before>"), how many. Returns id, packed record, id, packed record, ...
_LIST_RECORDS = """
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local value = redis.call('HGET', KEYS[2], id)
  if value then
    out[#out + 1] = id
    out[#out + 1] = value
  end
end
return out
"""

# KEYS[1] the availability hash; ARGV: name, "1" or "0", at. The same state again keeps
# the time it last changed.
_SET_AVAILABILITY = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and string.sub(current, 1, 1) == ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
return 1
"""


# Outbox. The meta value is "<state>:<attempts>:<due_at>:<n>:" then the note (n bytes), then
# the last error; due_at is always the repr of a Python float, written as Python sent it.
_META = "^(%a+):(%d+):([^:]*):(%d+):(.*)$"

# KEYS: items, meta, due; ARGV: id, packed kind and payload, due_at. Only if the id is new.
_ENQUEUE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[1], 'pending:0:' .. ARGV[3] .. ':0:')
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# KEYS: items, meta, due; ARGV: now, lease end, limit. Leases each due pending item (soonest
# first, ties by id) until the lease end, counting an attempt. Returns id, packed item,
# attempts, "<n>:<note><error>" for each.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local meta = redis.call('HGET', KEYS[2], id)
  local item = redis.call('HGET', KEYS[1], id)
  local state, attempts, due, rest
  if meta then
    state, attempts, due, rest = string.match(meta, '^(%a+):(%d+):([^:]*):(.*)$')
  end
  if not item or state ~= 'pending' then
    redis.call('ZREM', KEYS[3], id)
  else
    attempts = tonumber(attempts) + 1
    redis.call('HSET', KEYS[2], id, 'pending:' .. attempts .. ':' .. ARGV[2] .. ':' .. rest)
    redis.call('ZADD', KEYS[3], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = item
    out[#out + 1] = attempts
    out[#out + 1] = rest
  end
end
return out
"""

# The start of every script on one item's meta (KEYS[1], field ARGV[1]): nothing to do for an
# unknown id; else its parts as locals.
_READ_META = """
local meta = redis.call('HGET', KEYS[1], ARGV[1])
if not meta then
  return 0
end
local state, attempts, due, n, tail = string.match(meta, '%s')
""" % _META

# KEYS: meta, due, done, dead; ARGV: id, note. Done unless unknown or done already.
_COMPLETE = _READ_META + """
if state == 'done' then
  return 0
end
local err = string.sub(tail, tonumber(n) + 1)
local value = 'done:' .. attempts .. ':' .. due .. ':' .. string.len(ARGV[2]) .. ':' .. ARGV[2] .. err
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[3], due, ARGV[1])
return 1
"""

# KEYS: meta, due, dead; ARGV: id, "retry" or "dead", due_at ("" to keep it), error, attempt
# ("" for any). Only a pending item, and only if its attempts still equal `attempt`.
_FAIL = _READ_META + """
if state ~= 'pending' or (ARGV[5] ~= '' and tonumber(ARGV[5]) ~= tonumber(attempts)) then
  return 0
end
if ARGV[3] ~= '' then
  due = ARGV[3]
end
local note = string.sub(tail, 1, tonumber(n))
local rest = ':' .. attempts .. ':' .. due .. ':' .. n .. ':' .. note .. ARGV[4]
if ARGV[2] == 'dead' then
  redis.call('HSET', KEYS[1], ARGV[1], 'dead' .. rest)
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], due, ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], 'pending' .. rest)
  redis.call('ZADD', KEYS[2], due, ARGV[1])
end
return 1
"""

# KEYS: meta, due, dead; ARGV: id, due_at. Only a dead item: pending again, due at due_at, with
# no attempts, its note and error kept.
_REQUEUE = _READ_META + """
if state ~= 'dead' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], 'pending:0:' .. ARGV[2] .. ':' .. n .. ':' .. tail)
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: items, meta, the state's sorted set; ARGV: the highest due_at ("(<before>"), limit, the
# state. Deletes up to `limit` of its items, soonest due first; an id whose meta is in another
# state only leaves the set. Returns how many items went.
_PURGE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local purged = 0
for _, id in ipairs(ids) do
  local meta = redis.call('HGET', KEYS[2], id)
  if meta and string.match(meta, '^(%a+):') == ARGV[3] then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    purged = purged + 1
  end
  redis.call('ZREM', KEYS[3], id)
end
return purged
"""

# KEYS: the items and meta hashes, then one or more states' sorted sets; ARGV: limit. Returns
# id, packed item, meta for up to `limit` ids of each set, soonest due first.
_OUTBOX = """
local out = {}
for k = 3, #KEYS do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
  for _, id in ipairs(ids) do
    local item = redis.call('HGET', KEYS[1], id)
    local meta = redis.call('HGET', KEYS[2], id)
    if item and meta then
      out[#out + 1] = id
      out[#out + 1] = item
      out[#out + 1] = meta
    end
  end
end
return out
"""

_STATE_SET = {PENDING: "due", DONE: "done", DEAD: "dead"}


def _pack_item(kind: str, payload: bytes) -> bytes:
    kind_bytes = kind.encode()
    return b"%d:%s%s" % (len(kind_bytes), kind_bytes, payload)


def _unpack_item(value: bytes) -> tuple[str, bytes]:
    length, _, rest = value.partition(b":")
    size = int(length)
    return rest[:size].decode(), rest[size:]


def _unpack_notes(rest: bytes) -> tuple[str, str]:
    """"<n>:<note><error>" -> (note, error)."""
    length, _, tail = rest.partition(b":")
    size = int(length)
    return tail[:size].decode(), tail[size:].decode()


def _outbox_item(item_id: bytes, packed: bytes, meta: bytes) -> OutboxItem:
    state, attempts, due_at, rest = meta.split(b":", 3)
    kind, payload = _unpack_item(packed)
    note, error = _unpack_notes(rest)
    return OutboxItem(item_id.decode(), kind, payload, int(attempts), state.decode(), float(due_at), note, error)


def _pack_record(kind: str, created_at: float, blob: bytes) -> bytes:
    """`<length of kind>:<kind><created_at>:<blob>`; the kind may hold any character."""
    kind_bytes = kind.encode()
    return b"%d:%s%s:%s" % (len(kind_bytes), kind_bytes, repr(float(created_at)).encode(), blob)


def _unpack_record(value: bytes) -> tuple[str, float, bytes]:
    length, _, rest = value.partition(b":")
    size = int(length)
    created_at, _, blob = rest[size:].partition(b":")
    return rest[:size].decode(), float(created_at), blob


def _unpack(value: bytes | None) -> tuple[bytes | None, int]:
    if value is None:
        return None, 0
    head, sep, blob = value.partition(b":")
    if not sep or not head.isdigit():
        return None, 0
    return blob, int(head)


_forks = [0]  # how many times this process's ancestry forked: a child must not share its parent's sockets
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


def _exchange(connection, args: tuple):
    """One command and its reply on a connection, which is closed if either fails."""
    try:
        connection.send_command(*args, check_health=False)
        return connection.read_response()
    except _UNAVAILABLE:
        connection.disconnect()
        raise


class OwnConnection(threading.local):
    """Each thread's own connection to one Redis server, for the two commands of every turn.

    The client's pool would check a connection out and back in, poll it for stray data
    and wrap the command in its retry machinery on every command; a connection kept per
    thread (and per process, for forked workers) does none of that. A command that finds
    its socket broken is tried once more on a new one: a load is safe to repeat, and so is
    a compare-and-set (if the first try was applied, the second finds the version moved on
    and reports a lost race). A command that timed out is not: a server too slow to answer
    once would make the caller wait twice for the same apology.
    """

    def __init__(self, pool: redis.ConnectionPool):
        self.pool = pool
        self.forks = _forks[0]
        self.connection = None

    def call(self, *args):
        """Send one command and return its reply; StoreUnavailable when Redis cannot answer."""
        if self.connection is None or self.forks != _forks[0]:
            self.connection, self.forks = self.pool.make_connection(), _forks[0]
        try:
            return _exchange(self.connection, args)
        except RedisTimeoutError as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc
        except _UNAVAILABLE:
            pass  # a socket the server had closed: once more, on a new one
        try:
            return _exchange(self.connection, args)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc

    def close(self) -> None:
        """Close this thread's connection (another command opens a new one)."""
        if self.connection is not None:
            self.connection.disconnect()


class RedisStore:
    """A CallStore in Redis (or anything speaking its protocol: Valkey, KeyDB)."""

    def __init__(self, client: redis.Redis, *, prefix: str = "ivr"):
        self.client = client
        self.prefix = prefix
        # Cluster clients route each command to its slot's node themselves.
        self._own = OwnConnection(client.connection_pool) if isinstance(client, redis.Redis) else None
        self._save = client.register_script(_SAVE)
        self._add_record = client.register_script(_ADD_RECORD)
        self._list_records = client.register_script(_LIST_RECORDS)
        self._set_availability = client.register_script(_SET_AVAILABILITY)
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._complete = client.register_script(_COMPLETE)
        self._fail = client.register_script(_FAIL)
        self._outbox = client.register_script(_OUTBOX)
        self._requeue = client.register_script(_REQUEUE)
        self._purge = client.register_script(_PURGE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout: float = 0.5,
        connect_timeout: float = 0.5,
        retries: int = 1,
        prefix: str = "ivr",
    ) -> RedisStore:
        """A store on a new client; timeouts given in the URL query win over the arguments."""
        # Twilio gives a webhook 15 s in all: an outage must fail in well under a second so
        # the caller gets the safe route instead of silence. redis-py's default retries with
        # backoff would spend seconds; one immediate retry still covers a stale pooled socket.
        options = {"socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout,
                   "retry": Retry(NoBackoff(), retries)}
        scheme, sep, rest = url.partition("://")
        if scheme in CLUSTER_SCHEMES:
            # Every key of a call (and of each shared structure) shares a hash tag, so each
            # command and script touches one slot: the cluster client only routes them.
            return cls(RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme]}{sep}{rest}", **options), prefix=prefix)
        return cls(redis.Redis.from_url(url, **options), prefix=prefix)

    def key(self, call_sid: str) -> str:
        """The Redis key holding this call's state."""
        return f"{self.prefix}:{{{call_sid}}}:call"

    def load(self, call_sid: str) -> tuple[bytes | None, int]:
        """The call's blob and version; (None, 0) when absent or expired."""
        if self._own is not None:
            return _unpack(self._own.call("GET", self.key(call_sid)))
        try:
            value = self.client.get(self.key(call_sid))
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc
        return _unpack(value)

    def save(self, call_sid: str, blob: bytes, expected_version: int, ttl_seconds: float) -> bool:
        """Compare-and-set: store as expected_version + 1 if the version still matches."""
        ttl_ms = round(ttl_seconds * 1000)
        if ttl_ms <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        key = self.key(call_sid)
        if self._own is not None:
            try:
                return self._own.call("EVALSHA", self._save.sha, 1, key, int(expected_version), blob, ttl_ms) == 1
            except NoScriptError:  # a restarted or flushed server forgot the script: load it again
                pass
        try:
            saved = self._save(keys=[key], args=[int(expected_version), blob, ttl_ms])
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc
        return saved == 1

    def value_key(self, name: str) -> str:
        """The Redis key holding a shared value."""
        return f"{self.prefix}:value:{name}"

    def put_value(self, name: str, blob: bytes, ttl_seconds: float) -> None:
        """Keep a shared value, replacing any before."""
        ttl_ms = round(ttl_seconds * 1000)
        if ttl_ms <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        try:
            self.client.set(self.value_key(name), blob, px=ttl_ms)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc

    def get_value(self, name: str) -> bytes | None:
        """A shared value, or None when absent or expired."""
        try:
            return self.client.get(self.value_key(name))
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc

    def records_key(self, part: str) -> str:
        """A key of the records; all share the {records} hash tag, hence one cluster slot."""
        return f"{self.prefix}:{{records}}:{part}"

    def availability_key(self) -> str:
        """The hash of coordinators' availability."""
        return f"{self.prefix}:{{availability}}"

    def add_record(self, record_id: str, kind: str, created_at: float, blob: bytes) -> bool:
        """Keep a durable record; True if new, False if the id was taken (nothing changes)."""
        check_record_args(record_id, kind, created_at, blob)
        keys = [self.records_key("data"), self.records_key("time"), self.records_key(f"kind:{kind}")]
        args = [record_id, _pack_record(kind, created_at, blob), repr(float(created_at))]
        try:
            added = self._add_record(keys=keys, args=args)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc
        return added == 1

    def get_record(self, record_id: str) -> tuple[str, float, bytes] | None:
        """A record's (kind, created_at, blob), or None."""
        try:
            value = self.client.hget(self.records_key("data"), record_id)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc
        return None if value is None else _unpack_record(value)

    def list_records(
        self, kind: str | None = None, limit: int = 100, before: float | None = None
    ) -> list[tuple[str, str, float, bytes]]:
        """Records as (id, kind, created_at, blob), newest first, ties by greater id first."""
        check_list_args(limit, before)
        if limit == 0:
            return []  # nothing asked for: no round trip
        index = self.records_key("time" if kind is None else f"kind:{kind}")
        highest = "+inf" if before is None else f"({float(before)!r}"
        try:
            flat = self._list_records(keys=[index, self.records_key("data")], args=[highest, limit])
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc
        records = []
        for record_id, value in zip(flat[::2], flat[1::2], strict=True):
            record_kind, created_at, blob = _unpack_record(value)
            records.append((record_id.decode(), record_kind, created_at, blob))
        return records

    def set_availability(self, name: str, available: bool, at: float) -> None:
        """Record someone's availability; the same state again keeps the time it changed."""
        check_availability_args(name, at)
        args = [name, "1" if available else "0", repr(float(at))]
        try:
            self._set_availability(keys=[self.availability_key()], args=args)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc

    def availability(self) -> dict[str, tuple[bool, float]]:
        """name -> (available, when it changed), for everyone ever set."""
        try:
            entries = self.client.hgetall(self.availability_key())
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc
        result = {}
        for name, value in sorted(entries.items()):
            state, _, at = value.partition(b":")
            result[name.decode()] = (state == b"1", float(at))
        return result

    def outbox_key(self, part: str) -> str:
        """A key of the outbox; all share the {outbox} hash tag, hence one cluster slot."""
        return f"{self.prefix}:{{outbox}}:{part}"

    def _run(self, script, keys: list[str], args: list) -> object:
        try:
            return script(keys=keys, args=args)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"Redis store: {exc}") from exc

    def enqueue(self, item_id: str, kind: str, payload: bytes, due_at: float) -> bool:
        """Add a pending outbox item; True if new, False if the id was taken (nothing changes)."""
        check_enqueue_args(item_id, kind, payload, due_at)
        keys = [self.outbox_key("items"), self.outbox_key("meta"), self.outbox_key("due")]
        return self._run(self._enqueue, keys, [item_id, _pack_item(kind, payload), repr(float(due_at))]) == 1

    def claim(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        """Lease up to `limit` due pending items to the caller, in one Lua script."""
        check_claim_args(now, lease_seconds, limit)
        if limit == 0:
            return []
        until = float(now) + lease_seconds
        keys = [self.outbox_key("items"), self.outbox_key("meta"), self.outbox_key("due")]
        flat = self._run(self._claim, keys, [repr(float(now)), repr(until), limit])
        items = []
        for item_id, packed, attempts, rest in zip(flat[::4], flat[1::4], flat[2::4], flat[3::4], strict=True):
            kind, payload = _unpack_item(packed)
            note, error = _unpack_notes(rest)
            items.append(OutboxItem(item_id.decode(), kind, payload, int(attempts), PENDING, until, note, error))
        return items

    def complete(self, item_id: str, note: str = "") -> bool:
        """Mark an item done; False if unknown or already done (its first note is kept)."""
        check_outcome_args(note)
        keys = [self.outbox_key(part) for part in ("meta", "due", "done", "dead")]
        return self._run(self._complete, keys, [item_id, note]) == 1

    def _fail_item(self, item_id: str, to: str, due_at: str, error: str, attempt: int | None) -> bool:
        keys = [self.outbox_key(part) for part in ("meta", "due", "dead")]
        args = [item_id, to, due_at, error, "" if attempt is None else str(attempt)]
        return self._run(self._fail, keys, args) == 1

    def retry(self, item_id: str, due_at: float, error: str, attempt: int | None = None) -> bool:
        """Leave a pending item for another attempt at due_at (if still at `attempt`, when given)."""
        check_outcome_args(error, due_at, attempt)
        return self._fail_item(item_id, "retry", repr(float(due_at)), error, attempt)

    def give_up(self, item_id: str, error: str, attempt: int | None = None) -> bool:
        """Mark a pending item dead (if still at `attempt`, when given)."""
        check_outcome_args(error, None, attempt)
        return self._fail_item(item_id, "dead", "", error, attempt)

    def requeue(self, item_id: str, due_at: float) -> bool:
        """Put a dead item back to pending at due_at with no attempts; False if it was not dead."""
        check_requeue_args(item_id, due_at)
        keys = [self.outbox_key(part) for part in ("meta", "due", "dead")]
        return self._run(self._requeue, keys, [item_id, repr(float(due_at))]) == 1

    def purge(self, state: str, before: float, limit: int) -> int:
        """Delete up to `limit` done or dead items due before `before`, soonest first, in one Lua script."""
        check_purge_args(state, before, limit)
        if limit == 0:
            return 0
        keys = [self.outbox_key("items"), self.outbox_key("meta"), self.outbox_key(_STATE_SET[state])]
        return int(self._run(self._purge, keys, [f"({float(before)!r}", limit, state]))

    def outbox(self, state: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Items of one state or all, by due_at then id."""
        check_outbox_args(state, limit)
        if limit == 0:
            return []
        keys = [self.outbox_key("items"), self.outbox_key("meta")]
        keys += [self.outbox_key(_STATE_SET[each]) for each in (OUTBOX_STATES if state is None else (state,))]
        flat = self._run(self._outbox, keys, [limit])
        items = [_outbox_item(*row) for row in zip(flat[::3], flat[1::3], flat[2::3], strict=True)]
        # Ids compare as their UTF-8 bytes, as Redis and SQLite order them.
        items.sort(key=lambda item: (item.due_at, item.id.encode()))
        return items[:limit]

    def ping(self) -> bool:
        """Whether Redis answers; never raises."""
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def close(self) -> None:
        """Close the client's pooled connections and this thread's own."""
        if self._own is not None:
            self._own.close()
        self.client.close()
