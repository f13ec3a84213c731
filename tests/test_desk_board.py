"""The desk's live board, roster and availability, and the texts that tell a team a message arrived."""

from __future__ import annotations

import json
import re

import pytest
from desk_sim import SECRET, Browser, add_account, leave_voicemail
from twilio_sim import ACCOUNT_SID, AFTER_HOURS, CALLER, OPEN_HOURS, Call

from ivr import records as rec
from ivr.flows.loader import load_flow
from ivr.web import board, notify
from twilio_sim import FLOWS


pytestmark = pytest.mark.usefixtures("fast_hashing")


def desk_app(make_app, clock, media=None, **config):
    app = make_app(CLOCK=clock, SECRET_KEY=SECRET, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                   **({"TWILIO_MEDIA_BASE": media.base} if media else {}), **config)
    store = app.extensions["ivr"].store
    if store.get_account("ana") is None:
        add_account(store, "ana", "coordinator", teams=("coordinators",), member="Ana Rivera")
        add_account(store, "root", "admin")
    return app


@pytest.fixture
def app(make_app, clock, media):
    return desk_app(make_app, clock, media)


def numbers_rung(app) -> list[str]:
    call = Call(app)
    call.start()
    call.press("1")
    call.press("3")
    return call.numbers


# --- stages -------------------------------------------------------------------------------

@pytest.mark.parametrize(("node", "stage"), [
    ("greeting", "menu"), ("language", "menu"), ("main_menu", "menu"), ("guide_intro", "guide"),
    ("q_chronic", "guide"), ("after_guide", "guide"), ("faqs", "guide"), ("ride_member_id", "booking"),
    ("ride_address", "booking"), ("ride_confirm", "booking"), ("coordinator", "transfer"),
    ("guide_coordinator", "transfer"), ("operator", "transfer"), ("unavailable", "message"),
    ("voicemail", "message"), ("callback_number", "message"), ("goodbye", "menu"),
])
def test_the_shipped_flows_nodes_have_stages(node, stage):
    assert board.stage_of(load_flow(FLOWS / "support-line.yaml"), node) == stage


def test_every_node_of_the_shipped_flow_has_a_known_stage():
    flow = load_flow(FLOWS / "support-line.yaml")
    assert set(board.stages(flow).values()) == {"menu", "guide", "booking", "message", "transfer"}
    assert set(board.stages(flow)) == set(flow.nodes)


# --- the board ----------------------------------------------------------------------------

def tiles(page: str) -> dict[str, str]:
    found = dict(re.findall(r'data-board="(\w+)">(\d+)<', page))
    found.update(re.findall(r'data-stage="([^"]+)">(\d+)<', page))
    found.update(re.findall(r'data-waiting="([^"]+)">(\d+)<', page))
    return found


def test_the_board_follows_calls_by_stage_and_holds_no_caller_data(app, clock):
    browser = Browser(app)
    browser.sign_in("ana")
    assert tiles(browser.get("/console/board").get_data(as_text=True))["in_line"] == "0"
    call = Call(app)
    call.start()
    page = browser.get("/console/board/live").get_data(as_text=True)
    assert (tiles(page)["in_line"], tiles(page)["In the menus"], tiles(page)["today"]) == ("1", "1", "1")
    assert "<html" not in page
    call.press("1")
    call.press("3")
    clock.advance(75)
    page = browser.get("/console/board/live").get_data(as_text=True)
    found = tiles(page)
    assert (found["ringing"], found["Transfer ringing"], found["In the menus"]) == ("1", "1", "0")
    assert "longest 1 min 15 s" in page
    other = Call(app)
    other.start()
    other.press("2")
    other.press("2")  # rides
    found = tiles(browser.get("/console/board/live").get_data(as_text=True))
    assert (found["in_line"], found["Booking a ride"], found["today"]) == ("2", "1", "2")
    assert call.hang_up() == 204
    page = browser.get("/console/board").get_data(as_text=True)
    assert (tiles(page)["in_line"], tiles(page)["today"]) == ("1", "2")
    for secret in (CALLER, call.call_sid, other.call_sid, CALLER[-4:]):
        assert secret not in page
    assert 'hx-trigger="every 5s"' in page


def test_the_board_counts_messages_waiting_per_team(app, media):
    leave_voicemail(app, media, 9)
    browser = Browser(app)
    browser.sign_in("root")
    found = tiles(browser.get("/console/board").get_data(as_text=True))
    assert (found["Care coordinators"], found["Transportation desk"], found["in_line"]) == ("1", "0", "0")
    assert found["Leaving a message"] == "0"


def test_calls_started_yesterday_are_not_today(app, clock):
    Call(app).start()
    clock.advance(24 * 3600)
    browser = Browser(app)
    browser.sign_in("ana")
    assert tiles(browser.get("/console/board").get_data(as_text=True))["today"] == "0"


# --- the roster and availability ----------------------------------------------------------

def test_the_roster_shows_teams_members_and_opening(make_app, clock):
    app = desk_app(make_app, clock)
    browser = Browser(app)
    browser.sign_in("ana")
    app.extensions["ivr"].store.set_availability("Marcus Chen", False, clock().timestamp())
    page = browser.get("/console/roster").get_data(as_text=True)
    assert "Care coordinators" in page and "Transportation desk" in page and page.count("Open now") == 2
    assert re.search(r"Marcus Chen</td><td>en</td>\s*<td>Active</td>\s*<td class=\"away\">Away", page)
    assert re.search(r"Dana Whitfield</td><td>en</td>\s*<td>Inactive</td>", page)
    clock.now = AFTER_HOURS
    later = Browser(app)
    later.sign_in("ana")
    page = later.get("/console/roster").get_data(as_text=True)
    assert "Open now" not in page and "Opens Friday November 27 at 09:00." in page  # Thanksgiving between


def test_a_coordinator_switches_themself_and_the_next_call_on_every_worker_sees_it(make_app, clock):
    first = desk_app(make_app, clock)
    second = desk_app(make_app, clock)  # another worker on the same store
    assert "+16265550142" in numbers_rung(second)
    ana = Browser(first)
    ana.sign_in("ana")
    page = ana.get("/console/availability").get_data(as_text=True)
    assert "Ana Rivera" in page and "Marcus Chen" not in page
    response = ana.post("/console/availability", {"name": "Ana Rivera", "state": "away"}, htmx=True)
    assert "Ana Rivera is away. This applies to the next call on every line." in response.get_data(as_text=True)
    assert "+16265550131" not in numbers_rung(second) and "+16265550142" in numbers_rung(second)
    assert ana.post("/console/availability", {"name": "Marcus Chen", "state": "away"}).status_code == 403
    assert "+16265550142" in numbers_rung(second)
    admin = Browser(first)
    admin.sign_in("root")
    assert admin.post("/console/availability", {"name": "Marcus Chen", "state": "away"}).status_code == 302
    assert "+16265550142" not in numbers_rung(second)
    assert "Marcus Chen is away" in admin.get("/console/availability").get_data(as_text=True)
    details = [e.detail for e in first.extensions["ivr"].store.audit_events() if e.action == "availability-set"]
    assert details == ["Marcus Chen: away", "Ana Rivera: away"]


def test_an_unknown_name_cannot_be_switched(app):
    admin = Browser(app)
    admin.sign_in("root")
    assert admin.post("/console/availability", {"name": "Ana Riviera", "state": "away"}).status_code == 403


# --- notifications ------------------------------------------------------------------------

def texts(app) -> list[dict]:
    return [json.loads(item.payload) | {"id": item.id} for item in app.extensions["ivr"].store.outbox(limit=1000)
            if ":notify:" in item.id]


def leave(app, media, how: str) -> None:
    if how == "voicemail":
        leave_voicemail(app, media, 9)
        return
    call = Call(app)
    call.start()
    call.press("1")
    call.press("3")
    call.dial_done("no-answer")
    call.press("2")
    call.press("1")  # the number calling


def test_a_new_voicemail_texts_the_team_without_caller_data(app, media):
    leave(app, media, "voicemail")
    (text,) = texts(app)
    assert text["to"] == "+16265550111"
    assert text["body"] == "New voicemail for Care coordinators, 10:00. Open the desk."
    assert text["lang"] == "en"


def test_texts_are_throttled_per_team(app, media, clock):
    leave(app, media, "voicemail")
    clock.advance(60)
    leave(app, media, "callback")
    assert len(texts(app)) == 1
    clock.advance(15 * 60)
    leave(app, media, "callback")
    assert [t["body"] for t in texts(app)][-1] == "New call-back request for Care coordinators, 10:16. Open the desk."
    assert len(texts(app)) == 2


def test_a_ride_or_a_team_without_numbers_sends_no_text(app):
    store = app.extensions["ivr"].store
    flow = app.extensions["ivr"].registry.get("support-line")
    ride = rec.RideRequest(id="CA1:ride", created_at=OPEN_HOURS.timestamp(), team="transportation")
    assert notify.team(store, flow, ride, OPEN_HOURS.timestamp()) == 0
    stray = rec.Voicemail(id="CA1:vm", created_at=OPEN_HOURS.timestamp(), team="nobody", recording_url="u")
    assert notify.team(store, flow, stray, OPEN_HOURS.timestamp()) == 0
    assert texts(app) == []


def test_the_worker_delivers_the_text(app, media):
    from test_outbox import FakeTwilio

    from ivr.outbox import worker

    leave(app, media, "voicemail")
    now = OPEN_HOURS.timestamp() + 1
    twilio = FakeTwilio(lambda: now)
    deliverer = worker.Deliverer({"TWILIO_SMS_FROM": "+16266696777", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                                  "TWILIO_AUTH_TOKEN": "t"}, twilio_http_client=twilio, clock=lambda: now)
    assert worker.run_once(app.extensions["ivr"].store, deliverer, now=now)["done"] == 1
    assert [(m["to"], m["body"]) for m in twilio.sent] == [
        ("+16265550111", "New voicemail for Care coordinators, 10:00. Open the desk.")]


def test_the_shipped_teams_file_names_and_notifies_its_teams():
    from ivr.flows.teams import team_title
    from ivr.flows.teams_loader import load_teams

    teams = load_teams(FLOWS / "teams.yaml").teams
    assert (teams["coordinators"].title, teams["coordinators"].notify, teams["coordinators"].notify_minutes) == (
        "Care coordinators", ("+16265550111",), 15)
    assert (team_title(teams["transportation"]), teams["transportation"].notify_minutes) == ("Transportation desk", 15)
    assert notify.text("callback", "Care coordinators", OPEN_HOURS) == (
        "New call-back request for Care coordinators, 10:00. Open the desk.")
