"""A phone that calls a running server the way Twilio does.

It posts Twilio's form fields, signs each request when it has the auth token,
and follows the TwiML it gets back: speaking Say, listening at Gather, ringing at
Dial, recording at Record, following Redirect, stopping at Hangup or at the end
of a document. What the caller does comes from `answer(kind)`, which returns
keys ("" for silence), a DialCallStatus, or a recording's seconds; None hangs up.
"""

from __future__ import annotations

import secrets
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Callable

from twilio.request_validator import RequestValidator

from ivr.tools.phone import entry_problem, parse_entry

MAX_DOCUMENTS = 500


class CallFailed(RuntimeError):
    """The server answered something a phone call cannot follow."""


class HttpPhone:
    """One call placed against a server's /voice URL."""

    def __init__(self, voice_url: str, token: str | None = None, caller: str = "+15555550100",
                 called: str = "+16265550100", say: Callable[[str], None] = print, timeout: float = 15.0,
                 call_sid: str | None = None, at: datetime | None = None):
        self.voice_url = voice_url
        self.token = token
        self.at = at  # the moment a development server should take the call to happen at
        self.say = say
        self.timeout = timeout
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.base_form = {
            "CallSid": self.call_sid, "AccountSid": "AC" + "0" * 32, "From": caller, "To": called,
            "Caller": caller, "Called": called, "CallStatus": "in-progress", "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        self.heard: list[str] = []
        self.documents = 0

    def post(self, url: str, extra: dict[str, str] | None = None) -> tuple[int, str]:
        """POST Twilio's form (signed when a token is known); returns status and body."""
        form = {**self.base_form, **(extra or {})}
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.at is not None:
            headers["X-IVR-Now"] = self.at.isoformat()
        if self.token:
            headers["X-Twilio-Signature"] = RequestValidator(self.token).compute_signature(url, form)
        data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def _hear(self, line: str) -> None:
        self.heard.append(line)
        self.say(line)

    def call(self, answer: Callable[[str], str | None]) -> str:
        """Place the call and follow it to its end; returns how it ended."""
        url, extra = self.voice_url, None
        while url is not None:
            self.documents += 1
            if self.documents > MAX_DOCUMENTS:
                raise CallFailed("the call went on for too many documents")
            status, body = self.post(url, extra)
            if status != 200:
                raise CallFailed(f"{url} answered HTTP {status}")
            try:
                root = ET.fromstring(body)
            except ET.ParseError as exc:
                raise CallFailed(f"{url} answered something that is not XML: {exc}") from None
            if root.tag != "Response":
                raise CallFailed(f"{url} answered <{root.tag}>, not <Response>")
            url, extra, ended = self._follow(root, url, answer)
            if ended:
                self._status("completed")
                return ended
        return "hangup"

    def _status(self, status: str) -> None:
        self.post(urllib.parse.urljoin(self.voice_url, "/voice/status"), {"CallStatus": status})

    def _speak(self, verb: ET.Element) -> bool:
        """Play a Say, Play or Pause; False for any other verb."""
        if verb.tag == "Say":
            self._hear(verb.text or "")
        elif verb.tag == "Play":
            self._hear(f"[audio {verb.text}]")
        elif verb.tag == "Pause":
            self._hear(f"[pause {verb.get('length', '1')}s]")
        else:
            return False
        return True

    def _follow(self, root: ET.Element, url: str, answer):
        """Play one document; returns the next request (url, form) or how the call ended."""
        for verb in root:
            if self._speak(verb):
                continue
            match verb.tag:
                case "Gather":
                    for child in verb:
                        self._speak(child)
                    keys = answer("keys")
                    if keys is None:
                        return None, None, "caller hung up"
                    if keys:
                        return _action(url, verb), {"Digits": keys}, None
                case "Redirect":
                    return urllib.parse.urljoin(url, verb.text or ""), None, None
                case "Dial":
                    numbers = [n.text for n in verb.findall("Number")] or [verb.text]
                    self._hear(f"[ringing {len(numbers)} phone(s)]")
                    outcome = answer("dial")
                    if outcome is None:
                        return None, None, "caller hung up"
                    if verb.get("action") is None:
                        if outcome in ("completed", "answered"):
                            return None, None, "transferred"
                        continue
                    return _action(url, verb), {"DialCallStatus": outcome, "DialCallSid": "CA" + "1" * 32}, None
                case "Record":
                    self._hear("[beep: recording]")
                    seconds = answer("record")
                    if seconds is None:
                        return None, None, "caller hung up"
                    if seconds in ("", "0"):
                        continue  # nothing recorded: Twilio goes on to the next verb
                    return _action(url, verb), {"RecordingUrl": "https://api.twilio.com/recording/RE" + "2" * 32,
                                                "RecordingSid": "RE" + "2" * 32,
                                                "RecordingDuration": str(seconds), "Digits": "#"}, None
                case "Hangup":
                    return None, None, "hangup"
                case other:
                    raise CallFailed(f"unexpected verb <{other}>")
        return None, None, "hangup"


def _action(url: str, verb: ET.Element) -> str:
    return urllib.parse.urljoin(url, verb.get("action") or url)


def scripted(entries: list[str]) -> Callable[[str], str | None]:
    """An `answer` that takes inputs from a list (see `phone.parse_entry`); None when it runs out.

    Each input must fit what the call waits for: keys at a prompt, `dial:STATUS` at a
    transfer, `record:SECONDS` at a recording.
    """
    queue = list(entries)

    def answer(kind: str) -> str | None:
        if not queue:
            return None
        entry = queue.pop(0)
        problem = entry_problem(entry, kind)
        if problem is not None:
            raise CallFailed(problem)
        return parse_entry(entry)[1]

    return answer
