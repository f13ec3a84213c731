"""Shared fixtures: TwiML schema validation and a real Redis server for @pytest.mark.redis."""

from __future__ import annotations

import os

import pytest

from twiml_schema import assert_valid_twiml as _assert_valid_twiml

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def assert_valid_twiml():
    """A function that raises with the schema's error log unless a document passes twiml.xsd."""
    return _assert_valid_twiml


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a reachable test Redis; skips locally, fails under CI, when there is none."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = os.environ.get("REDIS_URL") or DEFAULT_TEST_REDIS_URL
    client = redis.Redis.from_url(
        url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        message = (
            f"Redis at {url} is unreachable ({exc}); start redis-server or set REDIS_URL"
        )
        # In CI a missing server must not quietly turn the Redis tests into skips.
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    finally:
        client.close()
    return url
