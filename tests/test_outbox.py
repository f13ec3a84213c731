"""The outbox end to end: effects enqueue once, a worker delivers rides to a real local HTTP
server and texts through the Twilio library (over a fake HttpClient), retries with backoff,
and a worker that dies between sending and marking never makes a delivery happen twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio_sim import FakeClock as Clock

from ivr import records
from ivr.flows import sms
from ivr.outbox import worker
from ivr.web import effects
from ivr.cli import main
from ivr.engine.commands import Effect
from ivr.outbox.worker import Deliverer, run, run_once
from ivr.stores.sqlite import SqliteStore

T0 = 1_796_144_400.0  # 2026-12-01 09:00 in Los Angeles, 17:00 UTC
LONG_AGO = 1_600_000_000.0  # 2020: an item queued then is due whenever the worker runs on the real clock
SID = "AC" + "1f" * 16
TOKEN = "test-auth-token"
SECRET = "ride-webhook-secret"
SENDER = "+16265550199"
CALLER = "+16265550123"
CALLBACK = "+16265550142"
CALL = "CA" + "ab" * 16


class WorkerDied(BaseException):
    """The process going away: no handler catches it."""


# --- a ride desk: a real HTTP server that checks signatures and keeps one ride per key --------


class RideDesk:
    """The receiving end of ride hand-offs, on 127.0.0.1 at an ephemeral port.

    It answers each POST with the next status of `script` (200 once the script runs out),
    and accepts a ride only when the signature is right, keeping one per Idempotency-Key.
    """

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.script: list[int] = []
        self.headers_out: dict[str, str] = {}
        self.delay = 0.0
        self.requests: list[dict] = []
        self.rides: dict[str, dict] = {}
        self.lock = threading.Lock()
        desk = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server spelling)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = desk.receive(self.headers, body)
                if desk.delay:
                    time.sleep(desk.delay)
                self.send_response(status)
                for name, value in desk.headers_out.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rides"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def receive(self, headers, body: bytes) -> int:
        timestamp = headers.get("X-IVR-Timestamp", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body,
                                        hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, headers.get("X-IVR-Signature", ""))
        key = headers.get("Idempotency-Key", "")
        with self.lock:
            status = self.script.pop(0) if self.script else 200
            if not signed:
                status = 401
            self.requests.append({"key": key, "status": status, "signed": signed, "timestamp": timestamp,
                                  "content_type": headers.get("Content-Type"), "body": body})
            if 200 <= status < 300:
                self.rides.setdefault(key, json.loads(body))
        return status


@pytest.fixture
def desk():
    server = RideDesk()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(5)


# --- Twilio, through the library with a fake HttpClient ------------------------------------


class FakeTwilio(HttpClient):
    """Answers the Messages API like Twilio does, keeping the messages 'sent'; no network."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(logging.getLogger("tests.fake_twilio"), False, None)
        self.clock = clock
        self.calls: list[dict] = []
        self.sent: list[dict] = []
        self.fail_with: list[tuple[int, int | None]] = []  # (status, Twilio code) for the next POSTs

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False) -> Response:
        self.calls.append({"method": method, "uri": uri, "params": params, "data": data, "auth": auth})
        if method == "POST":
            if self.fail_with:
                status, code = self.fail_with.pop(0)
                return Response(status, json.dumps({"code": code, "message": "no", "status": status}))
            message = {"sid": f"SM{len(self.sent) + 1:032x}", "account_sid": SID, "to": data["To"],
                       "from": data["From"], "body": data["Body"], "status": "queued", "direction": "outbound-api",
                       "date_created": format_datetime(datetime.fromtimestamp(self.clock(), timezone.utc), usegmt=True),
                       "date_sent": None}
            self.sent.append(message)
            return Response(201, json.dumps(message))
        after = datetime.fromisoformat(params["DateSent>"]) if "DateSent>" in params else None
        found = [m for m in self.sent if m["to"] == params.get("To") and m["from"] == params.get("From")
                 and (after is None or parsedate_to_datetime(m["date_created"]) >= after)]
        page = {"messages": found, "uri": uri, "first_page_uri": uri, "next_page_uri": None,
                "previous_page_uri": None, "page": 0, "page_size": 50, "start": 0, "end": len(found)}
        return Response(200, json.dumps(page))

    def posts(self) -> list[dict]:
        return [call for call in self.calls if call["method"] == "POST"]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_outbox_settings_from_the_environment(monkeypatch):
    for name in worker.SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def store(tmp_path):
    opened = SqliteStore(str(tmp_path / "ivr.sqlite3"))
    yield opened
    opened.close()


@pytest.fixture
def twilio(clock):
    return FakeTwilio(clock)


def settings(desk: RideDesk | None = None, **overrides) -> dict:
    values = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_SMS_FROM": SENDER}
    if desk is not None:
        values.update(RIDES_WEBHOOK_URL=desk.url, RIDES_WEBHOOK_SECRET=SECRET)
    values.update(overrides)
    return values


@pytest.fixture
def make_deliverer(clock, twilio):
    made = []

    def make(config: dict, **kwargs) -> Deliverer:
        kwargs.setdefault("random", lambda: 0.5)
        made.append(Deliverer(config, twilio_http_client=twilio, clock=clock, **kwargs))
        return made[-1]

    yield make
    for deliverer in made:
        deliverer.close()


def ride_effect(lang: str = "en", key: str = "support-line:book:7:3", **extra: str) -> Effect:
    params = {"callback": CALLBACK, "appt_date": "2026-12-15", "appt_time": "0930", "appt_ampm": "am",
              "member_id": "98765432", "dob": "19470302", "pickup_zip": "91101", "mobility": "wheelchair",
              "lang": lang, "confirmation": "48213379", **extra}
    return Effect("book_ride", key, tuple(params.items()))


def book(store, config: dict, effect: Effect | None = None, at: float = T0) -> None:
    effects.perform(store, CALL, [effect or ride_effect()], at, caller=CALLER, settings=config)


def item(store, item_id: str):
    (found,) = [each for each in store.outbox() if each.id == item_id]
    return found


RIDE_ID = f"{CALL}:support-line:book:7:3:ride"
SMS_ID = f"{CALL}:support-line:book:7:3:sms"


def enqueue_ride(store, item_id: str = "r1", body: bytes = b'{"id": "r1"}') -> None:
    assert store.enqueue(item_id, worker.RIDE, body, T0)


# --- enqueueing -----------------------------------------------------------------------------


def test_a_ride_effect_leaves_a_record_a_text_and_a_hand_off(store, desk):
    book(store, settings(desk))
    record = records.load(store, f"{CALL}:support-line:book:7:3")
    assert isinstance(record, records.RideRequest)
    assert [(each.id, each.kind, each.state, each.attempts, each.due_at) for each in store.outbox()] == [
        (RIDE_ID, "ride", "pending", 0, T0), (SMS_ID, "sms", "pending", 0, T0)]
    ride = json.loads(item(store, RIDE_ID).payload)
    assert ride["id"] == record.id and ride["created_at"] == T0 and ride["kind"] == "ride"
    assert ride["confirmation"] == "48213379" and ride["language"] == "en"
    assert ride["fields"] == {"callback": CALLBACK, "appt_date": "2026-12-15", "appt_time": "0930",
                              "appt_ampm": "am", "member_id": "98765432", "dob": "19470302",
                              "pickup_zip": "91101", "mobility": "wheelchair", "confirmation": "48213379"}
    text = json.loads(item(store, SMS_ID).payload)
    assert text["to"] == CALLBACK and text["lang"] == "en"
    assert text["body"] == ("Ride request received: Tue, Dec 15 at 9:30 AM. Ref 48213379. Not scheduled yet; "
                            "we'll text the pickup time. Change/cancel: call us, TTY 711")


def test_the_same_effect_twice_enqueues_once(store, desk):
    book(store, settings(desk))
    before = store.outbox()
    book(store, settings(desk), at=T0 + 30)  # a retried webhook, later
    assert store.outbox() == before
    assert len(store.list_records("ride")) == 1
    assert len(store.outbox()) == 2


def test_a_crash_between_the_record_and_the_items_is_mended_by_the_retry(store, desk, monkeypatch):
    def died(*_args, **_kwargs):
        raise WorkerDied  # the process goes away after the record was saved

    with monkeypatch.context() as patch:
        patch.setattr(store, "enqueue", died)
        with pytest.raises(WorkerDied):
            book(store, settings(desk))
    assert len(store.list_records("ride")) == 1 and store.outbox() == []
    book(store, settings(desk))
    assert [each.kind for each in store.outbox()] == ["ride", "sms"]


def test_no_hand_off_without_a_rides_url(store):
    book(store, settings())
    assert [each.id for each in store.outbox()] == [SMS_ID]


def test_the_rides_url_may_come_from_the_environment(store, monkeypatch):
    monkeypatch.setenv("RIDES_WEBHOOK_URL", "https://rides.example/hook")
    config = worker.settings_from()  # read once, as the web app reads its settings when it starts
    effects.perform(store, CALL, [ride_effect()], T0, caller=CALLER, settings=config)
    assert sorted(each.kind for each in store.outbox()) == ["ride", "sms"]


def test_performing_effects_reads_no_environment(store, monkeypatch):
    monkeypatch.setenv("RIDES_WEBHOOK_URL", "https://rides.example/hook")
    effects.perform(store, CALL, [ride_effect()], T0, caller=CALLER, settings=settings())
    assert [each.kind for each in store.outbox()] == ["sms"]


def test_a_text_goes_to_to_or_else_the_caller(store):
    effects.perform(store, CALL, [Effect("send_text", "k1", (("body", "Open 9 to 5"), ("lang", "en"))),
                                  Effect("send_text", "k2", (("body", "Hi"), ("to", "+16265550177"), ("lang", "en")))],
                    T0, caller=CALLER)
    payloads = {each.id: json.loads(each.payload) for each in store.outbox()}
    assert payloads[f"{CALL}:k1:sms"]["to"] == CALLER
    assert payloads[f"{CALL}:k2:sms"]["to"] == "+16265550177"
    assert store.list_records() == []  # a text leaves no record
    effects.perform(store, CALL, [Effect("send_text", "k1", (("body", "Open 9 to 5"), ("lang", "en")))], T0)
    assert len(store.outbox()) == 2


def test_voicemails_and_callbacks_send_nothing(store):
    effects.perform(store, CALL, [Effect("save_voicemail", "v", (("team", "desk"), ("recording", "https://r"))),
                                  Effect("request_callback", "c", (("team", "desk"), ("number", CALLER)))], T0)
    assert len(store.list_records()) == 2 and store.outbox() == []


# --- the texts ------------------------------------------------------------------------------


def test_spanish_text_for_a_spanish_caller(store, twilio, make_deliverer):
    book(store, settings(), ride_effect(lang="es"))
    assert run_once(store, make_deliverer(settings()))["done"] == 1
    (post,) = twilio.posts()
    assert post["data"]["Body"] == ("Recibimos su solicitud de transporte del 15 de dic a las 9:30 a. m. Ref 48213379. "
                                    "Pendiente de programar. Cambios o cancelar: vuelva a llamar, TTY 711")


def test_texts_name_no_member_details(store):
    book(store, settings(), ride_effect(member_id="55512345", dob="19800101", pickup_zip="90001",
                                        summary="dialysis", address_recording="https://rec"))
    body = json.loads(item(store, SMS_ID).payload)["body"]
    for secret in ("55512345", "19800101", "90001", "dialysis", "https://rec", "wheelchair", CALLBACK):
        assert secret not in body


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_day_of_a_year_fits_one_gsm7_segment(lang):
    day = date(2026, 1, 1)
    for offset in range(366):
        when = (day + timedelta(days=offset)).isoformat()
        for hhmm, ampm in [("1259", "pm"), ("0100", "am"), ("1030", None), ("2230", None)]:
            text = sms.ride_received(lang, when, hhmm, ampm, "99999999", sender="CareLine", phone="626-555-0100")
            assert len(text) <= 160 and sms.is_gsm7(text) and sms.segments(text) == 1, text


# The ride text, as the line sends it: morning, noon, 1 PM and evening, in both languages.
RIDE_TEXTS = [
    ("en", "0930", "CareLine: Ride request received: Thu, Dec 10 at 9:30 AM. Ref 60795286. Not scheduled yet; "
                   "we'll text the pickup time. Change/cancel: 626-555-0100, TTY 711"),
    ("en", "1200", "CareLine: Ride request received: Thu, Dec 10 at 12:00 PM. Ref 60795286. Not scheduled yet; "
                   "we'll text the pickup time. Change/cancel: 626-555-0100, TTY 711"),
    ("en", "1300", "CareLine: Ride request received: Thu, Dec 10 at 1:00 PM. Ref 60795286. Not scheduled yet; "
                   "we'll text the pickup time. Change/cancel: 626-555-0100, TTY 711"),
    ("en", "1945", "CareLine: Ride request received: Thu, Dec 10 at 7:45 PM. Ref 60795286. Not scheduled yet; "
                   "we'll text the pickup time. Change/cancel: 626-555-0100, TTY 711"),
    ("es", "0930", "CareLine: Recibimos su solicitud de transporte del 10 de dic a las 9:30 a. m. Ref 60795286. "
                   "Pendiente de programar. Cambios o cancelar: 626-555-0100, TTY 711"),
    ("es", "1200", "CareLine: Recibimos su solicitud de transporte del 10 de dic a las 12:00 p. m. Ref 60795286. "
                   "Pendiente de programar. Cambios o cancelar: 626-555-0100, TTY 711"),
    ("es", "1300", "CareLine: Recibimos su solicitud de transporte del 10 de dic a la 1:00 p. m. Ref 60795286. "
                   "Pendiente de programar. Cambios o cancelar: 626-555-0100, TTY 711"),
    ("es", "1945", "CareLine: Recibimos su solicitud de transporte del 10 de dic a las 7:45 p. m. Ref 60795286. "
                   "Pendiente de programar. Cambios o cancelar: 626-555-0100, TTY 711"),
]


@pytest.mark.parametrize(("lang", "hhmm", "expected"), RIDE_TEXTS)
def test_the_ride_text_names_its_sender_says_not_scheduled_and_how_to_change(lang, hhmm, expected):
    text = sms.ride_received(lang, "2026-12-10", hhmm, None, "60795286", sender="CareLine", phone="626-555-0100")
    assert text == expected and sms.segments(text) == 1


def test_a_long_sender_still_fits_one_segment():
    text = sms.ride_received("en", "2026-09-30", "1230", None, "60795286", sender="Pasadena Care Coordination",
                             phone="626-555-0100")
    assert sms.segments(text) == 1 and "Not scheduled yet." in text and "TTY 711" in text


@pytest.mark.parametrize(("lang", "when", "expected"), [
    ("en", "2026-12-01", "Tue, Dec 1"), ("es", "2026-12-01", "1 de dic"), ("en", "2027-03-03", "Wed, Mar 3"),
    ("es", "2027-03-03", "3 de mar"), ("es", "2026-12-05", "5 de dic"), ("en", "2026-02-30", None),
    ("en", "", None),
])
def test_spoken_dates(lang, when, expected):
    assert sms.spoken_date(when, lang) == expected


@pytest.mark.parametrize(("hhmm", "ampm", "expected"), [
    ("0930", "am", "9:30 AM"), ("1200", "pm", "12:00 PM"), ("930", "PM", "9:30 PM"), ("1215", "am", "12:15 AM"),
    ("0960", "am", None), ("09:30", "am", None), ("0930", "xm", None),
    # An hour only the 24-hour clock has wins over a stale am/pm.
    ("1330", "pm", "1:30 PM"), ("1330", "am", "1:30 PM"), ("0000", "am", "12:00 AM"),
    # Without am/pm, a time is on the 24-hour clock (book_ride's times are).
    ("0930", None, "9:30 AM"), ("1200", "", "12:00 PM"), ("1430", None, "2:30 PM"), ("2359", None, "11:59 PM"),
    ("0005", None, "12:05 AM"), ("2400", None, None),
])
def test_clock_times(hhmm, ampm, expected):
    assert sms.clock_time(hhmm, ampm) == expected
    assert sms.clock_time(hhmm, ampm, "es") == (expected and expected.replace("AM", "a. m.").replace("PM", "p. m."))


def test_an_unreadable_date_or_time_is_left_out():
    assert sms.ride_received("en", "someday", "0930", "am", "12345678") == (
        "Ride request received. Ref 12345678. Not scheduled yet; we'll text the pickup time. "
        "Change/cancel: call us, TTY 711")
    assert sms.ride_received("es", "2026-12-01", "99", "am", "12345678") == (
        "Recibimos su solicitud de transporte del 1 de dic. Ref 12345678. Pendiente de programar. "
        "Cambios o cancelar: vuelva a llamar, TTY 711")


def test_segments_count_gsm7_extension_characters_twice():
    assert sms.segments("a" * 160) == 1 and sms.segments("a" * 161) == 2
    assert sms.segments("€" * 80) == 1 and sms.segments("€" * 81) == 2
    assert sms.segments("á" * 70) == 1 and sms.segments("á" * 71) == 2


# --- ride hand-offs against a real HTTP server --------------------------------------------


def test_500_then_200_delivers_one_ride_after_the_backoff(store, desk, clock, make_deliverer):
    book(store, settings(desk))
    desk.script = [500]
    deliverer = make_deliverer(settings(desk))
    counts = run_once(store, deliverer, clock())
    assert counts["claimed"] == 2 and counts["retry"] == 1 and counts["done"] == 1  # the text went
    ride = item(store, RIDE_ID)
    assert (ride.state, ride.attempts, ride.last_error) == ("pending", 1, "HTTP 500")
    assert ride.due_at == T0 + 5 * (1 - 0.2 * 0.5)  # 5 s, less the injected jitter

    clock.advance(4.4)
    assert run_once(store, deliverer, clock())["claimed"] == 0  # not due yet
    clock.advance(0.1)
    assert run_once(store, deliverer, clock())["done"] == 1
    ride = item(store, RIDE_ID)
    assert (ride.state, ride.attempts, ride.note) == ("done", 2, "HTTP 200")
    assert [(r["key"], r["status"], r["signed"]) for r in desk.requests] == [(RIDE_ID, 500, True), (RIDE_ID, 200, True)]
    assert list(desk.rides) == [RIDE_ID]
    assert desk.rides[RIDE_ID] == json.loads(item(store, RIDE_ID).payload)
    assert desk.requests[0]["content_type"] == "application/json"
    assert desk.requests[1]["timestamp"] == str(int(T0 + 4.5))
    clock.advance(3600)
    assert run_once(store, deliverer, clock())["claimed"] == 0  # done stays done


def test_the_backoff_doubles_up_to_the_cap_then_gives_up(store, desk, clock, make_deliverer):
    enqueue_ride(store)
    desk.script = [503] * 20
    deliverer = make_deliverer(settings(desk), random=lambda: 0.0, base_delay=5, max_delay=3600, max_attempts=12)
    waits = []
    while item(store, "r1").state == "pending":
        clock.advance(item(store, "r1").due_at - clock())
        before = clock()
        run_once(store, deliverer, clock())
        if item(store, "r1").state == "pending":
            waits.append(item(store, "r1").due_at - before)
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    dead = item(store, "r1")
    assert (dead.state, dead.attempts, dead.last_error) == ("dead", 12, "HTTP 503 (gave up after 12 attempts)")
    assert len(desk.requests) == 12 and {r["key"] for r in desk.requests} == {"r1"}
    assert desk.rides == {}


def test_jitter_only_shortens_a_wait(make_deliverer):
    values = iter([0.0, 0.999, 0.5])
    deliverer = make_deliverer(settings(), random=lambda: next(values))
    assert deliverer.backoff(3) == 20
    assert 16 < deliverer.backoff(3) < 16.1
    assert deliverer.backoff(30) == 3600 * 0.9


def test_retry_after_is_honoured(store, desk, clock, make_deliverer):
    enqueue_ride(store)
    desk.script = [429]
    desk.headers_out = {"Retry-After": "120"}
    run_once(store, make_deliverer(settings(desk)), clock())
    assert item(store, "r1").due_at == T0 + 120 and item(store, "r1").last_error == "HTTP 429"


def test_a_worker_dying_after_the_post_resends_once_with_the_same_key(store, desk, clock, make_deliverer,
                                                                       monkeypatch):
    book(store, settings(desk))
    deliverer = make_deliverer(settings(desk))
    real_complete = store.complete

    def complete_then_die(item_id, note=""):
        if item_id == RIDE_ID:
            raise WorkerDied
        return real_complete(item_id, note)

    with monkeypatch.context() as patch:
        patch.setattr(store, "complete", complete_then_die)
        with pytest.raises(WorkerDied):
            run_once(store, deliverer, clock(), lease_seconds=60)
    assert len(desk.requests) == 1 and list(desk.rides) == [RIDE_ID]
    assert item(store, RIDE_ID).state == "pending"

    clock.advance(59)
    assert run_once(store, deliverer, clock())["claimed"] == 0  # still leased to the dead worker
    clock.advance(1)
    counts = run_once(store, deliverer, clock())
    assert counts["claimed"] == 2 and counts["done"] == 2  # the ride again, and the text it never reached
    assert [r["key"] for r in desk.requests] == [RIDE_ID, RIDE_ID]
    assert list(desk.rides) == [RIDE_ID]  # the desk kept one
    assert item(store, RIDE_ID).attempts == 2 and item(store, RIDE_ID).state == "done"


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_4xx_is_final(store, desk, clock, make_deliverer, status):
    enqueue_ride(store)
    desk.script = [status]
    assert run_once(store, make_deliverer(settings(desk)), clock())["dead"] == 1
    dead = item(store, "r1")
    assert (dead.state, dead.attempts, dead.last_error) == ("dead", 1, f"HTTP {status}")
    clock.advance(10_000)
    assert run_once(store, make_deliverer(settings(desk)), clock())["claimed"] == 0
    assert len(desk.requests) == 1


def test_a_408_is_retried(store, desk, clock, make_deliverer):
    enqueue_ride(store)
    desk.script = [408]
    assert run_once(store, make_deliverer(settings(desk)), clock())["retry"] == 1


def test_the_desk_refuses_a_wrong_signature(store, desk, clock, make_deliverer):
    enqueue_ride(store)
    run_once(store, make_deliverer(settings(desk, RIDES_WEBHOOK_SECRET="not-the-secret")), clock())
    assert desk.requests[0]["signed"] is False and desk.rides == {}
    assert item(store, "r1").state == "dead" and item(store, "r1").last_error == "HTTP 401"


def test_the_signature_covers_timestamp_and_body():
    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert worker.sign("k", "1700000000", b"{}") == f"sha256={expected}"
    assert worker.sign("k", "1700000001", b"{}") != worker.sign("k", "1700000000", b"{}")


def test_a_closed_port_is_retried(store, clock, make_deliverer):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    enqueue_ride(store)
    config = settings(RIDES_WEBHOOK_URL=f"http://127.0.0.1:{port}/rides", RIDES_WEBHOOK_SECRET=SECRET)
    assert run_once(store, make_deliverer(config), clock())["retry"] == 1
    assert item(store, "r1").last_error == "network error (ConnectionError)"


def test_a_slow_desk_times_out_and_is_retried(store, desk, clock, make_deliverer):
    enqueue_ride(store)
    desk.delay = 0.5
    run_once(store, make_deliverer(settings(desk), timeout=(1.0, 0.1)), clock())
    assert item(store, "r1").state == "pending" and item(store, "r1").last_error == "timeout"


@pytest.mark.parametrize(("config", "error"), [
    ({}, "RIDES_WEBHOOK_URL is not set"),
    ({"RIDES_WEBHOOK_URL": "https://rides.example/hook"}, "RIDES_WEBHOOK_SECRET is not set"),
    ({"RIDES_WEBHOOK_URL": "http://rides.example/hook", "RIDES_WEBHOOK_SECRET": SECRET},
     "RIDES_WEBHOOK_URL must be https:// (http:// only to this machine)"),
])
def test_a_ride_without_its_settings_waits(store, clock, make_deliverer, config, error):
    enqueue_ride(store)
    deliverer = make_deliverer(settings(**config))
    assert run_once(store, deliverer, clock())["retry"] == 1
    assert item(store, "r1").last_error == error
    assert f"ride: {error}" in deliverer.problems() or not config


# --- texts through Twilio -------------------------------------------------------------------


def test_a_text_is_one_exact_messages_api_request(store, twilio, clock, make_deliverer):
    book(store, settings())
    assert run_once(store, make_deliverer(settings()), clock())["done"] == 1
    assert twilio.calls == [{
        "method": "POST",
        "uri": f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json",
        "params": None,
        "data": {"To": CALLBACK, "From": SENDER, "Body": json.loads(item(store, SMS_ID).payload)["body"]},
        "auth": (SID, TOKEN),
    }]
    done = item(store, SMS_ID)
    assert (done.state, done.note) == ("done", twilio.sent[0]["sid"])


def test_a_worker_dying_after_sending_a_text_never_sends_it_again(store, twilio, clock, make_deliverer,
                                                                   monkeypatch):
    book(store, settings())
    deliverer = make_deliverer(settings())
    with monkeypatch.context() as patch:
        patch.setattr(store, "complete", lambda *_args, **_kwargs: (_ for _ in ()).throw(WorkerDied()))
        with pytest.raises(WorkerDied):
            run_once(store, deliverer, clock(), lease_seconds=60)
    assert len(twilio.posts()) == 1
    clock.advance(60)
    assert run_once(store, deliverer, clock())["done"] == 1
    assert len(twilio.posts()) == 1  # no second message
    search = twilio.calls[-1]
    assert search["method"] == "GET" and search["uri"].endswith(f"/Accounts/{SID}/Messages.json")
    assert search["params"]["To"] == CALLBACK and search["params"]["From"] == SENDER
    assert search["params"]["DateSent>"] == "2026-12-01T16:55:00Z"  # queued at 17:00 UTC, less the skew
    done = item(store, SMS_ID)
    assert (done.state, done.attempts, done.note) == ("done", 2, f"{twilio.sent[0]['sid']} (sent before)")


def test_a_retried_text_that_never_went_is_sent(store, twilio, clock, make_deliverer):
    book(store, settings())
    twilio.fail_with = [(503, None)]
    deliverer = make_deliverer(settings())
    run_once(store, deliverer, clock())
    assert item(store, SMS_ID).last_error == "Twilio HTTP 503" and twilio.sent == []
    clock.advance(5)
    assert run_once(store, deliverer, clock())["done"] == 1
    assert [call["method"] for call in twilio.calls] == ["POST", "GET", "POST"] and len(twilio.sent) == 1


def test_a_requeued_text_that_went_before_it_died_is_not_sent_again(store, twilio, clock, make_deliverer,
                                                                     monkeypatch):
    book(store, settings())
    deliverer = make_deliverer(settings())
    with monkeypatch.context() as patch:  # sent, but the worker never heard back: it gives up
        patch.setattr(store, "complete", lambda *_args, **_kwargs: (_ for _ in ()).throw(WorkerDied()))
        with pytest.raises(WorkerDied):
            run_once(store, deliverer, clock(), lease_seconds=60)
    assert store.give_up(SMS_ID, "timeout") and len(twilio.posts()) == 1
    assert store.requeue(SMS_ID, clock())  # an admin gives it another go
    assert run_once(store, deliverer, clock())["done"] == 1
    assert len(twilio.posts()) == 1
    assert item(store, SMS_ID).note == f"{twilio.sent[0]['sid']} (sent before)"


def test_an_earlier_text_with_another_body_does_not_count_as_sent(store, twilio, clock, make_deliverer):
    twilio.sent.append({"sid": "SM" + "0" * 32, "to": CALLBACK, "from": SENDER, "body": "something else",
                        "date_created": format_datetime(datetime.fromtimestamp(T0, timezone.utc), usegmt=True)})
    book(store, settings())
    twilio.fail_with = [(500, None)]
    deliverer = make_deliverer(settings())
    run_once(store, deliverer, clock())
    clock.advance(5)
    run_once(store, deliverer, clock())
    assert len(twilio.sent) == 2 and item(store, SMS_ID).state == "done"


@pytest.mark.parametrize(("status", "code", "state"), [(400, 21211, "dead"), (400, 21610, "dead"),
                                                        (429, 20429, "pending"), (500, None, "pending")])
def test_twilio_errors(store, twilio, clock, make_deliverer, status, code, state):
    book(store, settings())
    twilio.fail_with = [(status, code)]
    run_once(store, make_deliverer(settings()), clock())
    failed = item(store, SMS_ID)
    assert failed.state == state
    assert failed.last_error == f"Twilio HTTP {status}" + (f" error {code}" if code else "")


def test_a_network_error_reaching_twilio_is_retried(store, twilio, clock, make_deliverer, monkeypatch):
    book(store, settings())

    def unreachable(*_args, **_kwargs):
        raise requests.ConnectionError("no route")

    monkeypatch.setattr(twilio, "request", unreachable)
    run_once(store, make_deliverer(settings()), clock())
    assert item(store, SMS_ID).last_error == "network error (ConnectionError)"


def test_a_text_without_a_number_is_given_up(store, clock, make_deliverer):
    effects.perform(store, CALL, [Effect("send_text", "k", (("body", "Hi"), ("lang", "en")))], T0)
    assert run_once(store, make_deliverer(settings()), clock())["dead"] == 1
    assert item(store, f"{CALL}:k:sms").last_error == "no number to text"


def test_texts_wait_for_twilio_settings(store, twilio, clock, make_deliverer):
    book(store, settings())
    deliverer = make_deliverer({"TWILIO_ACCOUNT_SID": SID})
    run_once(store, deliverer, clock())
    assert item(store, SMS_ID).last_error == "TWILIO_AUTH_TOKEN, TWILIO_SMS_FROM not set"
    assert twilio.calls == []
    assert "sms: TWILIO_SMS_FROM is not set" in deliverer.problems()


# --- the worker -----------------------------------------------------------------------------


def test_logs_name_no_phone_number_or_body(store, desk, twilio, clock, make_deliverer, caplog):
    book(store, settings(desk))
    desk.script = [500]
    with caplog.at_level(logging.INFO, logger="ivr.outbox"):
        run_once(store, make_deliverer(settings(desk)), clock())
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ivr.outbox"]
    assert sorted((line["id"], line["outcome"]) for line in lines) == [(RIDE_ID, "retry"), (SMS_ID, "done")]
    text = caplog.text
    for secret in (CALLBACK, CALLER, SENDER, "98765432", "19470302", "Confirmation", "48213379"):
        assert secret not in text


def test_an_error_inside_a_delivery_counts_as_a_failed_attempt(store, clock, make_deliverer, monkeypatch):
    enqueue_ride(store)
    deliverer = make_deliverer(settings())
    monkeypatch.setattr(deliverer, "deliver", lambda _item: 1 / 0)
    assert run_once(store, deliverer, clock())["retry"] == 1
    assert item(store, "r1").last_error == "internal error (ZeroDivisionError)"


def test_an_item_claimed_too_often_is_given_up_without_delivering(store, desk, clock, make_deliverer):
    enqueue_ride(store)
    for _ in range(12):  # twelve workers died holding it
        store.claim(clock(), 60, 10)
        clock.advance(60)
    assert run_once(store, make_deliverer(settings(desk)), clock())["dead"] == 1
    assert item(store, "r1").last_error == "no answer after 12 attempts" and desk.requests == []


def test_an_item_whose_lease_is_nearly_over_is_handed_back(store, desk, clock, make_deliverer):
    enqueue_ride(store)
    deliverer = make_deliverer(settings(desk))
    counts = run_once(store, deliverer, clock(), lease_seconds=deliverer.max_seconds / 2)
    assert counts["released"] == 1 and desk.requests == []
    assert item(store, "r1").due_at == T0 and item(store, "r1").state == "pending"


def test_a_stale_worker_cannot_undo_a_newer_claim(store, clock):
    enqueue_ride(store)
    (first,) = store.claim(T0, 60, 10)
    (second,) = store.claim(T0 + 60, 60, 10)
    assert store.retry("r1", T0 + 9999, "late", attempt=first.attempts) is False
    assert store.give_up("r1", "late", attempt=first.attempts) is False
    assert item(store, "r1").due_at == T0 + 120
    assert store.retry("r1", T0 + 200, "HTTP 500", attempt=second.attempts) is True


def test_run_delivers_until_stopped(store, desk, twilio):
    book(store, settings(desk), at=LONG_AGO)
    deliverer = Deliverer(settings(desk), twilio_http_client=twilio)
    stop = threading.Event()
    result = {}
    worker = threading.Thread(target=lambda: result.update(run(store, deliverer, stop, 0.05)))
    worker.start()
    deadline = time.monotonic() + 5
    while store.outbox("pending") and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    worker.join(5)
    deliverer.close()
    assert not worker.is_alive()
    assert result["done"] == 2 and [each.state for each in store.outbox()] == ["done", "done"]
    assert list(desk.rides) == [RIDE_ID] and len(twilio.sent) == 1


class StopAfter:
    """A stop event that is set after `rounds` waits, without waiting."""

    def __init__(self, rounds: int):
        self.rounds = rounds
        self.waited: list[float] = []

    def is_set(self) -> bool:
        return len(self.waited) >= self.rounds

    def wait(self, seconds: float) -> bool:
        self.waited.append(seconds)
        return self.is_set()


def test_run_waits_out_an_unavailable_store(tmp_path, caplog):
    path = tmp_path / "ivr.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    broken = SqliteStore(str(path))
    stop = StopAfter(3)
    with caplog.at_level(logging.WARNING, logger="ivr.outbox"):
        assert run(broken, Deliverer({}), stop, 0.05) == {}
    broken.close()
    assert stop.waited == [0.05, 0.05, 0.05]  # it waited its interval after each failure
    assert any('"store unavailable"' in r.getMessage() for r in caplog.records)


# --- the command line -----------------------------------------------------------------------


def test_cli_run_once_and_list(store, desk, tmp_path, monkeypatch):
    monkeypatch.setenv("RIDES_WEBHOOK_URL", desk.url)
    monkeypatch.setenv("RIDES_WEBHOOK_SECRET", SECRET)
    effects.perform(store, CALL, [ride_effect()], LONG_AGO, caller=CALLER, settings=worker.settings_from())
    url = f"sqlite:///{store.path}"
    runner = CliRunner()
    result = runner.invoke(main, ["outbox", "list", "--store", url])
    assert result.exit_code == 0, result.output
    assert "pending" in result.output and RIDE_ID in result.output and CALLBACK not in result.output

    result = runner.invoke(main, ["outbox", "run", "--once", "--store", url])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[0]["event"] == "OutboxWorkerStarted"
    assert "sms: TWILIO_ACCOUNT_SID is not set" in lines[0]["problems"]
    deliveries = {line["id"]: line for line in lines if line["event"] == "OutboxDelivery"}
    assert deliveries[RIDE_ID]["outcome"] == "done" and deliveries[SMS_ID]["outcome"] == "retry"
    assert lines[-1]["event"] == "OutboxWorkerStopped" and lines[-1]["done"] == 1
    assert CALLBACK not in result.output and list(desk.rides) == [RIDE_ID]

    result = runner.invoke(main, ["outbox", "list", "--state", "done", "--store", url])
    assert result.exit_code == 0
    assert RIDE_ID in result.output and "HTTP 200" in result.output and SMS_ID not in result.output
    result = runner.invoke(main, ["outbox", "list", "--state", "dead", "--store", url])
    assert result.output == "no outbox items dead\n"


def test_procfile_runs_the_worker():
    procfile = (Path(__file__).resolve().parent.parent / "Procfile").read_text()
    assert "worker: ivr outbox run" in procfile.splitlines()


def test_the_worker_process_stops_cleanly_on_sigterm(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", *worker.SETTING_NAMES)}
    env["IVR_INSTANCE_PATH"] = str(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "ivr.cli", "outbox", "run", "--interval", "0.1"],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        started = json.loads(process.stderr.readline())
        assert started["event"] == "OutboxWorkerStarted" and started["once"] is False
        assert started["store"].endswith("/ivr.sqlite3")
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    stopped = json.loads(rest.splitlines()[-1])
    assert stopped["event"] == "OutboxWorkerStopped" and stopped.get("claimed", 0) == 0
