"""The coordinators' desk: a web console, served by the same Flask app, where what callers leave
gets seen, heard, called back and closed, with a trail of who looked at what.

Theory of operation
-------------------
One blueprint at `/console/`, server-rendered Jinja pages; htmx (vendored under `static/`,
with its licence) only makes small swaps and the board's refresh, so every page and form
works with JavaScript off. People sign in with their own account (`ivr.console.accounts`);
the signed session cookie carries who they are, a session id the store must still know
(`ivr.console.session`), and when they were last seen: 15 minutes idle and they are signed
out. Every form and htmx POST carries a CSRF token (Flask-WTF). Records are addressed by
opaque refs, never by anything of the call; every read of a record happens under the reader's
own account and is written to the audit log (`ivr.console.audit`).

`init_app(app, service)` mounts it: `service` is what the web app already has (the store, the
flows, the clock). Without SECRET_KEY outside development the desk stays off (its pages answer
503) and the line itself keeps serving.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from flask import Flask

from ivr.flows.model import Flow
from ivr.stores.protocols import Store

log = logging.getLogger("ivr.console")

# Settings the desk reads from the environment when the app's configuration lacks them.
CONSOLE_SETTINGS = ("SECRET_KEY", "TWILIO_MEDIA_BASE")
TWILIO_API = "https://api.twilio.com"


class Flows(Protocol):
    """Where the desk finds the line's current flow (its teams and calendar)."""

    def get(self, flow_id: str, version: str | None = None) -> Flow | None: ...


class Service(Protocol):
    """What the web app gives the desk."""

    store: Store
    registry: Any
    flow_id: str
    clock: Callable[[], datetime]
    settings: dict


@dataclass
class Desk:
    """The desk's dependencies, kept in app.extensions["ivr.console"]."""

    store: Store
    flows: Flows
    flow_id: str
    clock: Callable[[], datetime]
    settings: Mapping[str, Any]
    dev: bool = False
    media_base: str = TWILIO_API
    http: Any = field(default=None)  # a requests.Session for Twilio's media, made on first use
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})  # whose X-Forwarded-For is believed

    def now(self) -> float:
        """The time now (the app's clock), in seconds since the epoch."""
        return self.clock().timestamp()

    def flow(self) -> Flow | None:
        """The line's current flow."""
        return self.flows.get(self.flow_id)


def _development_secret(folder: str) -> str:
    """A key every worker of a development server shares: made once, kept in the instance folder (0600)."""
    path = os.path.join(folder, "desk-development-key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as existing:
            return existing.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        key = secrets.token_hex(32)
        out.write(key)
    return key


def init_app(app: Flask, service: Service) -> None:
    """Mount the desk on the app (see the module docstring)."""
    from flask_wtf.csrf import CSRFProtect

    from ivr.console.views import blueprint, disabled_blueprint

    settings = dict(service.settings)
    for name in CONSOLE_SETTINGS:
        if not settings.get(name) and os.environ.get(name):
            settings[name] = os.environ[name]
    dev = bool(settings.get("IVR_DEV"))
    secret = settings.get("SECRET_KEY")
    if not secret:
        if not dev:
            log.warning("SECRET_KEY is not set: the coordinators' desk (/console/) is off")
            app.register_blueprint(disabled_blueprint)
            return
        secret = _development_secret(app.instance_path)
        log.warning("DEVELOPMENT MODE: the desk signs sessions with a key kept in the instance folder "
                    "(set SECRET_KEY)")
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="ivr_desk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=not dev,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/console",
        DESK_HSTS=not dev,
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the session, which the idle logoff ends
    )
    app.extensions["ivr.console"] = Desk(
        store=cast(Store, service.store), flows=service.registry, flow_id=service.flow_id, clock=service.clock,
        settings=settings, dev=dev, media_base=str(settings.get("TWILIO_MEDIA_BASE") or TWILIO_API).rstrip("/"),
        trusted_proxies=frozenset(part.strip() for part in str(settings.get("IVR_TRUSTED_PROXIES")
                                                               or "127.0.0.1,::1").split(",") if part.strip()))
    CSRFProtect(app)
    app.register_blueprint(blueprint)
