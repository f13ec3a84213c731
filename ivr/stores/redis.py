"""Every store role in Redis: one string key per call, one round trip per load or save.

The call's value is the version in ASCII, a colon, then the blob ("7:{...}"), which is
smaller than a hash and read with a single GET. A save is one Lua script that
compares the version, writes the new value and sets its expiry atomically. Keys are
`ivr:{CallSid}:call`: the braces are a Redis Cluster hash tag, so anything else ever
kept for a call lands in the same slot; nothing here scans keys.

Durable records (no expiry) live under the `{records}` hash tag: `ivr:{records}:data`
(a hash, id -> the record as JSON: kind, created_at, and the blob in base64),
`ivr:{records}:time` (a sorted set of ids by created_at) and `ivr:{records}:kind:<kind>`
(the same, per kind), written together by one Lua script only when the id is new. A record
is written once and only ever read whole, by Python, so one JSON value (one HGET) suits it;
base64 keeps its bytes intact inside the JSON. Availability is the hash
`ivr:{availability}`, name -> "1:<when>" or "0:<when>".

The outbox lives under the `{outbox}` hash tag, so every script touches one slot and names
every key it touches: `ivr:{outbox}:items` (a hash, id -> the payload's raw bytes, written
once), `ivr:{outbox}:meta` (a hash, id -> JSON {kind, state, attempts, due_at, note,
last_error}, the part that changes) and one sorted set of ids by due_at per state:
`ivr:{outbox}:due` (pending), `ivr:{outbox}:done`, `ivr:{outbox}:dead`. Enqueue, claim,
complete, retry, give_up, requeue and purge are each one Lua script, so a claim (find the
due items, lease them, count the attempt) is atomic; the scripts read and write the meta
with Redis's `cjson`, and never carry the payload through it. `cjson` writes numbers to
only 14 significant digits, so due_at is kept as a string, the repr of the Python float
(exact, as a sorted-set score is). No outbox key expires. One hash per item would need no
JSON, but a script that finds ids in a sorted set would then touch keys it was not given.

Entries the previous release wrote are read as they are, with no step at the upgrade: the
records hash then held "<length of kind>:<kind><created_at>:<blob>", an outbox item
"<length of kind>:<kind><payload>" and its meta "<state>:<attempts>:<due_at>:<length of
note>:<note><last error>". A JSON value opens with "{", an old one with a digit or a letter,
so one byte tells them apart. Records are written once and never again, so Python reads both
forms for good (`_unpack_record`). An old outbox item is rewritten in today's layout by the
first script that touches it (`_ITEM`), inside that script, so it is never half converted; a
pending one moves to JSON when it is next claimed. Reading both was chosen over an upgrade
command that an operator must run: until it ran, every claim would fail on the first old
item (no text would leave) and every listing on the first old record, and the cost of
reading both is one byte compared per entry and this paragraph's code.

Every Redis error that means "unreachable" or "cannot write now" (connection, timeout, a
read-only replica, out of memory, too few replicas, a failing disk) becomes StoreUnavailable
in one place, `_unavailable`. The turn's load and save go over each thread's own connection
(`OwnConnection`), which leans on semi-internal redis-py API (`make_connection`,
`send_command`, `read_response`) on purpose, for speed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import ClusterCrossSlotError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError, NoScriptError, OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ivr.stores import protocols
from ivr.stores.protocols import DEAD, DONE, OUTBOX_STATES, PENDING, BoardMove, OutboxItem, StoreUnavailable
from ivr.stores.redis_desk import BOARD_MOVE, RedisDesk

CLUSTER_SCHEMES = {"redis-cluster": "redis", "rediss-cluster": "rediss"}

# A failover replica answers writes with READONLY: as unavailable as a dead server.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
# A server that answers but takes no write now: out of memory, its master down, too few
# replicas (min-replicas-to-write), or a snapshot failing (stop-writes-on-bgsave-error).
_CANNOT_WRITE = (OutOfMemoryError, MasterDownError)
_CANNOT_WRITE_CODES = re.compile(r"\b(?:NOREPLICAS|MISCONF|OOM|READONLY|MASTERDOWN)\b")


def _cannot_write(exc: BaseException | None) -> bool:
    if isinstance(exc, _CANNOT_WRITE):
        return True
    # Redis answers with the code first; from inside a script it may come later in the message.
    return isinstance(exc, ResponseError) and _CANNOT_WRITE_CODES.search(str(exc)) is not None


class _Unavailable:
    """A `with` block in which Redis being unreachable, or unable to write, becomes StoreUnavailable."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, _UNAVAILABLE) or _cannot_write(exc):
            raise StoreUnavailable(f"Redis store: {exc}") from exc


_unavailable = _Unavailable()
log = logging.getLogger("ivr.stores")

# KEYS[1] the call key; ARGV: expected version, blob, ttl in milliseconds.
# A value that does not start with "<digits>:" is treated as absent (version 0).
_SAVED = """
local current = redis.call('GET', KEYS[1])
local version = 0
if current then
  version = tonumber(string.match(current, '^(%d+):')) or 0
end
if version ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], (version + 1) .. ':' .. ARGV[2], 'PX', ARGV[3])
"""
_SAVE = _SAVED + "return 1\n"
# The same, then the call's move on the board: KEYS[2], KEYS[3] and ARGV[4..7] as BOARD_MOVE takes them.
# A board that cannot be written does not undo the save: 2 says so.
_SAVE_MOVED = BOARD_MOVE + _SAVED + """
if not pcall(board_move, KEYS[2], KEYS[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]) then
  return 2
end
return 1
"""

# Records: KEYS[1] the data hash, KEYS[2] the time-ordered set of all records, KEYS[3]
# that of the record's kind; ARGV: id, the record's JSON, created_at. Written only if new.
_ADD_RECORD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return 1
"""

# KEYS[1] a time-ordered set, KEYS[2] the data hash; ARGV: the highest score to include
# ("+inf" or "(<before>"), how many. Returns id, JSON, id, JSON, ...
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

# Outbox. Every script's KEYS start with the items and meta hashes.
# The opening of every script on items: `item_of(id)`, the item's meta as a table (nil for an
# unknown id). An item the previous release wrote (items "<n>:<kind><payload>", meta
# "<state>:<attempts>:<due_at>:<n>:<note><last error>", n counting bytes) is first rewritten
# in today's layout, both parts at once. One that is neither counts as unknown.
_ITEM = """
local function item_of(id)
  local meta = redis.call('HGET', KEYS[2], id)
  if not meta then
    return nil
  end
  if string.sub(meta, 1, 1) == '{' then
    return cjson.decode(meta)
  end
  local state, attempts, due, n, tail = string.match(meta, '^(%a+):(%d+):([^:]*):(%d+):(.*)$')
  if not state then
    return nil
  end
  n = tonumber(n)
  local item = {kind = '', state = state, attempts = tonumber(attempts), due_at = due,
                note = string.sub(tail, 1, n), last_error = string.sub(tail, n + 1)}
  local packed = redis.call('HGET', KEYS[1], id)
  if packed then
    local size, rest = string.match(packed, '^(%d+):(.*)$')
    if size then
      item.kind = string.sub(rest, 1, tonumber(size))
      redis.call('HSET', KEYS[1], id, string.sub(rest, tonumber(size) + 1))
    end
  end
  redis.call('HSET', KEYS[2], id, cjson.encode(item))
  return item
end
"""

# KEYS: items, meta, due; ARGV: id, kind, payload, due_at. Only if the id is new.
_ENQUEUE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then
  return 0
end
local meta = {kind = ARGV[2], state = 'pending', attempts = 0, due_at = ARGV[4], note = '', last_error = ''}
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(meta))
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1
"""

# KEYS: items, meta, due; ARGV: now, lease end, limit. Leases each due pending item (soonest
# first, ties by id) until the lease end, counting an attempt. Returns id, payload, meta for each.
_CLAIM = _ITEM + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local item = item_of(id)
  local payload = redis.call('HGET', KEYS[1], id)
  if not payload or not item or item.state ~= 'pending' then
    redis.call('ZREM', KEYS[3], id)
  else
    item.attempts = item.attempts + 1
    item.due_at = ARGV[2]
    local meta = cjson.encode(item)
    redis.call('HSET', KEYS[2], id, meta)
    redis.call('ZADD', KEYS[3], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = meta
  end
end
return out
"""

# The start of every script on one item (field ARGV[1]): nothing to do for an unknown id; else
# its meta as the table `item`.
_READ_META = _ITEM + """
local item = item_of(ARGV[1])
if not item then
  return 0
end
"""

# KEYS: items, meta, due, done, dead; ARGV: id, note. Done unless unknown or done already.
_COMPLETE = _READ_META + """
if item.state == 'done' then
  return 0
end
item.state = 'done'
item.note = ARGV[2]
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(item))
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZADD', KEYS[4], item.due_at, ARGV[1])
return 1
"""

# KEYS: items, meta, due, dead; ARGV: id, "retry" or "dead", due_at ("" to keep it), error,
# attempt ("" for any). Only a pending item, and only if its attempts still equal `attempt`.
_FAIL = _READ_META + """
if item.state ~= 'pending' or (ARGV[5] ~= '' and tonumber(ARGV[5]) ~= item.attempts) then
  return 0
end
if ARGV[3] ~= '' then
  item.due_at = ARGV[3]
end
item.last_error = ARGV[4]
if ARGV[2] == 'dead' then
  item.state = 'dead'
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], item.due_at, ARGV[1])
else
  redis.call('ZADD', KEYS[3], item.due_at, ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(item))
return 1
"""

# KEYS: items, meta, due, dead; ARGV: id, due_at. Only a dead item: pending again, due at due_at,
# with no attempts, its note and error kept.
_REQUEUE = _READ_META + """
if item.state ~= 'dead' then
  return 0
end
item.state = 'pending'
item.attempts = 0
item.due_at = ARGV[2]
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(item))
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""

# KEYS: items, meta, the state's sorted set; ARGV: the highest due_at ("(<before>"), limit, the
# state. Deletes up to `limit` of its items, soonest due first; an id whose meta is in another
# state only leaves the set. Returns how many items went.
_PURGE = _ITEM + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local purged = 0
for _, id in ipairs(ids) do
  local item = item_of(id)
  if item and item.state == ARGV[3] then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    purged = purged + 1
  end
  redis.call('ZREM', KEYS[3], id)
end
return purged
"""

# KEYS: the items and meta hashes, then one or more states' sorted sets; ARGV: limit. Returns
# id, payload, meta for up to `limit` ids of each set, soonest due first.
_OUTBOX = _ITEM + """
local out = {}
for k = 3, #KEYS do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
  for _, id in ipairs(ids) do
    local item = item_of(id)
    local payload = redis.call('HGET', KEYS[1], id)
    if payload and item then
      out[#out + 1] = id
      out[#out + 1] = payload
      out[#out + 1] = cjson.encode(item)
    end
  end
end
return out
"""

_STATE_SET = {PENDING: "due", DONE: "done", DEAD: "dead"}
WRITABLE_CHECK_TTL_MS = 60_000


def _outbox_items(flat: list[bytes]) -> list[OutboxItem]:
    """Items from a script's flat reply: id, payload, meta JSON, id, payload, ..."""
    items = []
    for item_id, payload, meta in zip(flat[::3], flat[1::3], flat[2::3], strict=True):
        m = json.loads(meta)
        items.append(OutboxItem(item_id.decode(), m["kind"], payload, int(m["attempts"]), m["state"],
                                float(m["due_at"]), m["note"], m["last_error"]))
    return items


def _pack_record(kind: str, created_at: float, blob: bytes) -> str:
    return json.dumps({"kind": kind, "created_at": float(created_at), "blob": base64.b64encode(blob).decode()})


def _unpack_record(value: bytes) -> tuple[str, float, bytes]:
    if value[:1] != b"{":  # the previous release's "<length of kind>:<kind><created_at>:<blob>"
        length, _, rest = value.partition(b":")
        size = int(length)
        created_at, _, blob = rest[size:].partition(b":")
        return rest[:size].decode(), float(created_at), blob
    record = json.loads(value)
    return record["kind"], float(record["created_at"]), base64.b64decode(record["blob"])


def _unpack(value: bytes | None) -> tuple[bytes | None, int]:
    if value is None:
        return None, 0
    head, sep, blob = value.partition(b":")
    if not sep or not head.isdigit():
        return None, 0
    return blob, int(head)


def _login(kwargs: dict[str, Any]) -> str:
    """"user:***@" when a password is set ("user@" with none, "" with neither)."""
    user = kwargs.get("username") or ""
    if kwargs.get("password"):
        return f"{user}:***@"
    return f"{user}@" if user else ""


def _tls(connection_class: object) -> bool:
    return isinstance(connection_class, type) and issubclass(connection_class, redis.SSLConnection)


_forks = [0]  # how many times this process's ancestry forked: a child must not share its parent's sockets
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))


def _exchange(connection: Any, args: tuple) -> Any:
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
        self.connection: Any = None

    def call(self, *args: Any) -> Any:
        """Send one command and return its reply; StoreUnavailable when Redis cannot answer."""
        if self.connection is None or self.forks != _forks[0]:
            self.connection, self.forks = self.pool.make_connection(), _forks[0]
        with _unavailable:
            try:
                return _exchange(self.connection, args)
            except RedisTimeoutError:
                raise  # not sent again (see above)
            except _UNAVAILABLE:
                pass  # a socket the server had closed: once more, on a new one
            return _exchange(self.connection, args)

    def close(self) -> None:
        """Close this thread's connection (another command opens a new one)."""
        if self.connection is not None:
            self.connection.disconnect()


class RedisStore(RedisDesk):
    """Every store role in Redis (or anything speaking its protocol: Valkey, KeyDB)."""

    _guard = _unavailable  # the desk's commands (RedisDesk) convert errors in the same one place

    def __init__(self, client: redis.Redis | RedisCluster, *, prefix: str = "ivr"):
        self.client = client
        self.prefix = prefix
        # Cluster clients route each command to its slot's node themselves.
        self._own = OwnConnection(client.connection_pool) if isinstance(client, redis.Redis) else None
        # The turn's two scripts, by SHA on its own connection; the rest register when first run (`_call`).
        self._save, self._save_moved = client.register_script(_SAVE), client.register_script(_SAVE_MOVED)
        self._board_apart = False  # True once the server refused the board's keys beside a call's
        self._health: dict[tuple, redis.Redis] = {}  # check_writable's clients, by server and timeout

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
        options: dict[str, Any] = {"socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout,
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
        with _unavailable:
            return _unpack(self.client.get(self.key(call_sid)))  # type: ignore[arg-type]

    def save(self, call_sid: str, blob: bytes, expected_version: int, ttl_seconds: float,
             board: BoardMove | None = None) -> bool:
        """Compare-and-set: store as expected_version + 1 if the version still matches; then
        the board move, in the same script (a cluster's board keys are in a slot of their own:
        there, a second command)."""
        ttl_ms = round(ttl_seconds * 1000)
        if ttl_ms <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds!r}")
        keys, args = [self.key(call_sid)], [int(expected_version), blob, ttl_ms]
        script = self._save
        if board is not None and self._own is not None and not self._board_apart:
            script = self._save_moved
            keys += self.board_keys()
            args += self.board_args(call_sid, board)
        try:
            reply = self._save_by(script, keys, args)
        except ClusterCrossSlotError:
            if script is self._save:
                raise
            # A server that keeps hash slots behind a plain URL (a clustering proxy): the board's
            # keys are in a slot of their own, so from now on it is a command of its own.
            self._board_apart, script = True, self._save
            reply = self._save_by(script, keys[:1], args[:3])
        if reply == 2:
            log.warning('{"event":"BoardNotNoted"}')
        if reply != 0 and board is not None and script is self._save:
            self._move_apart(call_sid, board)
        return reply != 0

    def _save_by(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        if self._own is not None:
            try:
                return self._own.call("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:  # a restarted or flushed server forgot the script: load it again
                pass
        return self._run(script, keys, args)

    def _move_apart(self, call_sid: str, board: BoardMove) -> None:
        try:
            if board.stage is None:
                self.board_end(call_sid)
            else:
                self.board_note(call_sid, board.stage, board.at)
        except (StoreUnavailable, redis.RedisError):  # the board is not worth the caller's turn
            log.warning('{"event":"BoardNotNoted"}')

    def _run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script on the client's pool."""
        with _unavailable:
            return script(keys=keys, args=args)

    def value_key(self, name: str) -> str:
        """The Redis key holding a shared value."""
        return f"{self.prefix}:value:{name}"

    def put_value(self, name: str, blob: bytes, ttl_seconds: float | None) -> None:
        """Keep a shared value, replacing any before and its expiry; with no TTL, a key without one."""
        protocols.check_ttl(ttl_seconds)
        ttl_ms = None if ttl_seconds is None else round(ttl_seconds * 1000)
        if ttl_ms is not None and ttl_ms <= 0:
            raise ValueError(f"ttl_seconds must be at least a millisecond, got {ttl_seconds!r}")
        with _unavailable:
            self.client.set(self.value_key(name), blob, px=ttl_ms)

    def get_value(self, name: str) -> bytes | None:
        """A shared value, or None when absent or expired."""
        with _unavailable:
            return self.client.get(self.value_key(name))  # type: ignore[return-value]

    def records_key(self, part: str) -> str:
        """A key of the records; all share the {records} hash tag, hence one cluster slot."""
        return f"{self.prefix}:{{records}}:{part}"

    def availability_key(self) -> str:
        """The hash of coordinators' availability."""
        return f"{self.prefix}:{{availability}}"

    def add_record(self, record_id: str, kind: str, created_at: float, blob: bytes) -> bool:
        """Keep a durable record; True if new, False if the id was taken (nothing changes)."""
        protocols.check_record(record_id, kind, created_at)
        keys = [self.records_key("data"), self.records_key("time"), self.records_key(f"kind:{kind}")]
        args = [record_id, _pack_record(kind, created_at, blob), repr(float(created_at))]
        return self._call("add_record", _ADD_RECORD, keys, args) == 1

    def get_record(self, record_id: str) -> tuple[str, float, bytes] | None:
        """A record's (kind, created_at, blob), or None."""
        with _unavailable:
            value = self.client.hget(self.records_key("data"), record_id)
        return None if value is None else _unpack_record(value)  # type: ignore[arg-type]

    def list_records(
        self, kind: str | None = None, limit: int = 100, before: float | None = None
    ) -> list[tuple[str, str, float, bytes]]:
        """Records as (id, kind, created_at, blob), newest first, ties by greater id first."""
        protocols.check_list(limit, before)
        if limit == 0:
            return []  # nothing asked for: no round trip
        index = self.records_key("time" if kind is None else f"kind:{kind}")
        highest = "+inf" if before is None else f"({float(before)!r}"
        flat = self._call("list_records", _LIST_RECORDS, [index, self.records_key("data")], [highest, limit])
        return [(record_id.decode(), *_unpack_record(value)) for record_id, value in zip(flat[::2], flat[1::2],
                                                                                          strict=True)]

    def set_availability(self, name: str, available: bool, at: float) -> None:
        """Record someone's availability; the same state again keeps the time it changed."""
        protocols.check_availability(name, at)
        self._call("set_availability", _SET_AVAILABILITY, [self.availability_key()], [name, "1" if available else "0", repr(float(at))])

    def availability(self) -> dict[str, tuple[bool, float]]:
        """name -> (available, when it changed), for everyone ever set."""
        with _unavailable:
            entries: dict[bytes, bytes] = self.client.hgetall(self.availability_key())  # type: ignore[assignment]
        result = {}
        for name, value in sorted(entries.items()):
            state, _, at = value.partition(b":")
            result[name.decode()] = (state == b"1", float(at))
        return result

    def outbox_key(self, part: str) -> str:
        """A key of the outbox; all share the {outbox} hash tag, hence one cluster slot."""
        return f"{self.prefix}:{{outbox}}:{part}"

    def enqueue(self, item_id: str, kind: str, payload: bytes, due_at: float) -> bool:
        """Add a pending outbox item; True if new, False if the id was taken (nothing changes)."""
        protocols.check_item(item_id, kind, due_at)
        keys = [self.outbox_key("items"), self.outbox_key("meta"), self.outbox_key("due")]
        return self._call("enqueue", _ENQUEUE, keys, [item_id, kind, payload, repr(float(due_at))]) == 1

    def claim(self, now: float, lease_seconds: float, limit: int) -> list[OutboxItem]:
        """Lease up to `limit` due pending items to the caller, in one Lua script."""
        protocols.check_claim(now, lease_seconds, limit)
        if limit == 0:
            return []
        until = float(now) + lease_seconds
        keys = [self.outbox_key("items"), self.outbox_key("meta"), self.outbox_key("due")]
        return _outbox_items(self._call("claim", _CLAIM, keys, [repr(float(now)), repr(until), limit]))

    def complete(self, item_id: str, note: str = "") -> bool:
        """Mark an item done; False if unknown or already done (its first note is kept)."""
        keys = [self.outbox_key(part) for part in ("items", "meta", "due", "done", "dead")]
        return self._call("complete", _COMPLETE, keys, [item_id, note]) == 1

    def _fail_item(self, item_id: str, to: str, due_at: str, error: str, attempt: int | None) -> bool:
        keys = [self.outbox_key(part) for part in ("items", "meta", "due", "dead")]
        args = [item_id, to, due_at, error, "" if attempt is None else str(attempt)]
        return self._call("fail", _FAIL, keys, args) == 1

    def retry(self, item_id: str, due_at: float, error: str, attempt: int | None = None) -> bool:
        """Leave a pending item for another attempt at due_at (if still at `attempt`, when given)."""
        protocols.check_retry(due_at)
        return self._fail_item(item_id, "retry", repr(float(due_at)), error, attempt)

    def give_up(self, item_id: str, error: str, attempt: int | None = None) -> bool:
        """Mark a pending item dead (if still at `attempt`, when given)."""
        return self._fail_item(item_id, "dead", "", error, attempt)

    def requeue(self, item_id: str, due_at: float) -> bool:
        """Put a dead item back to pending at due_at with no attempts; False if it was not dead."""
        protocols.check_requeue(item_id, due_at)
        keys = [self.outbox_key(part) for part in ("items", "meta", "due", "dead")]
        return self._call("requeue", _REQUEUE, keys, [item_id, repr(float(due_at))]) == 1

    def purge(self, state: str, before: float, limit: int) -> int:
        """Delete up to `limit` done or dead items due before `before`, soonest first, in one Lua script."""
        protocols.check_purge(state, before, limit)
        if limit == 0:
            return 0
        keys = [self.outbox_key("items"), self.outbox_key("meta"), self.outbox_key(_STATE_SET[state])]
        return int(self._call("purge", _PURGE, keys, [f"({float(before)!r}", limit, state]))

    def outbox(self, state: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """Items of one state or all, by due_at then id."""
        protocols.check_outbox(state, limit)
        if limit == 0:
            return []
        keys = [self.outbox_key("items"), self.outbox_key("meta")]
        keys += [self.outbox_key(_STATE_SET[each]) for each in (OUTBOX_STATES if state is None else (state,))]
        items = _outbox_items(self._call("outbox", _OUTBOX, keys, [limit]))
        # Ids compare as their UTF-8 bytes, as Redis and SQLite order them.
        items.sort(key=lambda item: (item.due_at, item.id.encode()))
        return items[:limit]

    def ping(self) -> bool:
        """Whether Redis answers; never raises."""
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def check_writable(self, timeout: float) -> bool:
        """Whether every primary takes a write (a SET of a key of its own that expires) within
        `timeout` seconds in all; never raises. Each goes over a connection kept for these
        checks, whose connect and reply timeouts share the bound, and is never retried."""
        try:
            targets = self._write_targets()
            share = timeout / (2 * len(targets))
            for pool, key in targets:
                self._health_client(pool, share).set(key, b"1", px=WRITABLE_CHECK_TTL_MS)
        except Exception:
            return False
        return True

    def _write_targets(self) -> list[tuple[redis.ConnectionPool, str]]:
        """Each primary's connection pool and a key it serves."""
        if isinstance(self.client, redis.Redis):
            return [(self.client.connection_pool, f"{self.prefix}:{{health}}:writable")]
        targets = []
        for node in self.client.get_primaries():
            if node.redis_connection is None:
                raise RedisConnectionError(f"no connection to {node.name}")
            for n in range(1 << 16):  # about as many tries as there are primaries
                key = f"{self.prefix}:{{health-{n}}}:writable"
                if self.client.get_node_from_key(key).name == node.name:
                    targets.append((node.redis_connection.connection_pool, key))
                    break
        return targets

    def _health_client(self, pool: redis.ConnectionPool, timeout: float) -> redis.Redis:
        """A client to the pool's server for write checks, with these timeouts and no retry."""
        kwargs = pool.connection_kwargs
        where = (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db"), timeout)
        client = self._health.get(where)
        if client is None:
            options = {**kwargs, "socket_timeout": timeout, "socket_connect_timeout": timeout,
                       "retry": Retry(NoBackoff(), 0)}
            client = self._health.setdefault(where, redis.Redis(connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class, **options)))
        return client

    def describe(self) -> str:
        """The server (a cluster's first node), as a URL with any password masked."""
        if isinstance(self.client, redis.Redis):
            pool = self.client.connection_pool
            kwargs = pool.connection_kwargs
            if "path" in kwargs:
                return f"unix://{_login(kwargs)}{kwargs['path']}?db={kwargs.get('db', 0)}"
            scheme = "rediss" if _tls(pool.connection_class) else "redis"
            where = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
        else:
            kwargs = self.client.get_connection_kwargs()
            node = self.client.get_default_node()
            scheme = "rediss-cluster" if _tls(kwargs.get("connection_class")) else "redis-cluster"
            where = f"{node.host}:{node.port}" if node is not None else "?"
        return f"{scheme}://{_login(kwargs)}{where}"

    def close(self) -> None:
        """Close the client's pooled connections, this thread's own and the write checks'."""
        if self._own is not None:
            self._own.close()
        for client in self._health.values():
            client.close()
        self._health.clear()
        self.client.close()
