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

from ivr.web.turns import CallService, utc_now
from ivr.web.registry import FlowRegistry
from ivr.stores.protocols import from_url
from ivr.web.webhooks import MAX_BODY_BYTES, Webhooks

log = logging.getLogger("ivr.web")
ENV_SETTINGS = ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "REDIS_URL", "IVR_FLOWS_DIR", "IVR_FLOW", "PUBLIC_URL",
                "IVR_FALLBACK_NUMBER", "IVR_DEV", "IVR_INSTANCE_PATH", "TWILIO_SMS_FROM",
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
    if not settings.get("IVR_FALLBACK_NUMBER"):
        log.warning("IVR_FALLBACK_NUMBER is not set: a call the service cannot serve hears an apology and is asked "
                    "to call again, with no person to reach")
    os.makedirs(app.instance_path, exist_ok=True)
    store = from_url(settings.get("REDIS_URL"), app.instance_path)
    registry = FlowRegistry(settings["IVR_FLOWS_DIR"],
                            publish=lambda version, blob: store.put_value(f"flow:{version}", blob, FLOW_SOURCE_TTL),
                            fetch=lambda version: store.get_value(f"flow:{version}"))
    registry.load()
    flow_id = settings.get("IVR_FLOW") or _only_flow(registry)
    if registry.get(flow_id) is None:
        raise RuntimeError(f'IVR_FLOW "{flow_id}" is not among the flows: {", ".join(sorted(registry.current))}')
    clock = settings.get("CLOCK") or utc_now
    app.extensions["ivr"] = CallService(registry, store, flow_id, settings.get("IVR_FALLBACK_NUMBER"),
                                        settings=settings, clock=clock,
                                        **({"monotonic": settings["MONOTONIC"]} if settings.get("MONOTONIC") else {}))
    app.register_blueprint(_routes())
    # Wrapping wsgi_app is Flask's documented way to put middleware in front of it.
    app.wsgi_app = Webhooks(app.extensions["ivr"], app.wsgi_app,  # type: ignore[method-assign]
                            token=settings.get("TWILIO_AUTH_TOKEN"), public_url=settings.get("PUBLIC_URL"), clock=clock,
                            dev_clock=settings["IVR_DEV"])
    return app


FLOW_SOURCE_TTL = 7 * 24 * 3600


def _log_to_stderr() -> None:
    """One JSON line per turn must reach the platform's log even where nothing set logging up."""
    logger = logging.getLogger("ivr")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
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
        service: CallService = current_app.extensions["ivr"]
        registry = service.registry
        try:
            registry.check()
            store_ok = service.store.ping()
        except Exception as exc:  # a health check reports, never raises
            return jsonify({"error": type(exc).__name__}), 503
        body = {
            "flows": {flow_id: flow.version for flow_id, flow in registry.current.items()},
            "flow_problems": [str(p) for p in registry.problems],
            "store": "ok" if store_ok else "unreachable",
        }
        return jsonify(body), 200 if store_ok and registry.current else 503

    return bp
