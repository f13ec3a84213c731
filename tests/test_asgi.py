"""The ASGI front: a webhook's body read on the event loop, capped and with a deadline, then the WSGI
callable run inline; other paths handed on; the lifespan starts and stops the worker's watcher."""

from __future__ import annotations

import asyncio

from ivr.web.asgi import Front
from ivr.web.webhooks import MAX_BODY_BYTES


def wsgi_echo(environ, start_response):
    body = environ["wsgi.input"].read()
    text = (f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ['QUERY_STRING']} "
            f"{environ.get('CONTENT_TYPE')} {environ.get('HTTP_X_TWILIO_SIGNATURE')} {environ['REMOTE_ADDR']} ").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Len", str(len(body)))])
    return [text, body]


def scope(path="/voice/turn", method="POST", headers=()):
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"t=2",
            "headers": [(b"content-type", b"application/x-www-form-urlencoded"), (b"x-twilio-signature", b"sig="),
                        *headers],
            "server": ("127.0.0.1", 5000), "client": ("10.0.0.9", 4321), "scheme": "http", "http_version": "1.1"}


def run(app, scope_, messages):
    sent: list[dict] = []
    pending = list(messages)

    async def receive():
        if pending:
            return pending.pop(0)
        await asyncio.Future()  # a client that sends nothing more

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope_, receive, send))
    return sent


def test_a_webhook_is_answered_by_the_wsgi_callable_with_its_whole_body():
    sent = run(Front(wsgi_echo), scope(), [{"type": "http.request", "body": b"Digits=1&", "more_body": True},
                                            {"type": "http.request", "body": b"CallSid=CA1"}])
    assert sent[0]["status"] == 200 and (b"x-len", b"20") in sent[0]["headers"]
    assert sent[1]["body"] == (b"POST /voice/turn?t=2 application/x-www-form-urlencoded sig= 10.0.0.9 "
                               b"Digits=1&CallSid=CA1")


def test_a_body_that_does_not_arrive_in_time_gets_408_without_the_callable():
    called = []
    sent = run(Front(lambda e, s: called.append(1), body_seconds=0), scope(), [])
    assert sent[0]["status"] == 408 and b"did not arrive in time" in sent[1]["body"] and called == []


def test_a_body_over_the_limit_gets_413_whether_announced_or_sent():
    announced = run(Front(wsgi_echo), scope(headers=[(b"content-length", str(MAX_BODY_BYTES + 1).encode())]), [])
    assert announced[0]["status"] == 413
    chunk = {"type": "http.request", "body": b"x" * 40_000, "more_body": True}
    streamed = run(Front(wsgi_echo), scope(), [chunk, chunk])
    assert streamed[0]["status"] == 413


def test_a_client_that_hangs_up_gets_no_answer():
    called = []
    sent = run(Front(lambda e, s: called.append(1)), scope(), [{"type": "http.disconnect"}])
    assert sent[0]["status"] == 408 and called == []


def test_other_paths_go_to_the_other_app_and_the_lifespan_runs_the_hooks():
    seen, hooks = [], []

    async def other(scope_, receive, send):
        seen.append(scope_["path"])

    front = Front(wsgi_echo, paths={"/voice"}, other=other, on_startup=lambda: hooks.append("up"),
                  on_shutdown=lambda: hooks.append("down"))
    run(front, scope(path="/healthz", method="GET"), [])
    assert seen == ["/healthz"]
    sent = run(front, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert hooks == ["up", "down"]


def test_a_worker_that_cannot_build_the_app_answers_the_safe_route_until_it_can(tmp_path, monkeypatch,
                                                                                   assert_valid_twiml):
    # A worker restarted while the flow files are broken and no last good version can be read
    # (a new instance folder here): it must not fail to start, which would stop every worker.
    from urllib.parse import urlencode

    from twilio_sim import APP_SETTINGS, FLOWS, LINE, TOKEN, form, signed_headers

    from ivr.web import asgi, documents

    for name in APP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "support-line.yaml").write_text("flow: [broken\n")
    config = {"TWILIO_AUTH_TOKEN": TOKEN, "IVR_FLOWS_DIR": str(flows), "IVR_FALLBACK_NUMBER": LINE,
              "IVR_INSTANCE_PATH": str(tmp_path / "instance"), "PUBLIC_URL": "http://127.0.0.1:5000"}
    service = asgi.create_service(config)
    assert isinstance(service, asgi.Recovering)

    def post(data, signed=True, path="/voice"):
        body = urlencode(data).encode()
        headers = signed_headers("http://127.0.0.1:5000" + path, data) if signed else {"X-Twilio-Signature": "forged"}
        request = {**scope(path), "query_string": b"",
                   "headers": [(b"content-type", b"application/x-www-form-urlencoded"),
                               *((k.lower().encode(), v.encode()) for k, v in headers.items())]}
        return run(service, request, [{"type": "http.request", "body": body}])

    sent = post(form())
    assert sent[0]["status"] == 200
    assert_valid_twiml(sent[1]["body"].decode())
    assert b"<Dial" in sent[1]["body"] and LINE.encode() in sent[1]["body"]  # the apology, then the main line
    assert post(form(), signed=False)[0]["status"] == 403
    assert run(service, scope("/healthz", "GET"), [])[0]["status"] == 503
    # A coordinator's leg is declined (never the caller's apology), the status callback gets 204.
    for path in ("/voice/whisper", "/voice/whisper/accept"):
        sent = post(form(ParentCallSid="CA" + "ab" * 16), path=path)
        assert sent[0]["status"] == 200 and sent[1]["body"] == documents.DECLINE.encode()
    assert post(form(CallStatus="completed"), path="/voice/status")[0]["status"] == 204
    assert post(form(), path="/voicemail")[0]["status"] == 503

    assert service.retry() is False  # still broken
    for path in FLOWS.glob("*.yaml"):
        (flows / path.name).write_text(path.read_text())
    assert service.retry() is True
    try:
        sent = post(form())
        assert sent[0]["status"] == 200 and b"For English, press 1." in sent[1]["body"]
    finally:
        service.app.on_shutdown()


def test_a_safe_route_without_a_token_outside_development_refuses_every_webhook(monkeypatch):
    from urllib.parse import urlencode

    from twilio_sim import APP_SETTINGS, form

    from ivr.web.app import create_safe_route
    from ivr.web.webhooks import SafeRoute

    for name in APP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    route = create_safe_route({"IVR_FALLBACK_NUMBER": "+16266696777"})
    assert isinstance(route, SafeRoute) and route.signing is None
    request = {**scope("/voice"), "query_string": b""}
    assert run(Front(route), request, [{"type": "http.request", "body": urlencode(form()).encode()}])[0]["status"] == 403
    developing = create_safe_route({"IVR_DEV": "1"})
    sent = run(Front(developing), request, [{"type": "http.request", "body": urlencode(form()).encode()}])
    assert sent[0]["status"] == 200 and b"<Hangup" in sent[1]["body"]  # unsigned in development, as the app is
