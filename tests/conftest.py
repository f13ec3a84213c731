"""Shared fixtures: TwiML schema validation, apps under test, the desk's clock, fast password
hashing and fake Twilio media, and a real Redis server for @pytest.mark.redis."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from flask import Flask

from desk_sim import FAST_HASHER, Clock, FakeTwilioMedia, silent_mp3
from twiml_schema import assert_valid_twiml as _assert_valid_twiml
from twilio_sim import APP_SETTINGS, BASE, FLOWS, LINE, MONOTONIC_START, OPEN_HOURS, TOKEN, FakeClock

from ivr.console import accounts
from ivr.web.app import create_app

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def assert_valid_twiml():
    """A function that raises with the schema's error log unless a document passes twiml.xsd."""
    return _assert_valid_twiml


@pytest.fixture
def make_app(tmp_path, monkeypatch) -> Iterator[Callable[..., Flask]]:
    """Apps on the shipped flows with signed webhooks, called at `now` (OPEN_HOURS) on a monotonic
    clock that moves only when the test advances it (`app.extensions["ivr"].monotonic`); settings
    override. No setting comes from the shell, and every store opened is closed after the test."""
    for name in APP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    apps: list[Flask] = []

    def make(now: datetime = OPEN_HOURS, **config) -> Flask:
        settings = {"TWILIO_AUTH_TOKEN": TOKEN, "IVR_FLOWS_DIR": str(FLOWS), "IVR_FALLBACK_NUMBER": LINE,
                    "IVR_INSTANCE_PATH": str(tmp_path / "instance"), "CLOCK": lambda: now, "PUBLIC_URL": BASE,
                    "MONOTONIC": FakeClock(MONOTONIC_START)}
        settings.update(config)
        app = create_app(settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["ivr"].store.close()


@pytest.fixture
def fast_hashing(monkeypatch) -> None:
    """Accounts hash passwords with argon2 at its cheapest (a desk test signs in many times)."""
    monkeypatch.setattr(accounts, "HASHER", FAST_HASHER)


@pytest.fixture
def clock() -> Clock:
    """The desk's wall clock, at OPEN_HOURS until the test moves it."""
    return Clock(OPEN_HOURS)


@pytest.fixture
def media() -> Iterator[FakeTwilioMedia]:
    """Twilio's media endpoint, faked on 127.0.0.1, serving a second of silence."""
    with FakeTwilioMedia(silent_mp3()) as fake:
        yield fake


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
