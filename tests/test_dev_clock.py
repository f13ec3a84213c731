"""A development server takes the moment of a call from `ivr call --at` (X-IVR-Now); no other server does."""

from __future__ import annotations

import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.tools.http_phone import HttpPhone
from ivr.web.app import create_app

FLOWS = Path(__file__).resolve().parent.parent / "flows"
LA = ZoneInfo("America/Los_Angeles")
MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=LA)  # the office is open
CALL = "CA" + "ab" * 16


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    for name in ("TWILIO_AUTH_TOKEN", "REDIS_URL", "IVR_DEV", "PUBLIC_URL", "IVR_FLOW", "IVR_FLOWS_DIR"):
        monkeypatch.delenv(name, raising=False)

    def make(**config):
        settings = {"IVR_FLOWS_DIR": str(FLOWS), "IVR_INSTANCE_PATH": str(tmp_path / "instance"),
                    "CLOCK": lambda: MORNING, **config}
        return create_app(settings)

    return make


def form(**extra):
    return {"CallSid": CALL, "From": "+15555550123", "To": "+16265550100", **extra}


def test_a_development_server_takes_the_moment_of_the_call_from_the_header(make_app):
    client = make_app(IVR_DEV="1").test_client()
    evening = {"X-IVR-Now": "2026-11-25T21:00:00-08:00"}
    client.post("/voice", data=form(), headers=evening)
    body = client.post("/voice/turn?t=0", data=form(Digits="1"), headers=evening).get_data(as_text=True)
    assert "Our office is closed now." in body
    other = CALL[:-1] + "c"
    client.post("/voice", data=form(CallSid=other))
    body = client.post("/voice/turn?t=0", data=form(CallSid=other, Digits="1")).get_data(as_text=True)
    assert "Our office is closed now." not in body  # without the header: the server's clock


def test_a_bad_moment_is_a_client_error(make_app):
    client = make_app(IVR_DEV="1").test_client()
    response = client.post("/voice", data=form(), headers={"X-IVR-Now": "tonight"})
    assert response.status_code == 400 and "offset" in response.get_data(as_text=True)


def test_a_server_that_checks_signatures_ignores_the_header(make_app):
    from twilio_sim import BASE, TOKEN, signed_headers

    client = make_app(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL=BASE).test_client()
    data = form()
    client.post("/voice", data=data, headers={**signed_headers(BASE + "/voice", data),
                                              "X-IVR-Now": "2026-11-25T21:00:00-08:00"})
    data = form(Digits="1")
    body = client.post("/voice/turn?t=0", data=data, headers={**signed_headers(BASE + "/voice/turn?t=0", data),
                                                              "X-IVR-Now": "2026-11-25T21:00:00-08:00"})
    assert "Our office is closed now." not in body.get_data(as_text=True)


def test_ivr_call_at_sends_the_moment_with_every_request(monkeypatch):
    sent = []

    class Answer:
        status = 200

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"<Response><Hangup/></Response>"

    def urlopen(request, timeout):
        sent.append(request.get_header("X-ivr-now"))
        return Answer()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    phone = HttpPhone("http://127.0.0.1:5000/voice", say=lambda line: None,
                      at=datetime(2026, 11, 25, 21, 0, tzinfo=LA))
    assert phone.call(lambda kind: None) == "hangup"
    assert sent and set(sent) == {"2026-11-25T21:00:00-08:00"}
