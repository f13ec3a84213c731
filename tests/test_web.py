"""The webhook service end to end through Flask's test client, with real signatures."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from types import FrameType

import pytest
from twilio_sim import (APP_SETTINGS, BASE, CALL_SID, CALLER, FLOWS, TOKEN, Call, assert_apology, record_at_the_end,
                        check_document, form, post, signed_headers, spoken, stored, tags)

from ivr.tools import callscripts
from ivr.web import documents
from ivr.tools.phone import Phone
from ivr.stores.protocols import StoreUnavailable


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def without_recordings(answers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in answers.items() if not v.startswith(("https://", "recording://"))}


# -- a whole call through HTTP equals the same call through the engine ------------------

def _cases():
    cache: dict = {}
    for path in callscripts.script_files([FLOWS]):
        cases, _ = callscripts.load_script(path, cache)
        for case in cases:
            yield pytest.param(case, id=f"{path.name}:{case.name}")


def _entries(case) -> list[str]:
    out = []
    for step in case.steps:
        if step.kind == "press":
            out.append(step.value)
        elif step.kind == "silence":
            out.append("silence")
        elif step.kind in ("dial", "record"):
            out.append(f"{step.kind}:{step.value}")
    return out


@pytest.mark.parametrize("case", list(_cases()))
def test_every_scripted_call_sounds_the_same_over_http(make_app, case):
    app = make_app(case.now)
    entries = _entries(case)
    engine_phone = Phone(case.flow, now=case.now, caller=case.caller)
    engine_phone.start()
    for entry in entries:
        if engine_phone.waiting is None:
            break
        engine_phone.enter(entry)
    http_phone = Call(app, engine_phone.call_id,  # the same call id: the same confirmation
                      caller=case.caller or "Anonymous")
    at_the_end = record_at_the_end(http_phone, app)
    http_phone.play(entries)
    assert spoken(http_phone.heard) == spoken(engine_phone.heard)
    record = at_the_end[0] if at_the_end else stored(app, http_phone.call_sid)
    assert set(record.state.answers) == set(engine_phone.state.answers)
    assert without_recordings(record.state.answers) == without_recordings(engine_phone.state.answers)
    assert record.state.lang == engine_phone.state.lang


# -- signatures -------------------------------------------------------------------------

def test_a_webhook_signed_by_a_webhook_setting_is_refused_and_says_why(app, client, caplog):
    from twilio.request_validator import HMAC_SHA256, RequestValidator

    data = form()
    signed = RequestValidator("shared-key-secret").compute_signature(BASE + "/voice", data, HMAC_SHA256)
    headers = {"X-Twilio-Signature": signed,
               "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    with caplog.at_level(logging.WARNING, logger="ivr.web"):
        assert client.post("/voice", data=data, headers=headers).status_code == 403
    assert "not HIPAA eligible" in caplog.text and stored(app) is None


def test_signed_call_gets_twiml(app, client):
    response = post(client, "/voice", form())
    assert response.status_code == 200
    assert response.content_type == "text/xml; charset=utf-8"
    check_document(response.get_data(as_text=True))
    assert stored(app).state.node == "language"


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "forged="}])
def test_unsigned_or_forged_request_is_refused_and_changes_nothing(app, client, headers):
    response = client.post("/voice", data=form(), headers=headers)
    assert response.status_code == 403
    assert stored(app) is None


def test_signature_over_other_parameters_is_refused(app, client):
    data = form()
    headers = signed_headers(BASE + "/voice", data)
    response = client.post("/voice", data={**data, "Digits": "1"}, headers=headers)
    assert response.status_code == 403


def test_in_development_behind_a_trusted_tls_proxy_the_public_url_is_rebuilt(make_app):
    client = make_app(PUBLIC_URL="", IVR_DEV="1").test_client()  # the test client comes from 127.0.0.1
    data = form()
    headers = signed_headers("https://ivr.example.org/voice", data)
    headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.org"})
    assert client.post("/voice", data=data, headers=headers).status_code == 200


def test_forwarded_headers_from_an_untrusted_address_are_not_believed(make_app):
    # A request Twilio signed for another host on the same account, replayed with that host in the headers.
    client = make_app(PUBLIC_URL="", IVR_DEV="1").test_client()
    data = form()
    headers = signed_headers("https://other-line.example.org/voice", data)
    headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-line.example.org"})
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.post("/voice", data=data, headers=headers, environ_base=stranger).status_code == 403
    assert client.post("/voice", data=data, headers=headers).status_code == 200  # from the trusted proxy


def test_with_a_public_url_no_header_moves_the_signed_url(make_app):
    client = make_app(PUBLIC_URL="https://line.example.org").test_client()
    data = form()
    spoofed = signed_headers("https://other-line.example.org/voice", data)
    spoofed.update({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-line.example.org",
                    "Host": "other-line.example.org"})
    assert client.post("/voice", data=data, headers=spoofed).status_code == 403


def test_production_refuses_to_start_without_a_public_url(make_app):
    with pytest.raises(RuntimeError, match="PUBLIC_URL is not set"):
        make_app(PUBLIC_URL="")


def test_public_url_setting_wins(make_app):
    client = make_app(PUBLIC_URL="https://line.example.org").test_client()
    data = form()
    good = signed_headers("https://line.example.org/voice", data)
    assert client.post("/voice", data=data, headers=good).status_code == 200
    assert client.post("/voice", data=form(CallSid="CA" + "cd" * 16),
                       headers=signed_headers(BASE + "/voice", form(CallSid="CA" + "cd" * 16))).status_code == 403


def test_escaped_query_strings_are_signed_as_sent(app, client):
    post(client, "/voice", form())
    path = "/voice/turn?t=0&note=a%20b%2Bc"
    data = form(Digits="1")
    response = client.post(path, data=data, headers=signed_headers(BASE + path, data))
    assert response.status_code == 200


def test_production_refuses_to_start_without_a_token(make_app):
    with pytest.raises(RuntimeError, match="TWILIO_AUTH_TOKEN"):
        make_app(TWILIO_AUTH_TOKEN="")


def test_development_mode_says_loudly_it_does_not_check(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="ivr.web"):
        app = make_app(TWILIO_AUTH_TOKEN="", IVR_DEV="1")
    assert "signatures are NOT checked" in caplog.text
    assert app.test_client().post("/voice", data=form()).status_code == 200


def test_broken_flows_stop_the_server_from_starting(make_app, tmp_path):
    broken = tmp_path / "flows"
    broken.mkdir()
    (broken / "bad.yaml").write_text("flow: bad\nstart: nowhere\nnodes: {}\n")
    with pytest.raises(Exception, match=r"bad\.yaml:2:8: error: start goes to unknown node"):
        make_app(IVR_FLOWS_DIR=str(broken))


class ReadsRecorded(MutableMapping):
    """os.environ, noting each name the app's code (or Flask) looks up; "*" for reading all of it."""

    def __init__(self, environ: MutableMapping[str, str]):
        self.environ = environ
        self.read: set[str] = set()

    def _note(self, name: str) -> None:
        frame: FrameType | None = sys._getframe(2)
        while frame is not None and frame.f_globals.get("__name__") in (__name__, "os", "collections.abc"):
            frame = frame.f_back
        if frame is not None and frame.f_globals.get("__name__", "").startswith(("ivr.", "flask")):
            self.read.add(name)

    def __getitem__(self, name: str) -> str:
        self._note(name)
        return self.environ[name]

    def __setitem__(self, name: str, value: str) -> None:
        self.environ[name] = value

    def __delitem__(self, name: str) -> None:
        del self.environ[name]

    def __iter__(self) -> Iterator[str]:
        self._note("*")
        return iter(self.environ)

    def __len__(self) -> int:
        return len(self.environ)


def test_make_app_clears_every_setting_the_app_reads(make_app, monkeypatch):
    environ = ReadsRecorded(os.environ)
    monkeypatch.setattr(os, "environ", environ)
    booking = next(c for c in _cases() if c.values[0].path.endswith("rides-en.yaml")).values[0]
    app = make_app(booking.now)
    Call(app).play(_entries(booking))  # a ride booked: the outbox reads its settings too
    assert environ.read == set(APP_SETTINGS)


# -- retries, races, and the caller's keys -------------------------------------------------

def test_twilio_retrying_a_turn_gets_the_same_twiml_and_advances_once(app, client):
    post(client, "/voice", form())
    first = post(client, "/voice/turn?t=0", form(Digits="1")).get_data(as_text=True)
    again = post(client, "/voice/turn?t=0", form(Digits="1")).get_data(as_text=True)
    assert first == again
    record = stored(app)
    assert (record.state.turn, record.state.node) == (1, "main_menu")


def test_first_webhook_retried_is_answered_the_same(app, client):
    first = post(client, "/voice", form()).get_data(as_text=True)
    assert post(client, "/voice", form()).get_data(as_text=True) == first
    assert stored(app).state.turn == 0


def test_racing_requests_for_one_turn_advance_it_once(app):
    client = app.test_client()
    post(client, "/voice", form())
    results: list[str] = []

    def press():
        results.append(post(app.test_client(), "/voice/turn?t=0", form(Digits="2")).get_data(as_text=True))

    threads = [threading.Thread(target=press) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    record = stored(app)
    assert (record.state.turn, record.state.lang) == (1, "es")


def test_status_callback_racing_a_turn_keeps_the_state(app, client):
    post(client, "/voice", form())
    post(client, "/voice/turn?t=0", form(Digits="1"))
    assert post(client, "/voice/status", form(CallStatus="completed")).status_code == 204
    record = stored(app)
    assert record.state.ended and record.state.node == "main_menu" and record.state.turn == 1
    assert post(client, "/voice/status", form(CallSid="CA" + "ef" * 16, CallStatus="completed")).status_code == 204


def test_after_the_status_callback_the_record_keeps_nothing_the_caller_keyed(app, client):
    from ivr.stores.protocols import BoardMove
    from ivr.web.turns import ENDED_TTL_SECONDS

    store = app.extensions["ivr"].store
    post(client, "/voice", form())
    assert stored(app).state.answers.get("caller_id") == form()["From"]
    saves = []
    real = store.save
    store.save = lambda *args: saves.append(args) or real(*args)
    try:
        assert post(client, "/voice/status", form(CallStatus="completed")).status_code == 204
    finally:
        store.save = real
    record = stored(app)
    assert record.state.ended and record.state.node == "language"  # where it ended, for drop-off counts
    assert record.state.answers == {} and record.state.pending is None and record.twiml == documents.HANGUP
    assert record.whisper == () and record.details == ()
    assert saves[0][3] == ENDED_TTL_SECONDS and saves[0][4] == BoardMove(None, saves[0][4].at)
    # A late retry of the last turn hears nothing from before.
    assert post(client, "/voice", form()).get_data(as_text=True) == documents.HANGUP


def test_silence_is_handled_in_the_same_round_trip(app, client):
    post(client, "/voice", form())
    body = post(client, "/voice/turn?t=0", form()).get_data(as_text=True)
    assert "Sorry, I didn't hear anything." in body


@pytest.mark.parametrize("keys", ["1" * 65, "1" * 80, "12#" * 400])
def test_a_long_string_of_keys_at_a_prompt_is_reprompted_never_refused(app, client, keys):
    post(client, "/voice", form())
    response = post(client, "/voice/turn?t=0", form(Digits=keys))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<Gather" in body and "t=1" in body
    assert stored(app).state.node == "language"  # still at the language menu, one try counted
    assert stored(app).state.tries == 1


@pytest.mark.parametrize("path, data, status", [
    ("/voice", {"From": CALLER}, 400),
    ("/voice", form(CallSid="not-a-sid"), 400),
    ("/voice/turn?t=0", form(Digits="12a"), 400),
    ("/voice/turn?t=zero", form(Digits="1"), 400),
    ("/voice/turn", form(Digits="1"), 400),
    ("/voice/turn?t=0", form(DialCallStatus="exploded"), 400),
])
def test_junk_gets_a_clear_client_error(app, client, path, data, status):
    post(client, "/voice", form())
    response = post(client, path, data)
    assert response.status_code == status


def test_unknown_parameters_are_ignored(app, client):
    assert post(client, "/voice", form(Surprise="yes", StirVerstat="TN-Validation-Passed-A")).status_code == 200


def test_wrong_content_type_is_refused(app, client):
    response = client.post("/voice", json=form(), headers=signed_headers(BASE + "/voice", {}))
    assert response.status_code == 415


def test_oversized_body_is_refused(app, client):
    data = form(Junk="x" * 70000)
    assert post(client, "/voice", data).status_code == 413


def test_a_form_of_too_many_fields_is_refused(app, client):
    data = form(**{f"F{i}": "x" for i in range(300)})
    response = post(client, "/voice", data)
    assert response.status_code == 400
    assert response.content_type.startswith("text/plain") and stored(app) is None


@pytest.mark.parametrize("path", ["/voice", "/voice/turn?t=0", "/voice/status", "/voice/fallback"])
def test_webhooks_are_posted_only(client, path):
    assert client.get(path).status_code == 405


def test_a_repeated_field_is_signed_with_every_value(app, client):
    from twilio.request_validator import RequestValidator
    from werkzeug.datastructures import MultiDict

    data = MultiDict([*form().items(), ("Tag", "b"), ("Tag", "a")])
    good = RequestValidator(TOKEN).compute_signature(BASE + "/voice", data)
    first_only = RequestValidator(TOKEN).compute_signature(BASE + "/voice", {**form(), "Tag": "b"})
    assert client.post("/voice", data=data, headers={"X-Twilio-Signature": first_only}).status_code == 403
    assert client.post("/voice", data=data, headers={"X-Twilio-Signature": good}).status_code == 200


def test_percent_escapes_and_plus_signs_in_the_form_are_decoded(app, client):
    data = form(From="+15555550123", CallerName="Ana María & Co")
    response = post(client, "/voice", data)
    assert response.status_code == 200
    assert stored(app).state.answers.get("caller_id") == "+15555550123"


# -- the safe route -----------------------------------------------------------------------

def test_expired_call_state_apologises_and_transfers(app, client):
    assert_apology(post(client, "/voice/turn?t=3", form(Digits="1")).get_data(as_text=True))


def test_an_exception_in_a_turn_apologises_without_leaking(app, client, monkeypatch, caplog):
    post(client, "/voice", form())

    def explode(*args):
        raise ValueError("member 12345678 born 01021950")

    monkeypatch.setattr("ivr.web.turns.step", explode)
    with caplog.at_level(logging.INFO, logger="ivr.calls"):
        response = post(client, "/voice/turn?t=0", form(Digits="1"))
    assert response.status_code == 200
    assert_apology(response.get_data(as_text=True))
    assert "12345678" not in caplog.text and "ValueError" in caplog.text and CALL_SID in caplog.text


def test_store_outage_degrades_to_the_safe_route(app, client, monkeypatch):
    store = app.extensions["ivr"].store

    def down(*args):
        raise StoreUnavailable("down")

    monkeypatch.setattr(store, "load", down)
    response = post(client, "/voice", form())
    assert response.status_code == 200
    assert_apology(response.get_data(as_text=True))


def test_fallback_url_needs_no_store(app, client, monkeypatch):
    def down(*args):
        raise StoreUnavailable("down")

    monkeypatch.setattr(app.extensions["ivr"].store, "load", down)
    response = post(client, "/voice/fallback", form(ErrorCode="11200", ErrorUrl="https://x/voice"))
    assert_apology(response.get_data(as_text=True))


def test_healthz(app, client, monkeypatch):
    body = client.get("/healthz").get_json()
    assert body["store"] == "ok" and set(body["flows"]) == {"support-line"} and body["flow_problems"] == []
    monkeypatch.setattr(app.extensions["ivr"].store, "check_writable", lambda timeout: False)
    assert client.get("/healthz").status_code == 503
    assert client.get("/healthz").get_json()["store"] == "not writable"


# -- what the logs say ----------------------------------------------------------------------

def test_one_log_line_per_turn_without_health_data(app, client, caplog):
    with caplog.at_level(logging.INFO, logger="ivr.calls"):
        post(client, "/voice", form())
        post(client, "/voice/turn?t=0", form(Digits="1"))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ivr.calls"]
    assert len(lines) == 2
    assert {"call", "flow", "version", "node", "event", "ms"} <= set(lines[1])
    assert lines[1]["node"] == "main_menu" and lines[1]["event"] == "Digits"
    assert CALLER not in caplog.text


def test_a_host_that_never_loaded_a_version_fetches_it_from_the_store(make_app, tmp_path):
    folder = tmp_path / "flows"
    folder.mkdir()
    original = (FLOWS / "support-line.yaml").read_text()
    (folder / "support-line.yaml").write_text(original)
    (folder / "teams.yaml").write_text((FLOWS / "teams.yaml").read_text())
    first = make_app(IVR_FLOWS_DIR=str(folder))
    client = first.test_client()
    post(client, "/voice", form())
    old_version = stored(first).state.flow_version
    (folder / "support-line.yaml").write_text(original.replace("Thank you for calling CareLine's care coordination line.",
                                                               "Thank you for calling the support line."))
    second = make_app(IVR_FLOWS_DIR=str(folder))  # a new host: only the edited version on disk
    assert second.extensions["ivr"].registry.current["support-line"].version != old_version
    body = post(second.test_client(), "/voice/turn?t=0", form(Digits="1")).get_data(as_text=True)
    assert "Thank you for calling CareLine's care coordination line." in body
    assert stored(second).state.flow_version == old_version


def test_a_teams_edit_is_a_new_version_and_another_host_rebuilds_the_old_one_with_its_teams(make_app, tmp_path):
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "support-line.yaml").write_text((FLOWS / "support-line.yaml").read_text())
    teams = (FLOWS / "teams.yaml").read_text()
    assert "ring_seconds: 25" in teams
    (folder / "teams.yaml").write_text(teams)
    first = make_app(IVR_FLOWS_DIR=str(folder))
    post(first.test_client(), "/voice", form())
    old = first.extensions["ivr"].registry.current["support-line"]
    (folder / "teams.yaml").write_text(teams.replace("ring_seconds: 25", "ring_seconds: 40"))
    second = make_app(IVR_FLOWS_DIR=str(folder))  # a new host: only the edited teams file on disk
    new = second.extensions["ivr"].registry.current["support-line"]
    assert new.version != old.version and new.source == old.source
    rebuilt = second.extensions["ivr"].registry.get("support-line", old.version)
    assert rebuilt is not None and rebuilt.version == old.version
    assert rebuilt.teams == old.teams and rebuilt.teams != new.teams


def test_a_ride_booked_over_http_is_recorded_texted_and_handed_to_the_desk(make_app):
    from ivr import records

    cases = [c for c in _cases() if c.values[0].path.endswith("rides-en.yaml")]
    booking = cases[0].values[0]
    app = make_app(booking.now, RIDES_WEBHOOK_URL="https://rides.example.org/requests",
                   RIDES_WEBHOOK_SECRET="s3cret", TWILIO_SMS_FROM="+16266696777")
    phone = Call(app)
    at_the_end = record_at_the_end(phone, app)
    phone.play(_entries(booking))
    state = at_the_end[0].state
    assert state.ended and len(state.answers["confirmation"]) == 8
    store = app.extensions["ivr"].store
    rides = records.load_all(store, "ride")
    assert len(rides) == 1 and rides[0].id.startswith(phone.call_sid)
    assert rides[0].fields["confirmation"] == state.answers["confirmation"]
    items = {item.id.rsplit(":", 1)[1]: item for item in store.outbox()}
    assert set(items) == {"sms", "ride"}
    assert state.answers["confirmation"].encode() in items["ride"].payload
    assert b"member_id" not in items["sms"].payload and state.answers["member_id"].encode() not in items["sms"].payload


@pytest.mark.parametrize("path, data", [
    ("/voice", form()),
    ("/voice/turn?t=0", form(Digits="1")),
])
def test_an_error_outside_the_turn_still_gets_the_safe_route(app, client, monkeypatch, path, data):
    post(client, "/voice", form())

    def broken(*args):
        raise OSError("disk gone")

    monkeypatch.setattr("ivr.web.webhooks.signature.check", broken)  # fails before the turn is reached
    response = post(client, path, data)
    assert response.status_code == 200
    assert_apology(response.get_data(as_text=True))


@pytest.mark.parametrize("path, data", [
    ("/voice/whisper?t=1", form(ParentCallSid=CALL_SID, CallSid="CA" + "cd" * 16)),
    ("/voice/whisper/accept?t=1", form(Digits="1", CallSid="CA" + "cd" * 16)),
])
def test_an_error_on_a_coordinators_leg_declines_that_leg(app, client, monkeypatch, path, data):
    def broken(*args):
        raise OSError("disk gone")

    monkeypatch.setattr("ivr.web.webhooks.signature.check", broken)  # fails before the turn is reached
    response = post(client, path, data)
    assert response.status_code == 200
    root = check_document(response.get_data(as_text=True))
    assert tags(root) == ["Hangup"]  # no apology, no Dial on the coordinator's phone


def test_an_error_in_a_status_callback_still_gets_204(app, client, monkeypatch):
    post(client, "/voice", form())

    def broken(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(app.extensions["ivr"], "ended", broken)
    response = post(client, "/voice/status", form(CallStatus="completed"))
    assert response.status_code == 204 and response.get_data() == b""


def test_the_fallback_answers_without_looking_at_the_flows(app, client, monkeypatch):
    checked = []
    monkeypatch.setattr(app.extensions["ivr"].registry, "check", lambda: checked.append(1))
    assert_apology(post(client, "/voice/fallback", form(ErrorCode="11200")).get_data(as_text=True))
    assert checked == []


def test_a_webhook_fetched_with_get_is_told_to_post(client):
    response = client.get("/voice")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_the_turns_log_line_written_directly_reads_as_logging_would_write_it(monkeypatch):
    import io

    from ivr.web import turns

    ivr_logger = logging.getLogger("ivr")
    handler = turns.StderrLines(io.StringIO())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    monkeypatch.setattr(ivr_logger, "handlers", [handler])
    monkeypatch.setattr(ivr_logger, "propagate", False)
    monkeypatch.setattr(ivr_logger, "level", logging.INFO)
    assert turns._only_handler() is handler
    turns._log_line(logging.INFO, '{"outcome":"ok"}')
    turns.log.info('{"outcome":"ok"}')
    direct, logged = handler.stream.getvalue().splitlines()
    assert direct.split(" ", 2)[2] == logged.split(" ", 2)[2] == 'INFO ivr.calls {"outcome":"ok"}'
    assert len(direct) == len(logged)  # the same time stamp layout
    monkeypatch.setattr(ivr_logger, "handlers", [handler, logging.NullHandler()])
    assert turns._only_handler() is None  # anyone else listening: through logging


def test_a_plain_turn_makes_two_store_round_trips_and_a_transfer_reads_who_is_away(app, client, monkeypatch):
    store = app.extensions["ivr"].store
    calls: list[str] = []
    for name in ("load", "save", "availability", "get_value", "put_value", "add_record", "enqueue",
                 "board_note", "board_end"):
        real = getattr(store, name)
        monkeypatch.setattr(store, name, lambda *args, _name=name, _real=real: calls.append(_name) or _real(*args))
    post(client, "/voice", form())
    assert calls == ["load", "save"]  # the call starts on the desk's board with the same save
    calls.clear()
    post(client, "/voice/turn?t=0", form(Digits="1"))  # the main menu
    assert calls == ["load", "save"]
    calls.clear()
    post(client, "/voice/turn?t=1", form(Digits="3"))  # a coordinator: the transfer rings
    assert calls == ["load", "availability", "get_value", "save"]
