"""Twilio, as far as the tests need it: signed webhooks through Flask's test client.

`ClientPhone` follows TwiML like the terminal phone does, but over the test client,
and checks every document it receives: valid against Twilio's XSD, and no caller
data in any URL it is told to request.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator
from twiml_schema import assert_valid_twiml

from ivr.tools.http_phone import HttpPhone

TOKEN = "test-auth-token-0123456789abcdef"
BASE = "http://localhost"
# A turn, a coordinator's whisper for a turn, or the whisper's accept key: only ever the turn number.
SAFE_URL = re.compile(r"^/voice/(?:turn|whisper|whisper/accept)\?t=\d+$")


def signed_headers(url: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    """The X-Twilio-Signature Twilio would send for this URL and form."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


def check_document(body: str):
    """Valid TwiML whose every URL (action, Number url, Redirect) carries only the turn number;
    returns the parsed root."""
    root = assert_valid_twiml(body)
    for element in root.iter():
        for url in (element.get("action"), element.get("url"), element.text if element.tag == "Redirect" else None):
            if url is not None:
                assert SAFE_URL.match(url), f"URL carries more than the turn number: {url}"
    return root


class ClientPhone(HttpPhone):
    """An HttpPhone whose requests go through a Flask test client."""

    def __init__(self, client, token: str | None = TOKEN, **kwargs):
        super().__init__(BASE + "/voice", token=token, say=lambda line: None, **kwargs)
        self.client = client
        self.documents_seen: list[str] = []

    def post(self, url: str, extra: dict[str, str] | None = None) -> tuple[int, str]:
        form = {**self.base_form, **(extra or {})}
        headers = signed_headers(url, form, self.token) if self.token else {}
        parts = urlsplit(url)
        response = self.client.post(parts.path + (f"?{parts.query}" if parts.query else ""), data=form,
                                    headers=headers)
        body = response.get_data(as_text=True)
        if response.status_code == 200 and body:
            check_document(body)
            self.documents_seen.append(body)
        return response.status_code, body
