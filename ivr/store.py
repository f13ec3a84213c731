"""Where a call's state lives between webhooks: an opaque, versioned blob per CallSid.

Every save is a compare-and-set on the version the caller loaded, so two webhooks of
one call racing (a retried request, a status callback overlapping a turn) cannot
silently overwrite each other: the loser sees False and reloads. Records expire, so
an abandoned call's state goes away on its own.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

DEFAULT_SQLITE_NAME = "ivr.sqlite3"


class StoreUnavailable(Exception):
    """The backend cannot be reached; callers should take the safe route, not crash."""


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

    def ping(self) -> bool:
        """Whether the backend answers; never raises."""
        ...

    def close(self) -> None:
        """Release connections opened by this process."""
        ...


def sqlite_path(url: str) -> str:
    """The file a sqlite:// URL names: sqlite:///abs/path (sqlite:////abs/path also works)."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path:
        raise ValueError(f"expected sqlite:///absolute/path, got {url!r}")
    path = unquote(parts.path)
    # SQLAlchemy writes absolute paths with four slashes; accept that spelling too.
    return "/" + path.lstrip("/")


def from_url(url: str | None, instance_path: str) -> CallStore:
    """The store a URL names: empty -> SQLite in the instance folder, sqlite:///, redis(s)://."""
    # Imported here so that a SQLite deployment never needs redis, and vice versa.
    if not url:
        from ivr.store_sqlite import SqliteStore

        return SqliteStore(os.path.join(instance_path, DEFAULT_SQLITE_NAME))
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from ivr.store_sqlite import SqliteStore

        return SqliteStore(sqlite_path(url))
    if scheme in ("redis", "rediss"):
        from ivr.store_redis import RedisStore

        return RedisStore.from_url(url)
    raise ValueError(
        f"unknown store URL scheme {scheme!r}; use sqlite:///, redis:// or rediss://"
    )
