"""The service as an ASGI app, so that slow clients cost a coroutine, never the thread that runs turns.

A server with a compiled HTTP parser (uvicorn with httptools) reads each request's headers
on its event loop, never holding the thread that runs turns;
this app then reads a webhook's small body on the event loop, within a size cap and a
deadline, and only then runs the turn (`webhooks.Webhooks`, the same WSGI callable the tests
drive) on the loop's thread: a turn is short, its store I/O is bounded by timeouts, and a
store that timed out is left alone for a second. A client that trickles its body a byte a
second holds only its own coroutine until the deadline answers it 408.

Every other path (`/healthz`, the console) is the Flask app, run by a2wsgi in a small thread
pool. The lifespan starts the flow watcher in each worker process, so edited flow files are
linted off the callers' path.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Container, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from a2wsgi import WSGIMiddleware

from ivr.web.app import create_app, create_safe_route
from ivr.web.webhooks import MAX_BODY_BYTES, Webhooks

log = logging.getLogger("ivr.web")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_SECONDS = 5.0  # Twilio sends a webhook's whole body at once; a client this slow is not Twilio
OTHER_THREADS = 4  # Flask's pages (health, console) run here, apart from the turns


WSGIApp = Callable[[dict[str, Any], Callable[..., None]], Iterable[bytes]]


class _TooLarge(Exception):
    pass


class Front:
    """An ASGI app that reads each request's body on the event loop (capped, with a deadline), then
    answers it with a WSGI callable run inline; paths it does not take go to `other`."""

    def __init__(self, inline: WSGIApp, paths: Container[str] | None = None, other: ASGIApp | None = None, *,
                 body_seconds: float = BODY_SECONDS, on_startup: Callable[[], None] = lambda: None,
                 on_shutdown: Callable[[], None] = lambda: None):
        self.inline = inline
        self.paths = paths
        self.other = other
        self.body_seconds = body_seconds
        self.on_startup, self.on_shutdown = on_startup, on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and (self.other is None or self.paths is None or scope["path"] in self.paths):
            await self._inline(scope, receive, send)
        elif self.other is not None:
            await self.other(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _inline(self, scope: Scope, receive: Receive, send: Send) -> None:
        environ = _environ(scope)
        if scope["method"] == "POST":
            length = environ.get("CONTENT_LENGTH", "")
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                return await _answer(send, 413, f"the body is over {MAX_BODY_BYTES} bytes")
            try:
                async with asyncio.timeout(self.body_seconds):  # a timer on this task: no new task
                    body = await _read_body(receive)
            except TimeoutError:
                log.warning('{"outcome":"slow-body","path":"%s"}', scope["path"])
                return await _answer(send, 408, "the body did not arrive in time")
            except _TooLarge:
                return await _answer(send, 413, f"the body is over {MAX_BODY_BYTES} bytes")
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        reply: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None) -> None:
            reply[:] = status, response_headers

        chunks = self.inline(environ, start_response)
        await send({"type": "http.response.start", "status": int(reply[0][:3]),
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply[1]]})
        await send({"type": "http.response.body", "body": b"".join(chunks)})


async def _read_body(receive: Receive) -> bytes:
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise TimeoutError  # the caller is gone; nobody will read an answer
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _answer(send: Send, status: int, message: str) -> None:
    body = f"{status}: {message}\n".encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _environ(scope: Scope) -> dict[str, Any]:
    """The WSGI environ of a request, as any WSGI server builds one (its body is added once read)."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": _unquoted(path) if "%" in path else path,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0], "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": _EMPTY,
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        key = _HEADER_KEYS.get(name) or _header_key(name)
        environ[key] = value.decode("latin-1")
    return environ


_EMPTY = io.BytesIO(b"")
_HEADER_KEYS: dict[bytes, str] = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}


def _header_key(name: bytes) -> str:
    key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
    if len(_HEADER_KEYS) < 256:  # the names a server sees repeat; remember a few hundred
        _HEADER_KEYS[name] = key
    return key


def _unquoted(path: str) -> str:
    # WSGI's PATH_INFO is the percent-decoded path as latin-1 text (the signature puts the escapes back).
    return unquote_to_bytes(path).decode("latin-1")


# How the web process runs: uvicorn with its compiled HTTP parser (httptools) on uvloop, the
# factory called in each worker, workers watched and replaced by uvicorn's supervisor; no
# access log, and no rewriting of the client's address from forwarded headers (the service
# trusts those only from IVR_TRUSTED_PROXIES, itself).
SERVER_FLAGS = ("--factory", "--http", "httptools", "--loop", "uvloop", "--lifespan", "on", "--no-access-log",
                "--no-proxy-headers", "--no-server-header", "--timeout-keep-alive", "5")
RETRY_SECONDS = 5.0  # a worker that could not build the app tries again this often


def server_command(app: str, host: str, port: int, workers: int) -> list[str]:
    """The command that serves an ASGI factory the way the Procfile's web process does."""
    return [sys.executable, "-m", "uvicorn", *SERVER_FLAGS, "--host", host, "--port", str(port),
            "--workers", str(workers), app]


def create_service(config: dict | None = None) -> Front | Recovering:
    """The ASGI app for the Procfile's server: `ivr.web.asgi:create_service`, as a factory.

    Webhooks are answered inline; every other path (`/healthz`, the console) is the Flask app,
    run by a2wsgi in a few threads. `ivr serve` checks the app can be built before any worker
    starts; a worker restarted later, when it cannot (the flow files broken and the store's
    last good versions out of reach), answers the safe route until it can (`Recovering`):
    a server whose worker fails to start would stop them all.
    """
    try:
        return _service(config)
    except Exception as exc:
        log.error("the service cannot start (%s: %s); answering the safe route, trying again every %.0f s",
                  type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", RETRY_SECONDS)
        return Recovering(lambda: _service(config), create_safe_route(config))


def _service(config: dict | None) -> Front:
    app = create_app(config)
    webhooks = app.wsgi_app
    assert isinstance(webhooks, Webhooks), "create_app puts the webhooks in front of Flask"
    service = app.extensions["ivr"]

    def shutdown() -> None:
        service.registry.stop()
        service.store.close()

    return Front(webhooks, webhooks.routes, WSGIMiddleware(app, workers=OTHER_THREADS),  # type: ignore[arg-type]
                 on_startup=service.registry.watch, on_shutdown=shutdown)


class Recovering:
    """An ASGI app that answers with `safe` until `build` gives the service, tried in a thread
    every `every` seconds from the lifespan's start (or at each `retry()`)."""

    def __init__(self, build: Callable[[], Front], safe: WSGIApp, every: float = RETRY_SECONDS):
        self.build, self.every = build, every
        self.app: Front | None = None
        self.safe = Front(safe)
        self._stop = threading.Event()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await (self.app or self.safe)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                threading.Thread(target=self._retrying, name="ivr-recover", daemon=True).start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                with self._lock:
                    self._stop.set()
                if self.app is not None:
                    self.app.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _retrying(self) -> None:
        while not self._stop.wait(self.every) and not self.retry():
            pass

    def retry(self) -> bool:
        """Try to build the service once; True (and serving it) when it could."""
        try:
            app = self.build()
        except Exception as exc:
            log.warning("the service still cannot start (%s)", type(exc).__name__)
            return False
        with self._lock:  # a worker shutting down meanwhile takes no new service
            if self._stop.is_set():
                app.on_shutdown()
                return True
            try:
                app.on_startup()
            except Exception as exc:
                log.warning("the service could not start its watcher (%s)", type(exc).__name__)
                app.on_shutdown()
                return False
            self.app = app
        log.warning("the service started; the safe route is over")
        return True
