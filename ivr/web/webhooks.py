"""Twilio's webhooks as plain WSGI: the form in, the signature checked, TwiML (or 204) out.

Every `POST /voice...` is a webhook, answered here without Flask's request machinery:
a turn is on the path of every key a caller presses, and reading the form once (for
the signature and the event alike) is most of what a request layer has to do.
Anything else (`/healthz`, unknown paths) goes on to the Flask app.

A development server (no auth token, IVR_DEV) also takes the moment a call happens from an
`X-IVR-Now` header (ISO, with its offset), so `ivr call --at` can try hours and dates; any other
server ignores the header.

A refused request gets a short plain-text 4xx: 403 for a missing or wrong signature
(before anything is read from the store), 400 for a malformed CallSid, turn number,
Digits or DialCallStatus, 405, 413 and 415. Anything that goes wrong after that gets
the apology and the safe route as TwiML (a status callback gets its 204), never a 500.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

from ivr.engine.events import DIAL_STATUSES, CallStarted, DialDone, Digits, NoInput, RecordingDone
from ivr.telephony import signature
from ivr.web import documents, urls
from ivr.web.turns import CallService

log = logging.getLogger("ivr.web")

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"
DIGITS_RE = re.compile(r"[0-9*#]+")
MAX_KEYS = 256  # longer than any entry a node takes: more keys than this are read as these many
CALL_SID_RE = re.compile(r"CA[0-9a-fA-F]{32}")
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
TWIML_HEADERS = (("Content-Type", "text/xml; charset=utf-8"),)
SIGNATURE_SETTINGS = "HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS"
SETTINGS_REFUSED = "not accepted: Twilio's Webhooks configuration API is not HIPAA eligible"
DEV_NOW = "HTTP_X_IVR_NOW"  # a development server's clock override, per request
_now_override: ContextVar[datetime | None] = ContextVar("ivr_now_override", default=None)


class Refused(Exception):
    """A request answered with a client error, before it touches any call."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


class Form(dict):
    """The posted fields, the first value of each; `getall` gives every value.

    `getall` is what twilio's RequestValidator looks for first, so it signs every value
    of a repeated field (as Twilio does) without trying other mapping shapes.
    """

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, str]]):
        super().__init__()
        self.repeated: dict[str, list[str]] = {}
        for name, value in pairs:
            if name in self:
                self.repeated.setdefault(name, [self[name]]).append(value)
            else:
                self[name] = value

    def getall(self, name: str) -> list[str]:
        return self.repeated.get(name) or [self[name]]


@dataclass(frozen=True)
class Signing:
    """How requests are checked: the auth token (None: not at all, in development only), the public
    base URL Twilio calls, and the proxies whose X-Forwarded-* headers are believed without one."""

    token: str | None
    public_url: str | None = None
    trusted_proxies: frozenset[str] = frozenset()

    def signed_url(self, environ: dict) -> str:
        trusted = environ.get("REMOTE_ADDR", "") in self.trusted_proxies
        return signature.public_url(environ, self.public_url, trust_forwarded=trusted)


def safe_answers(apology: str) -> dict[str, str | None]:
    """What each webhook answers when it cannot be served (None: 204): the caller gets the
    apology and the safe route, a coordinator's leg is declined (the caller's call goes on), a
    status callback gets its 204."""
    return {urls.VOICE: apology, urls.TURN: apology, urls.FALLBACK: apology, urls.STATUS: None,
            urls.WHISPER: documents.DECLINE, urls.ACCEPT: documents.DECLINE}


def verified_form(environ: dict, signing: Signing) -> Form:
    """The webhook's form, its signature checked (Refused when it does not match)."""
    form = read_form(environ)
    token = signing.token
    if token:
        url = signing.signed_url(environ)
        if not signature.check(token, url, form, environ.get("HTTP_X_TWILIO_SIGNATURE")):
            fields = {"outcome": "forbidden", "path": environ.get("PATH_INFO")}
            if environ.get(SIGNATURE_SETTINGS):  # signed with a Webhook Setting's key, not the auth token
                fields["signature_settings"] = SETTINGS_REFUSED
            log.warning(json.dumps(fields, separators=(",", ":")))
            raise Refused("403 Forbidden", "the X-Twilio-Signature does not match")
    return form


def _answer(start_response: Callable, body: str | None) -> list[bytes]:
    if body is None:
        return _send(start_response, "204 No Content", (), b"")
    return _send(start_response, "200 OK", TWIML_HEADERS, body.encode())


def _refused(start_response: Callable, refused: Refused) -> list[bytes]:
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    if refused.status.startswith("405"):
        headers.append(("Allow", "POST"))
    return _send(start_response, refused.status, headers, f"{refused.status}: {refused}\n".encode())


class Webhooks:
    """The WSGI callable for `POST /voice...`; `other` serves every other request."""

    def __init__(self, service: CallService, other: Callable, signing: Signing, clock: Callable[[], datetime],
                 dev_clock: bool = False):
        self.service = service
        self.other = other
        self.signing = signing
        self.clock = clock
        self.dev_clock = dev_clock and not signing.token  # only where signatures are not checked anyway
        self.routes: dict[str, Callable[[Form, str], str | None]] = {
            urls.VOICE: self.voice, urls.TURN: self.turn, urls.STATUS: self.status,
            urls.FALLBACK: self.fallback, urls.WHISPER: self.whisper, urls.ACCEPT: self.accept,
        }
        self.safe = safe_answers(service.apology())  # what a route answers if it fails unexpectedly

    def __call__(self, environ: dict, start_response: Callable):
        path = environ.get("PATH_INFO", "")
        route = self.routes.get(path)
        if route is None:
            return self.other(environ, start_response)
        override = _now_override.set(None)
        try:
            if self.dev_clock and environ.get(DEV_NOW):
                _now_override.set(_moment(environ[DEV_NOW]))
            form = verified_form(environ, self.signing)
            body = route(form, environ.get("QUERY_STRING", ""))
        except Refused as refused:
            return _refused(start_response, refused)
        except Exception as exc:  # whatever slipped past a turn's own guard: still a safe answer
            log.error(json.dumps({"outcome": "error", "path": path, "error": type(exc).__name__},
                                 separators=(",", ":")))
            body = self.safe[path]
        finally:
            _now_override.reset(override)
        return _answer(start_response, body)

    # -- the routes: (form, raw query) -> TwiML, or None for 204 -------------------------

    def now(self) -> datetime:
        """The moment of this request: the clock's, or a development server's override."""
        return _now_override.get() or self.clock()

    def voice(self, form: Form, query: str) -> str:
        call_sid = _call_sid(form, "CallSid")
        return self.service.start(call_sid, CallStarted(self.now(), caller=form.get("From"), call=call_sid))

    def turn(self, form: Form, query: str) -> str:
        call_sid = _call_sid(form, "CallSid")
        return self.service.advance(call_sid, _turn_number(query), self._event(form))

    def status(self, form: Form, query: str) -> None:
        call_sid = _call_sid(form, "CallSid")
        if form.get("CallStatus") in TERMINAL_STATUSES:
            self.service.ended(call_sid, form["CallStatus"])
        return None

    def fallback(self, form: Form, query: str) -> str:
        return self.service.apology()

    def whisper(self, form: Form, query: str) -> str:
        parent = _call_sid(form, "ParentCallSid")
        return self.service.whisper(parent, _turn_number(query), form.get("To", ""))

    def accept(self, form: Form, query: str) -> str:
        turn = _turn_number(query)
        parent = form.get("ParentCallSid", "")
        return self.service.accept(form.get("To", ""), form.get("Digits", ""),
                                   parent if CALL_SID_RE.fullmatch(parent) else None, turn)

    def _event(self, form: Form):
        """Twilio's fields for an action URL as one typed event."""
        now = self.now()
        if "RecordingUrl" in form or "RecordingSid" in form:
            duration = form.get("RecordingDuration", "0")
            return RecordingDone(now, form.get("RecordingUrl", ""), int(duration) if duration.isdigit() else 0)
        if "DialCallStatus" in form:
            status = form["DialCallStatus"]
            if status not in DIAL_STATUSES:
                raise Refused("400 Bad Request", "unknown DialCallStatus")
            bridged = form["DialBridged"] == "true" if "DialBridged" in form else None
            return DialDone(now, status, bridged=bridged)
        digits = form.get("Digits", "")
        if not digits:
            return NoInput(now)
        if not DIGITS_RE.fullmatch(digits):
            raise Refused("400 Bad Request", "Digits must be phone keys")
        # However many keys a caller pressed, the prompt answers (a re-prompt): Twilio ends the
        # call on a 4xx.
        return Digits(now, digits[:MAX_KEYS])


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Refused("400 Bad Request", "X-IVR-Now must be an ISO date and time with its offset")
    return moment


def read_form(environ: dict) -> Form:
    """The fields of a POSTed url-encoded form; Refused for any other request."""
    if environ.get("REQUEST_METHOD") != "POST":
        raise Refused("405 Method Not Allowed", "webhooks are POSTed")
    if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM_TYPE:
        raise Refused("415 Unsupported Media Type", f"the body must be {FORM_TYPE}")
    return Form(_pairs(_body(environ)))


def _send(start_response: Callable, status: str, headers, body: bytes) -> list[bytes]:
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _body(environ: dict) -> bytes:
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length.isdigit():
        if int(length) > MAX_BODY_BYTES:
            raise Refused("413 Content Too Large", f"the body is over {MAX_BODY_BYTES} bytes")
        return stream.read(int(length)) if int(length) else b""
    if environ.get("wsgi.input_terminated"):  # chunked: read up to the limit
        body = stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise Refused("413 Content Too Large", f"the body is over {MAX_BODY_BYTES} bytes")
        return body
    raise Refused("411 Length Required", "a webhook body needs a Content-Length")


def _pairs(body: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a url-encoded body, as `parse_qsl(keep_blank_values=True)` reads them.

    Most of Twilio's ~30 fields need no unescaping, so only those with a `%` or `+` get it: 1.8x
    faster than parse_qsl on a Twilio form (`python -m bench.request`).
    """
    fields = body.decode("utf-8", "replace").split("&")
    if len(fields) > MAX_FIELDS:
        raise Refused("400 Bad Request", f"the form has over {MAX_FIELDS} fields")
    pairs = []
    for field in fields:
        if field:
            name, _, value = field.partition("=")
            if "%" in field or "+" in field:
                name, value = unquote_plus(name), unquote_plus(value)
            pairs.append((name, value))
    return pairs


def _call_sid(form: Form, name: str) -> str:
    call_sid = form.get(name, "")
    if not CALL_SID_RE.fullmatch(call_sid):
        raise Refused("400 Bad Request", f"{name} is missing or malformed")
    return call_sid


def _turn_number(query: str) -> int:
    turn = urls.turn_of(query)
    if turn is None:
        raise Refused("400 Bad Request", "t must be the turn number")
    return turn


class SafeRoute:
    """What a worker that could not build its service answers: each webhook, signed, gets its
    safe answer (`safe_answers`), every other request 503. Without `signing` (no token outside
    development) every webhook is refused."""

    def __init__(self, signing: Signing | None, apology: str):
        self.signing = signing
        self.safe = safe_answers(apology)

    def __call__(self, environ: dict, start_response: Callable):
        path = environ.get("PATH_INFO", "")
        if path not in self.safe:
            return _send(start_response, "503 Service Unavailable", [("Content-Type", "text/plain")], b"starting\n")
        try:
            if self.signing is None:
                raise Refused("403 Forbidden", "no auth token to check the X-Twilio-Signature with")
            verified_form(environ, self.signing)
        except Refused as refused:
            return _refused(start_response, refused)
        return _answer(start_response, self.safe[path])
