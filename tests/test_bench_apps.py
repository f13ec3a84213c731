"""The load benchmark's baselines answer as the benchmark expects (the benchmark itself is not a test)."""

from __future__ import annotations

import importlib

import pytest
from twilio_sim import TOKEN, signed_headers
from werkzeug.test import Client

from bench import static_app

FORM = {"CallSid": "CA" + "ab" * 16, "From": "+15555550123", "Digits": "1"}


def test_static_app_answers_the_fixed_document_and_204_for_status():
    client = Client(static_app.app)
    response = client.post("/voice/turn?t=1", data=FORM)
    assert response.status_code == 200 and response.data == static_app.DOCUMENT
    assert client.post("/voice/status", data=FORM).status_code == 204


@pytest.mark.redis
def test_floor_app_checks_the_signature_and_saves_once_per_request(redis_url, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("REDIS_URL", redis_url)
    floor = importlib.reload(importlib.import_module("bench.floor_app"))
    client = Client(floor.app)
    url = "http://localhost/voice/turn?t=1"
    try:
        assert client.post(url, data=FORM).status_code == 403
        for version in (1, 2):
            response = client.post(url, data=FORM, headers=signed_headers(url, FORM))
            assert response.status_code == 200 and response.data == static_app.DOCUMENT
            assert floor.STORE.load(FORM["CallSid"])[1] == version
    finally:
        floor.STORE.client.delete(floor.STORE.key(FORM["CallSid"]))
        floor.STORE.close()
