"""The desk as tests drive it: a moving clock, fast password hashing, accounts, a signed-in
client that sends the CSRF token as a browser does, a local fake of Twilio's media endpoint, and
a caller who leaves a voicemail."""

from __future__ import annotations

import base64
import re
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from argon2 import PasswordHasher

from twilio_sim import ACCOUNT_SID, OPEN_HOURS, TOKEN, Call

from ivr import records as rec
from ivr.console import accounts

SECRET = "desk-test-secret-" + "0" * 32
PASSWORD = "correct horse battery"
HTTPS = "https://localhost"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """The app's wall clock: an aware moment that moves only when a test says so."""

    def __init__(self, now: datetime = OPEN_HOURS) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def add_account(store: Any, name: str, *roles: str, teams: tuple[str, ...] = (), member: str = "",
                password: str = PASSWORD) -> None:
    store.add_account(accounts.new_account(name, password, roles, teams=teams, member=member, at=0.0))


class Browser:
    """A test client over HTTPS that keeps the page's CSRF token and sends it with every POST."""

    def __init__(self, app: Any, address: str = "127.0.0.1") -> None:
        self.client = app.test_client()
        self.address = address
        self.token = ""

    def get(self, path: str, **kwargs: Any):
        response = self.client.get(path, base_url=HTTPS, environ_base={"REMOTE_ADDR": self.address}, **kwargs)
        self._remember(response)
        return response

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, htmx: bool = False, **kwargs: Any):
        if csrf and not self.token:
            self.get("/console/login")
        data = dict(data or {})
        headers = {"Referer": HTTPS + "/console/", **kwargs.pop("headers", {})}  # as a browser sends it
        if csrf:
            if htmx:
                headers["X-CSRFToken"] = self.token
            else:
                data["csrf_token"] = self.token
        if htmx:
            headers["HX-Request"] = "true"
        response = self.client.post(path, data=data, headers=headers, base_url=HTTPS,
                                    environ_base={"REMOTE_ADDR": self.address}, **kwargs)
        self._remember(response)
        return response

    def _remember(self, response: Any) -> None:
        if response.status_code in (301, 302, 303):
            self.token = ""  # signing in or out starts a new session, with a new token
        elif response.mimetype == "text/html":
            found = TOKEN_RE.search(response.get_data(as_text=True))
            if found:
                self.token = found.group(1)

    def sign_in(self, name: str, password: str = PASSWORD):
        return self.post("/console/login", {"username": name, "password": password})


class FakeTwilioMedia:
    """Twilio's media endpoint on 127.0.0.1: answers `<recording>.mp3` with `audio` to the account's
    credentials (HTTP basic auth), 401 to anyone else; `requests` keeps what it was asked."""

    def __init__(self, audio: bytes) -> None:
        media = self
        self.audio = audio
        self.requests: list[tuple[str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                media.requests.append((self.path, self.headers.get("Authorization")))
                expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                if not self.path.endswith(".mp3"):
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(media.audio)))
                self.end_headers()
                self.wfile.write(media.audio)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def recording_url(self, sid: str = "RE" + "1" * 32) -> str:
        return f"{self.base}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"

    def __enter__(self) -> FakeTwilioMedia:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def silent_mp3(seconds: float = 1.0) -> bytes:
    """MPEG-1 Layer III frames of silence (128 kb/s, 44.1 kHz), which any MP3 decoder plays."""
    frame = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(413)
    return frame * max(1, round(seconds * 44100 / 1152))


def leave_voicemail(app: Any, media: FakeTwilioMedia, seconds: int = 12) -> rec.Record:
    """A caller presses 1 (English), 3 (a coordinator); nobody answers; they leave a message."""
    call = Call(app)
    call.start()
    call.press("1")
    call.press("3")
    call.dial_done("no-answer")
    call.press("1")
    call.recorded(seconds, url=media.recording_url())
    store = app.extensions["ivr"].store
    (record,) = [r for r in rec.load_all(store, limit=None) if r.id.startswith(call.call_sid)]
    return record
