"""Where state is kept: the store a URL names. The roles a store plays are in `ivr.stores.protocols`.

The backends are imported only when a URL asks for one, so a SQLite deployment never needs
redis; they import from `ivr.stores.protocols` alone, never from here.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from ivr.stores.protocols import Store

DEFAULT_SQLITE_NAME = "ivr.sqlite3"


def sqlite_path(url: str) -> str:
    """The file a sqlite:// URL names: sqlite:///abs/path (sqlite:////abs/path also works)."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path:
        raise ValueError(f"expected sqlite:///absolute/path, got {url!r}")
    path = unquote(parts.path)
    # SQLAlchemy writes absolute paths with four slashes; accept that spelling too.
    return "/" + path.lstrip("/")


def from_url(url: str | None, instance_path: str) -> Store:
    """The store a URL names: empty -> SQLite in the instance folder, sqlite:///, redis(s)://,
    redis-cluster:// (or rediss-cluster://) for Redis Cluster."""
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
