"""The second baseline for `bench.load`: the least any signed, stateful webhook must do.

Per request it reads the posted form, checks the X-Twilio-Signature with twilio's
RequestValidator (through `ivr.telephony.signature`), loads the call's value from Redis and
saves a new one with the store's compare-and-set (the same two commands a turn
sends), and answers the static app's fixed document. No engine, no call record, no
rendering, no log line. Its throughput next to the static app's bounds what the IVR
can reach on the same machine; the IVR's next to it is the price of the IVR's own work.

    TWILIO_AUTH_TOKEN=... REDIS_URL=redis://... gunicorn 'bench.floor_app:app' --workers 2
"""

from __future__ import annotations

import os

from bench.static_app import DOCUMENT, HEADERS
from ivr.telephony import signature
from ivr.stores.redis import RedisStore
from ivr.web.webhooks import read_form

TOKEN = os.environ["TWILIO_AUTH_TOKEN"]
STORE = RedisStore.from_url(os.environ["REDIS_URL"], prefix="floor")  # apart from the IVR's call keys
VALUE = b"x" * 500  # about the size of a packed call record
TTL_SECONDS = 3600


def app(environ, start_response):
    """GET: a health check; POST: a signed webhook answered after a load and a save."""
    if environ.get("REQUEST_METHOD") == "GET":
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    form = read_form(environ)
    url = signature.public_url(environ, None)
    if not signature.check(TOKEN, url, form, environ.get("HTTP_X_TWILIO_SIGNATURE")):
        start_response("403 Forbidden", [("Content-Length", "0")])
        return [b""]
    call_sid = form.get("CallSid", "")
    _, version = STORE.load(call_sid)
    STORE.save(call_sid, VALUE, version, TTL_SECONDS)
    if environ.get("PATH_INFO") == "/voice/status":
        start_response("204 No Content", [])
        return []
    start_response("200 OK", list(HEADERS))
    return [DOCUMENT]


def asgi_app():
    """The same app served the way the IVR is under an ASGI server (`--factory`)."""
    from ivr.web.asgi import Front

    return Front(app)
