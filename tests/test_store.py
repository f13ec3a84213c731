"""Choosing a store from a URL, and what it says of where it is."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ivr.stores import from_url, sqlite_path
from ivr.stores.protocols import StoreUnavailable
from ivr.stores.sqlite import SqliteStore


@pytest.mark.parametrize("url", [None, ""])
def test_default_is_sqlite_in_the_instance_folder(tmp_path, url):
    store = from_url(url, str(tmp_path / "instance"))
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == os.path.join(str(tmp_path / "instance"), "ivr.sqlite3")
        assert store.describe() == f"sqlite:///{str(tmp_path / 'instance' / 'ivr.sqlite3').lstrip('/')}"
        assert store.ping()
        assert (tmp_path / "instance" / "ivr.sqlite3").is_file()
    finally:
        store.close()


@pytest.mark.parametrize("slashes", ["///", "////"])
def test_sqlite_url_names_the_file(tmp_path, slashes):
    target = tmp_path / "state" / "calls.db"
    store = from_url(f"sqlite:{slashes}{str(target).lstrip('/')}", str(tmp_path / "unused"))
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == str(target)
        assert store.save("CA1", b"x", 0, 60)
        assert target.is_file()
        assert not (tmp_path / "unused").exists()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/ivr/ivr.sqlite3", "/var/lib/ivr/ivr.sqlite3"),
        ("sqlite:////var/lib/ivr/ivr.sqlite3", "/var/lib/ivr/ivr.sqlite3"),
        ("sqlite:///srv/my%20ivr/db", "/srv/my ivr/db"),
    ],
)
def test_sqlite_path(url, path):
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://host/ivr.db", "sqlite://", "sqlite:"])
def test_sqlite_url_needs_an_absolute_path(url):
    with pytest.raises(ValueError, match="sqlite:///"):
        sqlite_path(url)


def test_a_relative_sqlite_path_is_described_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SqliteStore("state/ivr.sqlite3")
    assert store.describe() == f"sqlite:///{str(tmp_path / 'state' / 'ivr.sqlite3').lstrip('/')}"


@pytest.mark.parametrize(
    ("url", "described"),
    [("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"),
     ("rediss://user:secret@redis.example.org:6380/0", "rediss://user:***@redis.example.org:6380/0")],
)
def test_redis_urls_make_a_fail_fast_redis_store(tmp_path, url, described):
    from ivr.stores.redis import RedisStore

    store = from_url(url, str(tmp_path))  # connects lazily: nothing is contacted here
    try:
        assert isinstance(store, RedisStore)
        assert store.describe() == described
        kwargs = store.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 0.5
        assert kwargs["socket_connect_timeout"] == 0.5
        assert kwargs["retry"].get_retries() == 1
    finally:
        store.close()
    assert not os.listdir(tmp_path)


def test_redis_timeouts_can_come_from_the_url(tmp_path):
    store = from_url("redis://127.0.0.1:6379/15?socket_timeout=2", str(tmp_path))
    try:
        assert store.client.connection_pool.connection_kwargs["socket_timeout"] == 2.0
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "described"),
    [("redis://:hunter2@cache:6390", "redis://:***@cache:6390/0"), ("redis://ops@cache/2", "redis://ops@cache:6379/2"),
     ("unix:///run/redis.sock?db=3", "unix:///run/redis.sock?db=3"),
     ("unix://:hunter2@/run/redis.sock", "unix://:***@/run/redis.sock?db=0")],
)
def test_a_redis_store_says_where_it_is_without_its_password(url, described):
    from ivr.stores.redis import RedisStore

    store = RedisStore.from_url(url)  # connects lazily: nothing is contacted here
    try:
        assert store.describe() == described
    finally:
        store.close()


def test_the_factory_loads_no_backend_until_a_url_asks_for_it():
    code = ("import sys, ivr.stores; print(sorted(m for m in sys.modules if m.startswith('ivr.stores.')),"
            " 'redis' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["['ivr.stores.protocols']", "False"]


@pytest.mark.parametrize("url", ["postgres://db/ivr", "memory:", "http://redis:6379"])
def test_unknown_scheme_is_refused(tmp_path, url):
    with pytest.raises(ValueError, match="unknown store URL scheme"):
        from_url(url, str(tmp_path))


def test_store_unavailable_is_an_exception_callers_can_catch():
    assert issubclass(StoreUnavailable, Exception)
    assert not issubclass(StoreUnavailable, (OSError, ValueError))
