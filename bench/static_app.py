"""The baseline for `bench.load`: a plain WSGI callable that answers one fixed TwiML document.

It does what any webhook server must (read the posted form, answer text/xml) and
nothing the IVR does (no signature check, no store, no engine, no Flask), so the
IVR's figures divided by this app's, under the same gunicorn settings and the same
driver, say how much of the per-turn cost is the IVR's own.

    gunicorn 'bench.static_app:app' --bind 127.0.0.1:8001 --workers 2
"""

from __future__ import annotations

DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather action="/voice/turn?t=1" finishOnKey="#" method="POST" numDigits="1" timeout="6">'
    '<Say language="en-US" voice="Polly.Joanna">For English, press 1.</Say>'
    '<Say language="es-US" voice="Polly.Lupe">Para español, oprima 2.</Say>'
    "</Gather>"
    '<Redirect method="POST">/voice/turn?t=1</Redirect>'
    "</Response>"
).encode("utf-8")

HEADERS = [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(DOCUMENT)))]


def app(environ, start_response):
    """Drain the request body; answer a status callback with 204 (as the IVR does), anything else with the document."""
    length = environ.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > 0:
        environ["wsgi.input"].read(int(length))
    if environ.get("PATH_INFO") == "/voice/status":
        start_response("204 No Content", [])
        return []
    start_response("200 OK", list(HEADERS))
    return [DOCUMENT]


def asgi_app():
    """The same app served the way the IVR is under an ASGI server (`--factory`)."""
    from ivr.web.asgi import Front

    return Front(app)
