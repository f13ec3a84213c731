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


def test_the_engine_benchmark_plays_calls_to_their_end():
    from bench import flows as bench_flows
    from ivr.flows.loader import load_flow

    flow = load_flow(bench_flows.ROOT / "flows" / "support-line.yaml")
    figures = bench_flows.bench_engine(flow, 0.05, 1, roundtrip=True)
    assert figures["steps"] > 0


def test_the_lint_speed_up_comparison_restores_what_it_switched_off():
    import gc

    from bench import flows as bench_flows
    from ivr.flows import loader, templates

    quick, disable = templates._quick_names, loader.gc.disable
    figures = bench_flows.bench_speedups(1, 1)
    assert set(figures["lint_ms"]) == {"both", "no fast path", "collector not paused", "neither"}
    assert (templates._quick_names, loader.gc.disable) == (quick, disable) and gc.isenabled()


def test_the_request_benchmark_checks_both_halves_agree_and_runs(capsys, monkeypatch):
    from bench import request

    monkeypatch.setattr(request, "best_us", lambda fn, number=1, repeat=1: (fn(), 1.0)[1])
    request.main()
    assert "parse_qsl / _pairs" in capsys.readouterr().out
