"""The console's roles in Redis: accounts, the audit log, the worklist, sign-in limits,
throttles and the live board, under keys of their own.

- Accounts: the hash `ivr:{accounts}`, name -> the account as JSON.
- The audit log: the stream `ivr:{audit}:log`, one entry per event (field `e`, its JSON).
  A stream is append-only by design and keeps the order events came in.
- The worklist, all under the `{work}` hash tag: `items` (a hash, id -> the item as JSON),
  `refs` (ref -> id), `ids` (a sorted set of ids at score 0, for prefix look-ups by lex
  range), one sorted set of ids by call time per (state, team, kind), `q:<state>:<team>:<kind>`,
  and `groups`, the set of those triples as JSON, so a listing names every key its script
  touches. Tracking, updating (a compare-and-set on the version) and untracking are each
  one Lua script.
- Sign-in limits and throttles: one short-lived string per key (`ivr:signin:<key>`,
  `ivr:throttle:<key>`). The times that decide are the ones the caller passes (stored in
  the value); the key's own expiry only clears it away afterwards.
- The live board, under `{board}`: `live` (a hash, CallSid -> "<since> <stage>") and
  `started` (a sorted set of CallSids by when each call was first noted, trimmed to two days).

A mixin of `RedisStore`: it uses the store's client, key prefix and script runner.
"""

from __future__ import annotations

import base64
import json
import math
from contextlib import AbstractContextManager
from typing import Any

import redis
from redis.commands.core import Script

from ivr.stores.protocols import (
    BOARD_KEEP_SECONDS, WORK_STATES, Account, AuditEvent, BoardMove, WorkItem, WorkKey,
    account_from_json, account_json, check_account, check_list, check_work_items, check_work_key,
    check_work_states, check_work_update,
)

AUDIT_PAGE = 500

# KEYS: items, refs, ids, the item's queue, groups; ARGV: id, JSON, ref, created_at, group.
_TRACK = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[5])
return 1
"""

# The guard of a compare-and-set: KEYS[1] is the items hash, ARGV[1] the id, ARGV[2] the
# version the caller read; the script goes on only if the stored item is still at that version.
_IF_VERSION = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or cjson.decode(current).version ~= tonumber(ARGV[2]) then
  return 0
end
"""

# KEYS: items, the old queue, the new queue, groups; ARGV: id, expected version, new JSON,
# created_at, the new group.
_UPDATE = _IF_VERSION + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[5])
return 1
"""

# KEYS: items, refs, ids, the item's queue; ARGV: id, expected version, ref.
_UNTRACK = _IF_VERSION + """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
"""

# Whether id a comes before id b byte by byte (Lua's own `<` on strings follows the server's
# locale), as a sorted set orders members of one score and SQLite orders TEXT.
_LESS = """
local function less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end
"""

# KEYS: items, then queues; ARGV: "asc" or "desc", limit, the score to start from and the one
# to stop at (in that direction: "-inf", "+inf", "<score>" or "(<score>"), and a page key's
# score and id ("" and "" for none). The JSON of the first `limit` items in that direction
# across the queues, leaving out any at the key's score that are not past its id: each queue
# gives its first (and those tied with the key), the candidates are merged by score then id,
# and only the chosen ones are read.
_ITEMS = _LESS + """
local asc = ARGV[1] == 'asc'
local limit = tonumber(ARGV[2])
local tie, tie_id = tonumber(ARGV[5]), ARGV[6]
local found = {}
for k = 2, #KEYS do
  local take = limit
  if tie then
    take = take + redis.call('ZCOUNT', KEYS[k], ARGV[5], ARGV[5])
  end
  local flat
  if asc then
    flat = redis.call('ZRANGEBYSCORE', KEYS[k], ARGV[3], ARGV[4], 'WITHSCORES', 'LIMIT', 0, take)
  else
    flat = redis.call('ZREVRANGEBYSCORE', KEYS[k], ARGV[3], ARGV[4], 'WITHSCORES', 'LIMIT', 0, take)
  end
  for i = 1, #flat, 2 do
    local id, score = flat[i], tonumber(flat[i + 1])
    if not tie or score ~= tie or (asc and less(tie_id, id)) or (not asc and less(id, tie_id)) then
      found[#found + 1] = {id, score}
    end
  end
end
table.sort(found, function(a, b)
  if not asc then
    a, b = b, a
  end
  if a[2] ~= b[2] then
    return a[2] < b[2]
  end
  return less(a[1], b[1])
end)
local out = {}
for i = 1, math.min(#found, limit) do
  local value = redis.call('HGET', KEYS[1], found[i][1])
  if value then
    out[#out + 1] = value
  end
end
return out
"""

# KEYS: queues; ARGV: a page key's score and id ("" and "" for none). The size of each, or
# with a key, how many of each are ahead of it.
_COUNTS = _LESS + """
local tie, tie_id = tonumber(ARGV[1]), ARGV[2]
local out = {}
for k = 1, #KEYS do
  if tie then
    local n = redis.call('ZCOUNT', KEYS[k], '-inf', '(' .. ARGV[1])
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], ARGV[1], ARGV[1])) do
      if less(id, tie_id) then
        n = n + 1
      end
    end
    out[k] = n
  else
    out[k] = redis.call('ZCARD', KEYS[k])
  end
end
return out
"""

# KEYS: data, time, the kind's set; ARGV: id.
_DELETE_RECORD = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

# KEYS: the key's string; ARGV: at, until, milliseconds to keep it. "<count> <last> <until>".
_COUNT_FAILURE = """
local count = 0
local current = redis.call('GET', KEYS[1])
if current then
  local n, last, untl = string.match(current, '^(%S+) (%S+) (%S+)$')
  if n and tonumber(untl) > tonumber(ARGV[1]) then
    count = tonumber(n)
  end
end
count = count + 1
redis.call('SET', KEYS[1], count .. ' ' .. ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3])
return count
"""

# KEYS: the key's string; ARGV: at, seconds, milliseconds to keep it.
_THROTTLE = """
local last = redis.call('GET', KEYS[1])
if last and tonumber(ARGV[1]) - tonumber(last) < tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""

# A call's move on the board, for scripts to call after their own work (a turn's save does):
# the live hash and the started set, then `board_args`: CallSid, "<since> <stage>" ("" takes
# the call off), at, the oldest start kept ("(<time>").
BOARD_MOVE = """
local function board_move(live, started, sid, value, at, oldest)
  if value == '' then
    redis.call('HDEL', live, sid)
    return
  end
  redis.call('HSET', live, sid, value)
  redis.call('ZADD', started, 'NX', at, sid)
  redis.call('ZREMRANGEBYSCORE', started, '-inf', oldest)
end
"""

_BOARD_NOTE = BOARD_MOVE + """
board_move(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return 1
"""


def _work_json(item: WorkItem) -> str:
    return json.dumps({"id": item.id, "ref": item.ref, "kind": item.kind, "team": item.team,
                       "created_at": repr(float(item.created_at)), "state": item.state, "by": item.by,
                       "attempts": item.attempts, "note": item.note, "changed_at": repr(float(item.changed_at)),
                       "version": item.version}, sort_keys=True)


def _work(value: bytes | str) -> WorkItem:
    d = json.loads(value)
    return WorkItem(id=d["id"], ref=d["ref"], kind=d["kind"], team=d["team"], created_at=float(d["created_at"]),
                    state=d["state"], by=d["by"], attempts=int(d["attempts"]), note=d["note"],
                    changed_at=float(d["changed_at"]), version=int(d["version"]))


def _keep_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class RedisDesk:
    """The console's roles, over the client of the store it is mixed into."""

    client: redis.Redis | Any
    prefix: str
    _guard: AbstractContextManager[None]  # the store's one converter of errors into StoreUnavailable

    def _run(self, script: Script, keys: list[str], args: list[Any]) -> Any:  # pragma: no cover - the store's
        raise NotImplementedError

    def _call(self, name: str, source: str, keys: list[str], args: list[Any]) -> Any:
        scripts: dict[str, Script] = self.__dict__.setdefault("_desk_scripts", {})
        script = scripts.get(name)
        if script is None:
            script = scripts[name] = self.client.register_script(source)
        return self._run(script, keys, args)

    def _do(self, method: str, *args: Any) -> Any:
        with self._guard:
            return getattr(self.client, method)(*args)

    def desk_key(self, tag: str, part: str = "") -> str:
        """A key of the console's; each role's keys share a hash tag, hence one cluster slot."""
        return f"{self.prefix}:{{{tag}}}" + (f":{part}" if part else "")

    # -- accounts ----------------------------------------------------------------------
    def add_account(self, account: Account) -> bool:
        """Keep a new account; False if the name is taken."""
        check_account(account)
        return bool(self._do("hsetnx", self.desk_key("accounts"), account.name, account_json(account)))

    def put_account(self, account: Account) -> None:
        """Replace (or keep) an account."""
        check_account(account)
        self._do("hset", self.desk_key("accounts"), account.name, account_json(account))

    def get_account(self, name: str) -> Account | None:
        """The account, or None."""
        value = self._do("hget", self.desk_key("accounts"), name)
        return None if value is None else account_from_json(value)

    def accounts(self) -> list[Account]:
        """Every account, by name."""
        values: dict[bytes, bytes] = self._do("hgetall", self.desk_key("accounts"))
        return [account_from_json(values[name]) for name in sorted(values)]

    # -- the audit log -----------------------------------------------------------------
    def audit(self, event: AuditEvent) -> None:
        """Append an event."""
        blob = json.dumps({"at": repr(float(event.at)), "user": event.user, "role": event.role,
                           "action": event.action, "record": event.record, "address": event.address,
                           "detail": event.detail})
        self._do("xadd", self.desk_key("audit", "log"), {"e": blob})

    def audit_events(self, since: float | None = None, user: str | None = None,
                     limit: int = 100) -> list[AuditEvent]:
        """Newest first, at or after `since`, of `user`, at most `limit`."""
        check_list(limit, since)
        out: list[AuditEvent] = []
        high = "+"
        while len(out) < limit:
            page = self._do("xrevrange", self.desk_key("audit", "log"), high, "-", AUDIT_PAGE)
            for entry_id, fields in page:
                d = json.loads(fields[b"e"])
                event = AuditEvent(float(d["at"]), d["user"], d["role"], d["action"], d["record"], d["address"],
                                   d["detail"])
                if since is not None and event.at < since:
                    return out  # appended in time order: nothing older can match
                if user is None or event.user == user:
                    out.append(event)
                    if len(out) == limit:
                        return out
            if len(page) < AUDIT_PAGE:
                return out
            high = "(" + page[-1][0].decode()
        return out

    # -- the worklist ------------------------------------------------------------------
    def _queue(self, state: str, team: str, kind: str) -> str:
        return self.desk_key("work", f"q:{state}:{team}:{kind}")

    def _groups(self, states: tuple[str, ...], teams: tuple[str, ...] | None,
                kinds: tuple[str, ...] | None) -> list[tuple[str, str, str]]:
        members = self._do("smembers", self.desk_key("work", "groups"))
        groups = sorted(tuple(json.loads(member)) for member in members)
        return [(state, team, kind) for state, team, kind in groups
                if state in states and (teams is None or team in teams) and (kinds is None or kind in kinds)]

    def track(self, item: WorkItem) -> bool:
        """Put a record on the worklist unless it is there."""
        check_work_states((item.state,))
        keys = [self.desk_key("work", part) for part in ("items", "refs", "ids")]
        keys += [self._queue(item.state, item.team, item.kind), self.desk_key("work", "groups")]
        args = [item.id, _work_json(item), item.ref, repr(float(item.created_at)),
                json.dumps([item.state, item.team, item.kind])]
        return self._call("track", _TRACK, keys, args) == 1

    def work_item(self, record_id: str) -> WorkItem | None:
        """The item, or None."""
        value = self._do("hget", self.desk_key("work", "items"), record_id)
        return None if value is None else _work(value)

    def work_item_by_ref(self, ref: str) -> WorkItem | None:
        """The item with that ref, or None."""
        record_id = self._do("hget", self.desk_key("work", "refs"), ref)
        return None if record_id is None else self.work_item(record_id.decode())

    def work_ids(self, prefix: str, limit: int) -> list[str]:
        """Ids starting with `prefix`, in id order."""
        check_list(limit, None)
        if limit == 0:
            return []
        low = b"[" + prefix.encode()
        high = b"[" + prefix.encode() + b"\xff" * 4 if prefix else b"+"
        found = self._do("zrangebylex", self.desk_key("work", "ids"), low if prefix else b"-", high, 0, limit)
        return [value.decode() for value in found]

    def update_work(self, old: WorkItem, new: WorkItem) -> bool:
        """Compare-and-set on the version, moving the id between queues."""
        check_work_update(old, new)
        keys = [self.desk_key("work", "items"), self._queue(old.state, old.team, old.kind),
                self._queue(new.state, new.team, new.kind), self.desk_key("work", "groups")]
        args = [new.id, old.version, _work_json(new), repr(float(new.created_at)),
                json.dumps([new.state, new.team, new.kind])]
        return self._call("update", _UPDATE, keys, args) == 1

    def work_items(self, states: tuple[str, ...], teams: tuple[str, ...] | None = None,
                   kinds: tuple[str, ...] | None = None, limit: int = 100,
                   before: float | None = None, after: WorkKey | None = None,
                   ahead_of: WorkKey | None = None) -> list[WorkItem]:
        """The queues of the groups asked for, merged by call time in one script (see `Worklist`
        in protocols for the order and the keys)."""
        check_work_items(states, limit, before, after, ahead_of)
        queues = [self._queue(*group) for group in self._groups(states, teams, kinds)]
        if not queues or limit == 0:
            return []
        below = "+inf" if before is None else f"({float(before)!r}"
        tie: WorkKey | None = after if after is not None else ahead_of
        if ahead_of is not None and before is not None and before <= ahead_of[0]:
            tie = None  # the time bound comes first: no item at the key's time is in
        start = "-inf" if ahead_of is None else below
        if tie is not None:
            start = repr(float(tie[0]))
        args = ["asc", limit, start, below] if ahead_of is None else ["desc", limit, start, "-inf"]
        args += [repr(float(tie[0])), tie[1]] if tie is not None else ["", ""]
        found = self._call("items", _ITEMS, [self.desk_key("work", "items"), *queues], args)
        items = sorted((_work(value) for value in found), key=lambda item: (item.created_at, item.id.encode()))
        return items[:limit]

    def work_counts(self, teams: tuple[str, ...] | None = None,
                    kinds: tuple[str, ...] | None = None, ahead_of: WorkKey | None = None) -> dict[str, int]:
        """Items per state (ahead of a key, with one)."""
        check_work_key(ahead_of)
        groups = self._groups(WORK_STATES, teams, kinds)
        counts = dict.fromkeys(WORK_STATES, 0)
        if groups:
            args = [repr(float(ahead_of[0])), ahead_of[1]] if ahead_of is not None else ["", ""]
            sizes = self._call("counts", _COUNTS, [self._queue(*group) for group in groups], args)
            for (state, _, _), size in zip(groups, sizes, strict=True):
                counts[state] += int(size)
        return counts

    def untrack(self, old: WorkItem) -> bool:
        """Take an item off the worklist if it is still at `old`'s version."""
        keys = [self.desk_key("work", part) for part in ("items", "refs", "ids")]
        keys.append(self._queue(old.state, old.team, old.kind))
        return self._call("untrack", _UNTRACK, keys, [old.id, old.version, old.ref]) == 1

    def get_records(self, record_ids: list[str]) -> dict[str, tuple[str, float, bytes]]:
        """The records that exist among those ids (one HMGET)."""
        if not record_ids:
            return {}
        values = self._do("hmget", f"{self.prefix}:{{records}}:data", record_ids)
        found = {}
        for record_id, value in zip(record_ids, values, strict=True):
            if value is not None:
                d = json.loads(value)
                found[record_id] = (d["kind"], float(d["created_at"]), base64.b64decode(d["blob"]))
        return found

    def delete_record(self, record_id: str, kind: str) -> bool:
        """Delete a durable record."""
        keys = [f"{self.prefix}:{{records}}:{part}" for part in ("data", "time", f"kind:{kind}")]
        return self._call("delete_record", _DELETE_RECORD, keys, [record_id]) == 1

    # -- sign-in limits and throttles ----------------------------------------------------
    def count_failure(self, key: str, at: float, keep_seconds: float) -> int:
        """One more failure in a row (a streak past its time starts over)."""
        args = [repr(float(at)), repr(float(at) + keep_seconds), _keep_ms(keep_seconds)]
        return int(self._call("count_failure", _COUNT_FAILURE, [f"{self.prefix}:signin:{key}"], args))

    def failures(self, key: str, at: float) -> tuple[int, float]:
        """(failures in a row, the last one's time), or (0, 0.0)."""
        value = self._do("get", f"{self.prefix}:signin:{key}")
        if value is None:
            return 0, 0.0
        count, last, until = value.decode().split(" ")
        return (int(count), float(last)) if float(until) > at else (0, 0.0)

    def clear_failures(self, key: str) -> None:
        """End the streak."""
        self._do("delete", f"{self.prefix}:signin:{key}")

    def throttle(self, key: str, at: float, seconds: float) -> bool:
        """True (noting `at`) if nothing passed for key in the last `seconds`."""
        args = [repr(float(at)), repr(float(seconds)), _keep_ms(seconds)]
        return self._call("throttle", _THROTTLE, [f"{self.prefix}:throttle:{key}"], args) == 1

    # -- the live board ----------------------------------------------------------------
    def board_keys(self) -> list[str]:
        """The board's keys, as `BOARD_MOVE` takes them: the live calls, the calls started."""
        return [self.desk_key("board", "live"), self.desk_key("board", "started")]

    @staticmethod
    def board_args(call_sid: str, move: BoardMove) -> list[str]:
        """`BOARD_MOVE`'s arguments for a move."""
        at = float(move.at)
        value = "" if move.stage is None else f"{at!r} {move.stage}"
        return [call_sid, value, repr(at), f"({at - BOARD_KEEP_SECONDS!r}"]

    def board_note(self, call_sid: str, stage: str, at: float) -> None:
        """The call is at `stage` since `at`."""
        self._call("board_note", _BOARD_NOTE, self.board_keys(), self.board_args(call_sid, BoardMove(stage, at)))

    def board_end(self, call_sid: str) -> None:
        """Off the board; still counted as started."""
        self._do("hdel", self.desk_key("board", "live"), call_sid)

    def board(self, started_since: float, live_since: float) -> tuple[list[tuple[str, float]], int]:
        """Live calls by stage, and calls started since a time; calls not noted since
        `live_since` (abandoned without a status callback) leave the board."""
        entries: dict[bytes, bytes] = self._do("hgetall", self.desk_key("board", "live"))
        live, stale = [], []
        for call_sid, value in entries.items():
            since, _, stage = value.decode().partition(" ")
            if float(since) >= live_since:
                live.append((float(since), call_sid, stage))
            else:
                stale.append(call_sid)
        if stale:
            self._do("hdel", self.desk_key("board", "live"), *stale)
        started = self._do("zcount", self.desk_key("board", "started"), repr(float(started_since)), "+inf")
        return [(stage, since) for since, _, stage in sorted(live)], int(started)
