"""The Flask app Twilio calls: turns its form posts into typed events and answers TwiML.

`create_app()` reads its configuration from the environment (see the README's
table) unless given a mapping. Every `/voice` webhook is checked against Twilio's
signature before anything else happens.
"""

from __future__ import annotations

import logging
import os
import re
import time
from zoneinfo import ZoneInfo

from flask import Flask, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from . import signature
from .calls import CallService, now_in
from .events import DIAL_STATUSES, CallStarted, DialDone, Digits, NoInput, RecordingDone
from .flow_registry import FlowRegistry
from .store import from_url
from .twiml import render_accept

log = logging.getLogger("ivr.web")
DIGITS_RE = re.compile(r"^[0-9*#]{1,64}$")
CALL_SID_RE = re.compile(r"^CA[0-9a-fA-F]{32}$")
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
ENV_SETTINGS = ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "REDIS_URL", "IVR_FLOWS_DIR", "IVR_FLOW", "PUBLIC_URL",
                "IVR_FALLBACK_NUMBER", "IVR_TIMEZONE", "IVR_DEV", "IVR_INSTANCE_PATH", "TWILIO_SMS_FROM",
                "RIDES_WEBHOOK_URL", "RIDES_WEBHOOK_SECRET")


def _settings(config) -> dict:
    settings = {name: os.environ.get(name) for name in ENV_SETTINGS}
    settings.update(config or {})
    settings["IVR_FLOWS_DIR"] = settings.get("IVR_FLOWS_DIR") or "flows"
    settings["IVR_TIMEZONE"] = settings.get("IVR_TIMEZONE") or "America/Los_Angeles"
    settings["IVR_DEV"] = str(settings.get("IVR_DEV") or "").lower() in ("1", "true", "yes")
    return settings


def create_app(config: dict | None = None) -> Flask:
    """Build the app; refuses to start with broken flows, or without a token outside development."""
    settings = _settings(config)
    _log_to_stderr()
    app = Flask(__name__, instance_path=settings.get("IVR_INSTANCE_PATH") or None)
    app.config.update(settings, MAX_CONTENT_LENGTH=64 * 1024)
    if not settings.get("TWILIO_AUTH_TOKEN"):
        if not settings["IVR_DEV"]:
            raise RuntimeError("TWILIO_AUTH_TOKEN is not set: refusing to serve unsigned webhooks "
                               "(set IVR_DEV=1 for local development without signature checks)")
        log.warning("DEVELOPMENT MODE: Twilio signatures are NOT checked; never expose this server")
    os.makedirs(app.instance_path, exist_ok=True)
    store = from_url(settings.get("REDIS_URL"), app.instance_path)
    registry = FlowRegistry(settings["IVR_FLOWS_DIR"], publish=lambda flow, text: _publish(store, flow, text),
                            fetch=lambda version: _fetch(store, version))
    registry.load()
    flow_id = settings.get("IVR_FLOW") or _only_flow(registry)
    if registry.get(flow_id) is None:
        raise RuntimeError(f'IVR_FLOW "{flow_id}" is not among the flows: {", ".join(sorted(registry.current))}')
    app.extensions["ivr"] = CallService(registry, store, flow_id, settings.get("IVR_FALLBACK_NUMBER"),
                                        settings=settings)
    zone = ZoneInfo(settings["IVR_TIMEZONE"])
    app.extensions["ivr.clock"] = settings.get("CLOCK") or (lambda: now_in(zone))
    app.register_blueprint(_routes())
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


def _publish(store, flow, text: str) -> None:
    """Share a flow version's source, so a host that never loaded it can finish its calls."""
    store.put_value(f"flow:{flow.version}", text.encode("utf-8"), FLOW_SOURCE_TTL)


def _fetch(store, version: str) -> str | None:
    blob = store.get_value(f"flow:{version}")
    return blob.decode("utf-8") if blob is not None else None


def _only_flow(registry: FlowRegistry) -> str:
    if len(registry.current) == 1:
        return next(iter(registry.current))
    raise RuntimeError(f'several flows ({", ".join(sorted(registry.current))}): set IVR_FLOW to the one '
                       "that answers calls")


def _service() -> CallService:
    return current_app.extensions["ivr"]


def _twiml(text: str) -> Response:
    return Response(text, status=200, content_type="text/xml; charset=utf-8")


def _routes():
    from flask import Blueprint

    bp = Blueprint("voice", __name__)

    @bp.before_request
    def verify():
        if request.endpoint in ("voice.healthz", None):
            return None
        if request.mimetype != "application/x-www-form-urlencoded":
            abort(415)
        token = current_app.config.get("TWILIO_AUTH_TOKEN")
        if token:
            url = signature.public_url(request.environ, current_app.config.get("PUBLIC_URL"))
            if not signature.check(token, url, request.form, request.headers.get("X-Twilio-Signature")):
                log.warning('{"outcome":"forbidden","path":"%s"}', request.path)
                abort(403)
        if request.endpoint != "voice.fallback":
            _service().registry.check()
        return None

    @bp.errorhandler(Exception)
    def never_an_application_error(exc):
        """Whatever slipped past a turn's own guard: the caller still gets the safe route."""
        if isinstance(exc, HTTPException):
            return exc
        log.error('{"outcome":"error","path":"%s","error":"%s"}', request.path, type(exc).__name__)
        if request.endpoint == "voice.status":
            return Response(status=204)
        if request.endpoint == "voice.healthz":
            return jsonify({"error": type(exc).__name__}), 503
        return _twiml(_service().apology())

    @bp.post("/voice")
    def voice():
        call_sid = _call_sid()
        event = CallStarted(_now(), caller=request.form.get("From"), call=call_sid)
        return _twiml(_service().start(call_sid, event))

    @bp.post("/voice/turn")
    def turn():
        call_sid = _call_sid()
        return _twiml(_service().advance(call_sid, _turn_number(), _event()))

    @bp.post("/voice/whisper")
    def whisper():
        parent = request.form.get("ParentCallSid", "")
        if not CALL_SID_RE.match(parent):
            abort(400, "ParentCallSid is missing or malformed")
        return _twiml(_service().whisper(parent, _turn_number(), request.form.get("To", "")))

    @bp.post("/voice/whisper/accept")
    def accept():
        _turn_number()
        accepted = request.form.get("Digits") == "1"
        if accepted:
            _service().answered(request.form.get("To", ""), time.time())
        return _twiml(render_accept(accepted))

    @bp.post("/voice/status")
    def status():
        call_sid = _call_sid()
        if request.form.get("CallStatus") in TERMINAL_STATUSES:
            _service().ended(call_sid, request.form["CallStatus"])
        return Response(status=204)

    @bp.post("/voice/fallback")
    def fallback():
        return _twiml(_service().apology())

    @bp.get("/healthz")
    def healthz():
        service = _service()
        registry = service.registry
        registry.check()
        store_ok = service.store.ping()
        body = {
            "flows": {flow_id: flow.version for flow_id, flow in registry.current.items()},
            "flow_problems": [str(p) for p in registry.problems],
            "store": "ok" if store_ok else "unreachable",
        }
        return jsonify(body), 200 if store_ok and registry.current else 503

    return bp


def _turn_number() -> int:
    raw = request.args.get("t", "")
    if not raw.isdigit() or len(raw) > 6:
        abort(400, "t must be the turn number")
    return int(raw)


def _now():
    return current_app.extensions["ivr.clock"]()


def _call_sid() -> str:
    call_sid = request.form.get("CallSid", "")
    if not CALL_SID_RE.match(call_sid):
        abort(400, "CallSid is missing or malformed")
    return call_sid


def _event():
    """Twilio's form fields as one typed event."""
    form = request.form
    now = _now()
    if "RecordingUrl" in form or "RecordingSid" in form:
        duration = form.get("RecordingDuration", "0")
        return RecordingDone(now, form.get("RecordingUrl", ""), int(duration) if duration.isdigit() else 0)
    if "DialCallStatus" in form:
        status = form["DialCallStatus"]
        if status not in DIAL_STATUSES:
            abort(400, "unknown DialCallStatus")
        bridged = form["DialBridged"] == "true" if "DialBridged" in form else None
        return DialDone(now, status, bridged=bridged)
    digits = form.get("Digits", "")
    if not digits:
        return NoInput(now)
    if not DIGITS_RE.match(digits):
        abort(400, "Digits must be 1 to 64 phone keys")
    return Digits(now, digits)
