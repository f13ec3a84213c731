"""Call state in Redis: one string key per call, one round trip per load or save.

The value is the version in ASCII, a colon, then the blob ("7:{...}"), which is
smaller than a hash and read with a single GET. A save is one Lua script that
compares the version, writes the new value and sets its expiry atomically. Keys are
`ivr:{CallSid}:call`: the braces are a Redis Cluster hash tag, so anything else ever
kept for a call lands in the same slot; nothing here scans keys.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ivr.store import StoreUnavailable

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


def _unpack(value: bytes | None) -> tuple[bytes | None, int]:
    if value is None:
        return None, 0
    head, sep, blob = value.partition(b":")
    if not sep or not head.isdigit():
        return None, 0
    return blob, int(head)


class RedisStore:
    """A CallStore in Redis (or anything speaking its protocol: Valkey, KeyDB)."""

    def __init__(self, client: redis.Redis, *, prefix: str = "ivr"):
        self.client = client
        self.prefix = prefix
        self._save = client.register_script(_SAVE)

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
        client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), retries),
        )
        return cls(client, prefix=prefix)

    def key(self, call_sid: str) -> str:
        """The Redis key holding this call's state."""
        return f"{self.prefix}:{{{call_sid}}}:call"

    def load(self, call_sid: str) -> tuple[bytes | None, int]:
        """The call's blob and version; (None, 0) when absent or expired."""
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
        try:
            saved = self._save(
                keys=[self.key(call_sid)], args=[int(expected_version), blob, ttl_ms]
            )
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

    def ping(self) -> bool:
        """Whether Redis answers; never raises."""
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def close(self) -> None:
        """Close the client's pooled connections."""
        self.client.close()
