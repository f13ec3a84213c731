"""The Flask app Twilio calls: configuration, the store, the flows, the webhooks and /healthz.

`create_app()` reads its configuration from the environment (see the README's
table) unless given a mapping. The webhooks (`POST /voice...`) are answered by
`webhooks.Webhooks` in front of Flask's own WSGI callable, which serves the rest.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, current_app, jsonify

from ivr.console import init_app as init_console
from ivr.web import turns
from ivr.web.turns import CallService, utc_now
from ivr.web.registry import FlowRegistry
from ivr.stores import from_url
from ivr.web.webhooks import MAX_BODY_BYTES, SafeRoute, Signing, Webhooks

log = logging.getLogger("ivr.web")
DEFAULT_PROXIES = "127.0.0.1,::1"  # forwarded headers are believed from these addresses only
ENV_SETTINGS = ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "REDIS_URL", "IVR_FLOWS_DIR", "IVR_FLOW", "PUBLIC_URL",
                "IVR_FALLBACK_NUMBER", "IVR_DEV", "IVR_TRUSTED_PROXIES", "IVR_INSTANCE_PATH", "TWILIO_SMS_FROM",
                "RIDES_WEBHOOK_URL", "RIDES_WEBHOOK_SECRET")


def _settings(config) -> dict:
    settings: dict[str, Any] = {name: os.environ.get(name) for name in ENV_SETTINGS}
    settings.update(config or {})
    settings["IVR_FLOWS_DIR"] = settings.get("IVR_FLOWS_DIR") or "flows"
    settings["IVR_DEV"] = str(settings.get("IVR_DEV") or "").lower() in ("1", "true", "yes")
    return settings


def create_app(config: dict | None = None) -> Flask:
    """Build the app; refuses to start with broken flows, or without a token outside development."""
    settings = _settings(config)
    _log_to_stderr()
    app = Flask(__name__, instance_path=settings.get("IVR_INSTANCE_PATH") or None)
    app.config.update(settings, MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    if not settings.get("TWILIO_AUTH_TOKEN"):
        if not settings["IVR_DEV"]:
            raise RuntimeError("TWILIO_AUTH_TOKEN is not set: refusing to serve unsigned webhooks "
                               "(set IVR_DEV=1 for local development without signature checks)")
        log.warning("DEVELOPMENT MODE: Twilio signatures are NOT checked; never expose this server")
    if not settings.get("PUBLIC_URL") and not settings["IVR_DEV"]:
        # Without it the URL a signature covers would come from headers any client writes.
        raise RuntimeError("PUBLIC_URL is not set: give the base URL Twilio calls, e.g. https://ivr.example.org "
                           "(IVR_DEV=1 rebuilds it from the Host header and a trusted proxy's X-Forwarded-*)")
    if not settings.get("IVR_FALLBACK_NUMBER"):
        log.warning("IVR_FALLBACK_NUMBER is not set: when the line cannot serve a call, the caller hears the "
                    "apology and is asked to call again, with no one to reach")
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)  # it holds member records: the store keeps it 0700
    store = from_url(settings.get("REDIS_URL"), app.instance_path)
    registry = FlowRegistry(settings["IVR_FLOWS_DIR"], store)
    registry.load()
    flow_id = settings.get("IVR_FLOW") or _only_flow(registry)
    if registry.get(flow_id) is None:
        raise RuntimeError(f'IVR_FLOW "{flow_id}" is not among the flows: {", ".join(sorted(registry.current))}')
    clock = settings.get("CLOCK") or utc_now
    app.extensions["ivr"] = CallService(registry, store, flow_id, settings.get("IVR_FALLBACK_NUMBER"),
                                        settings=settings, clock=clock,
                                        **({"monotonic": settings["MONOTONIC"]} if settings.get("MONOTONIC") else {}))
    app.register_blueprint(_routes())
    init_console(app, app.extensions["ivr"])  # the coordinators' desk, at /console/
    # Wrapping wsgi_app is Flask's documented way to put middleware in front of it.
    app.wsgi_app = Webhooks(app.extensions["ivr"], app.wsgi_app, _signing(settings), clock,  # type: ignore[method-assign]
                            dev_clock=settings["IVR_DEV"])
    return app


def create_safe_route(config: dict | None = None) -> SafeRoute:
    """What a worker answers when `create_app` fails: each webhook its safe answer, signed as the
    app would check it; nothing else."""
    settings = _settings(config)
    checked = settings.get("TWILIO_AUTH_TOKEN") or settings["IVR_DEV"]
    return SafeRoute(_signing(settings) if checked else None,
                     turns.apology_document(settings.get("IVR_FALLBACK_NUMBER") or None))


def _signing(settings: dict) -> Signing:
    proxies = frozenset(a.strip() for a in (settings.get("IVR_TRUSTED_PROXIES") or DEFAULT_PROXIES).split(",") if a.strip())
    return Signing(settings.get("TWILIO_AUTH_TOKEN"), settings.get("PUBLIC_URL"), proxies)


HEALTH_WRITE_SECONDS = 1.0  # /healthz's write must finish within this: well inside a load balancer's timeout


def _log_to_stderr() -> None:
    """One JSON line per turn must reach the platform's log even where nothing set logging up."""
    logger = logging.getLogger("ivr")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = turns.StderrLines()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)


def _only_flow(registry: FlowRegistry) -> str:
    if len(registry.current) == 1:
        return next(iter(registry.current))
    raise RuntimeError(f'several flows ({", ".join(sorted(registry.current))}): set IVR_FLOW to the one '
                       "that answers calls")


def _routes():
    from flask import Blueprint

    bp = Blueprint("service", __name__)

    @bp.get("/healthz")
    def healthz():
        """503 only when the store takes no write (found by one real write, bounded in time) or no
        flow is served; broken flow edits are listed, since the last good flows keep serving."""
        service: CallService = current_app.extensions["ivr"]
        registry = service.registry
        try:
            registry.check()
            problems = [str(p) for p in registry.problems]
        except Exception as exc:  # a health check reports, never raises
            problems = [f"the flow files could not be checked ({type(exc).__name__})"]
        writable = service.store.check_writable(current_app.config.get("HEALTH_WRITE_SECONDS", HEALTH_WRITE_SECONDS))
        body = {
            "flows": {flow_id: flow.version for flow_id, flow in registry.current.items()},
            "flow_problems": problems,
            "store": "ok" if writable else "not writable",
        }
        return jsonify(body), 200 if writable and registry.current else 503

    return bp
