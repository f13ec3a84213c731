"""Twilio, and time, as far as the tests need them: signed webhooks through Flask's test client.

`Call` is the one way tests drive a call over HTTP: by hand, a webhook at a time (the
caller's keys, silence, transfer outcomes, recordings, hanging up, and the coordinator's
whisper leg), or played from a script the way `HttpPhone` follows a running server. Every
document it receives is checked: valid against Twilio's XSD, and no caller data in any URL
it is told to request. `make_app` (in conftest.py) builds the apps it calls.
"""

from __future__ import annotations

import re
import secrets
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from twilio.request_validator import RequestValidator
from twiml_schema import assert_valid_twiml

from ivr.console import CONSOLE_SETTINGS
from ivr.outbox.worker import SETTING_NAMES
from ivr.tools.http_phone import HttpPhone, scripted
from ivr.web.app import ENV_SETTINGS
from ivr.web.call_record import CallRecord

TOKEN = "test-auth-token-0123456789abcdef"
BASE = "http://localhost"
FLOWS = Path(__file__).resolve().parent.parent / "flows"
# Every environment variable an app reads: its own settings, the outbox's, the desk's, and Flask's debug switch.
APP_SETTINGS = tuple(sorted({*ENV_SETTINGS, *SETTING_NAMES, *CONSOLE_SETTINGS, "FLASK_DEBUG"}))

# A turn, a coordinator's whisper for a turn, or the whisper's accept key: only ever the turn number.
SAFE_URL = re.compile(r"^/voice/(?:turn|whisper|whisper/accept)\?t=\d+$")
TURN_URL = re.compile(r"/voice/(?:turn|whisper|whisper/accept)\?t=(\d+)")

# Moments on the shipped line (flows/teams.yaml), in its zone.
LA = ZoneInfo("America/Los_Angeles")
OPEN_HOURS = datetime(2026, 11, 25, 10, 0, tzinfo=LA)  # a Wednesday morning: every team is open
AFTER_HOURS = datetime(2026, 11, 25, 21, 0, tzinfo=LA)  # the same evening: closed, Thanksgiving next
THANKSGIVING = datetime(2026, 11, 26, 10, 0, tzinfo=LA)  # closed all day
SATURDAY_MORNING = datetime(2026, 11, 21, 10, 0, tzinfo=LA)  # coordinators open, transportation closed
MONOTONIC_START = 1000.0

LINE = "+16266696777"  # the number callers dial, and the one the safe route puts them through to
CALLER = "+16265550199"
CALL_SID = "CA" + "ab" * 16
ACCOUNT_SID = "AC" + "0" * 32
RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE" + "1" * 32


class FakeClock:
    """Seconds that move only when a test says so: a wall clock (epoch seconds) or a monotonic one."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def new_sid() -> str:
    return "CA" + secrets.token_hex(16)


def form(**extra: str) -> dict[str, str]:
    """Twilio's fields for a webhook of the call CALL_SID from CALLER, plus `extra`."""
    data = {"CallSid": CALL_SID, "AccountSid": ACCOUNT_SID, "From": CALLER, "Caller": CALLER, "To": LINE,
            "Called": LINE, "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    data.update(extra)
    return data


def signed_headers(url: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    """The X-Twilio-Signature Twilio would send for this URL and form."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


def post(client, path: str, data: dict[str, str], token: str | None = TOKEN, **kwargs: Any):
    """POST a form to `path` signed as Twilio signs it (unsigned when `token` is None)."""
    headers = signed_headers(BASE + path, data, token) if token else {}
    return client.post(path, data=data, headers=headers, **kwargs)


def check_document(body: str) -> ET.Element:
    """Valid TwiML whose every URL (action, Number url, Redirect) carries only the turn number;
    returns the parsed root."""
    root = assert_valid_twiml(body)
    for element in root.iter():
        for url in (element.get("action"), element.get("url"), element.text if element.tag == "Redirect" else None):
            if url is not None:
                assert SAFE_URL.match(url), f"URL carries more than the turn number: {url}"
    return root


def record_at_the_end(phone: HttpPhone, app) -> list[CallRecord | None]:
    """Filled, when the phone sends its status callback, with the call's record as the last turn
    left it (the callback leaves only where the call ended)."""
    kept: list[CallRecord | None] = []
    status_callback = phone._status
    phone._status = lambda status: (kept.append(stored(app, phone.call_sid)), status_callback(status))  # type: ignore[method-assign]
    return kept


def stored(app, call_sid: str = CALL_SID) -> CallRecord | None:
    """The call's record in the app's store, or None."""
    blob, _ = app.extensions["ivr"].store.load(call_sid)
    return CallRecord.unpack(blob) if blob is not None else None


def says(root: ET.Element) -> list[str]:
    """The text of every Say in a document, in order."""
    return [say.text or "" for say in root.iter("Say")]


def spoken(lines: list[str]) -> list[str]:
    """What a phone heard, without the bracketed notes ([ringing], [beep], ...)."""
    return [line for line in lines if not line.startswith("[")]


def tags(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def assert_apology(document: ET.Element | str) -> None:
    """The service's safe route: sorry in English and Spanish, the main line, then the end."""
    root = check_document(document) if isinstance(document, str) else document
    assert tags(root) == ["Say", "Say", "Dial", "Hangup"]
    assert [n.text for n in root.findall("Dial/Number")] == [LINE]
    dial = root.find("Dial")
    assert dial is not None and dial.get("action") is None


def next_url(root: ET.Element) -> str | None:
    """Where Twilio posts next after this document, or None when it hangs up or ends."""
    for element in root.iter():
        if element.tag in ("Gather", "Dial", "Record") and element.get("action"):
            return element.get("action")
        if element.tag == "Redirect":
            return element.text
    return None


def turn_of(url: str) -> int:
    match = TURN_URL.fullmatch(url)
    assert match, url
    return int(match.group(1))


class Call(HttpPhone):
    """One inbound call through an app's test client (or anything with its `post`), driven by hand
    or played from a script (`play`). The last document is `root` (its text `body`), where it leads
    `url`; `seconds` is how long the last request took to answer."""

    def __init__(self, target, call_sid: str | None = None, *, caller: str = CALLER, token: str | None = TOKEN):
        super().__init__(BASE + "/voice", token=token, caller=caller, called=LINE, say=lambda line: None,
                         call_sid=call_sid or new_sid())
        self.client = target.test_client() if hasattr(target, "test_client") else target
        self.caller = caller
        self.response: Any = None
        self.body = ""
        self.root = ET.Element("Response")
        self.url: str | None = None
        self.seconds = 0.0
        self.documents_seen: list[str] = []
        self.legs: dict[str, str] = {}  # coordinator leg sid -> the number it rang

    def form(self, **extra: str) -> dict[str, str]:
        return {**self.base_form, **extra}

    def post(self, url: str, extra: dict[str, str] | None = None, client=None) -> tuple[int, str]:
        """One signed webhook of this call (the transport `HttpPhone.call` uses); checks any TwiML
        it gets back and returns the status and body."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        began = time.perf_counter()
        self.response = post(client or self.client, path, self.form(**(extra or {})), token=self.token)
        self.seconds = time.perf_counter() - began
        body = self.response.get_data(as_text=True)
        if self.response.status_code == 200 and body:
            self.root = check_document(body)
            self.documents_seen.append(body)
        return self.response.status_code, body

    def send(self, path: str, client=None, **extra: str) -> ET.Element:
        """A webhook that must be answered with TwiML; returns its root and remembers where it leads."""
        status, body = self.post(path, extra, client)
        assert status == 200, body
        assert self.response.content_type == "text/xml; charset=utf-8"
        self.body = body
        self.url = next_url(self.root)
        return self.root

    def _waiting(self) -> str:
        assert self.url is not None, f"the call is not waiting for anything: {self.body}"
        return self.url

    @property
    def turn(self) -> int:
        """The turn the call waits on."""
        return turn_of(self._waiting())

    def start(self, client=None) -> ET.Element:
        return self.send("/voice", client)

    def press(self, digits: str, client=None) -> ET.Element:
        return self.send(self._waiting(), client, Digits=digits)

    def silence(self, client=None) -> ET.Element:
        return self.send(self._waiting(), client)

    def dial_done(self, status: str, bridged: str | None = None, *, path: str | None = None,
                  client=None) -> ET.Element:
        """Twilio reporting how a transfer went (DialCallStatus, and DialBridged when given)."""
        extra = {"DialCallStatus": status, "DialCallSid": new_sid()}
        if bridged is not None:
            extra["DialBridged"] = bridged
        if status in ("completed", "answered"):
            extra["DialCallDuration"] = "42"
        return self.send(path or self._waiting(), client, **extra)

    def recorded(self, seconds: int, url: str = RECORDING_URL, *, path: str | None = None,
                 client=None) -> ET.Element:
        """A recording of `seconds` finished (the caller pressed #)."""
        return self.send(path or self._waiting(), client, RecordingUrl=url, RecordingSid="RE" + "1" * 32,
                         RecordingDuration=str(seconds), Digits="#")

    def hang_up(self, client=None) -> int:
        """The status callback of a call that ended; returns its HTTP status."""
        status, _ = self.post("/voice/status", {"CallStatus": "completed", "CallDuration": "61"}, client)
        return status

    def play(self, entries: list[str]) -> str:
        """Follow the call from its first webhook, answering from `entries` (see `scripted`);
        what was heard is in `heard`. Returns how the call ended."""
        return self.call(scripted(entries))

    # -- the coordinator's leg ---------------------------------------------------------
    @property
    def dial(self) -> ET.Element:
        dial = self.root.find("Dial")
        assert dial is not None, self.body
        return dial

    @property
    def numbers(self) -> list[str]:
        """The numbers the current transfer rings."""
        return [number.text or "" for number in self.dial.findall("Number")]

    def whisper_url(self) -> str:
        urls = {number.get("url") for number in self.dial.findall("Number")}
        assert len(urls) == 1, urls
        url = urls.pop()
        assert url is not None
        return url

    def _leg(self, leg: str, to: str, parent: str | None = None, **extra: str) -> dict[str, str]:
        return {"CallSid": leg, "ParentCallSid": parent or self.call_sid, "AccountSid": ACCOUNT_SID,
                "From": self.caller, "To": to, "Called": to, "CallStatus": "in-progress",
                "Direction": "outbound-dial", "ApiVersion": "2010-04-01", **extra}

    def whisper(self, to: str, *, path: str | None = None, parent: str | None = None) -> tuple[str, ET.Element]:
        """Twilio asking what the coordinator at `to` hears once they pick up; returns (leg sid, root)."""
        leg = new_sid()
        response = post(self.client, path or self.whisper_url(), self._leg(leg, to, parent))
        assert response.status_code == 200
        self.legs[leg] = to
        return leg, check_document(response.get_data(as_text=True))

    def accept(self, leg: str, whisper_root: ET.Element, digits: str) -> ET.Element:
        """The coordinator's key after the whisper."""
        gather = whisper_root.find("Gather")
        action = gather.get("action") if gather is not None else None
        assert action, "the whisper asks for no key"
        response = post(self.client, action, self._leg(leg, self.legs.get(leg, ""), Digits=digits))
        assert response.status_code == 200
        return check_document(response.get_data(as_text=True))
