"""The desk in a real browser: Debian's headless Chromium, driven by Playwright, against the app
served by werkzeug on localhost. The core journey, then the cases a browser must show: idle
logoff, 403 for another role's page, a POST without a CSRF token, a locked account, another
team's record, and the desk with JavaScript off. The worklist and board screenshots in docs/
come from here."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from desk_sim import PASSWORD, SECRET, Clock, FakeTwilioMedia, add_account, leave_voicemail, silent_mp3
from twilio_sim import ACCOUNT_SID, CALLER, OPEN_HOURS, Call

from ivr import records as rec
from ivr.console import session as sessions

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fast_hashing")]
if not CHROMIUM.exists():  # scripts/test installs Debian's package; without it only a CI run must fail
    pytestmark.append(pytest.mark.skipif(not os.environ.get("CI"), reason="no /usr/bin/chromium"))


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """Debian's chromium, never a browser Playwright downloads."""
    return {"executable_path": str(CHROMIUM), "headless": True,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture(scope="session")
def base_url():
    """No base URL: each test's server has its own port (and the plugin's own fixture warns)."""
    return None


class Served:
    """The app on a real local server, with its clock, store and the fake Twilio media."""

    def __init__(self, app, clock: Clock, media: FakeTwilioMedia) -> None:
        from werkzeug.serving import make_server

        self.app, self.clock, self.media = app, clock, media
        self.store = app.extensions["ivr"].store
        self.server = make_server("localhost", 0, app, threaded=True)
        self.url = f"http://localhost:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def voicemail(self) -> rec.Record:
        """A call through the HTTP layer: English, a coordinator, nobody answers, a message."""
        return leave_voicemail(self.app, self.media, 14)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(make_app):
    clock = Clock(OPEN_HOURS)
    with FakeTwilioMedia(silent_mp3(2.0)) as media:
        app = make_app(CLOCK=clock, SECRET_KEY=SECRET, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_MEDIA_BASE=media.base)
        store = app.extensions["ivr"].store
        add_account(store, "ana", "coordinator", teams=("coordinators",), member="Ana Rivera")
        add_account(store, "rosa", "coordinator", teams=("transportation",), member="Rosa Delgado")
        add_account(store, "alice", "auditor")
        server = Served(app, clock, media)
        yield server
        server.close()


def sign_in(page, served: Served, name: str, password: str = PASSWORD) -> None:
    page.goto(served.url + "/console/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_the_core_journey(served, page):
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    record = served.voicemail()
    ref = rec.ref_of(record.id)
    sign_in(page, served, "ana")
    page.wait_for_url(re.compile(r"/console/worklist$"))
    row = page.locator(f'tr[data-ref="{ref}"]')
    assert "Voice message; decision guide: not taken." in row.inner_text()
    assert "\u2022\u2022\u2022\u2022 " + CALLER[-4:] in row.inner_text() and CALLER not in page.content()
    page.screenshot(path=str(DOCS / "desk-worklist.png"), full_page=True)

    row.get_by_role("link", name="Open").click()
    page.wait_for_url(re.compile(f"/console/records/{ref}$"))
    assert page.locator("#summary").inner_text() == ("The caller asked to speak with a care coordinator from the main menu. "
                                                      "Voice message; decision guide: not taken.")
    page.get_by_role("button", name="Reveal number").click()
    page.locator("#number strong").wait_for()
    assert page.locator("#number").inner_text() == CALLER

    audio = page.locator("audio#message")
    audio.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function("() => document.querySelector('audio#message').currentTime > 0")
    assert audio.evaluate("a => a.duration") > 1
    assert served.media.requests and all(path.endswith(".mp3") for path, _ in served.media.requests)
    assert served.media.base not in page.content()

    page.get_by_label("Note").fill("Called back; booked a visit")
    page.get_by_role("button", name="Mark done").click()
    page.locator("#state", has_text="Done").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/console/login$"))

    sign_in(page, served, "alice")
    page.wait_for_url(re.compile(r"/console/audit$"))
    rows = page.locator("#audit tbody tr").all_inner_texts()
    mine = [r for r in rows if record.id in r]
    actions = [next(a for a in ("viewed-record", "revealed-number", "played-recording", "closed") if a in r)
               for r in reversed(mine)]
    assert actions[0] == "viewed-record" and actions[1] == "revealed-number"
    assert "played-recording" in actions and actions[-1] == "closed"
    assert all("ana" in r for r in mine)
    assert any("signed-in" in r and "ana" in r for r in rows) and any("signed-out" in r for r in rows)
    assert complaints == []  # nothing the Content-Security-Policy refused, no script error


def test_the_worklist_pages_forward_and_back(served, page, monkeypatch):
    from ivr.console import views

    monkeypatch.setattr(views, "PAGE", 2)
    refs = []
    for _ in range(3):
        refs.append(rec.ref_of(served.voicemail().id))
        served.clock.advance(60)
    sign_in(page, served, "ana")
    page.wait_for_url(re.compile(r"/console/worklist$"))
    rows = page.locator("tr[data-ref]")
    assert [rows.nth(i).get_attribute("data-ref") for i in range(rows.count())] == refs[:2]
    assert page.locator("#showing").inner_text() == "Showing 1–2 of 3"
    assert page.get_by_role("link", name="← Previous").count() == 0
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"/console/worklist\?status=open&after=[0-9.]+_[0-9a-f]{20}$"))
    assert page.locator("#showing").inner_text() == "Showing 3–3 of 3"
    assert [rows.nth(i).get_attribute("data-ref") for i in range(rows.count())] == refs[2:]
    assert page.get_by_role("link", name="Next →").count() == 0
    page.get_by_role("link", name="← Previous").click()
    page.wait_for_url(re.compile(r"/console/worklist\?status=open$"))
    assert page.locator("#showing").inner_text() == "Showing 1–2 of 3"
    assert [rows.nth(i).get_attribute("data-ref") for i in range(rows.count())] == refs[:2]


def test_the_board_refreshes_itself(served, page):
    call = Call(served.app)
    call.start()
    served.voicemail()
    sign_in(page, served, "ana")
    page.goto(served.url + "/console/board")
    assert page.locator('[data-board="in_line"]').inner_text() == "1"
    other = Call(served.app)
    other.start()
    other.press("1")
    other.press("3")
    page.wait_for_function("() => document.querySelector('[data-board=\"in_line\"]').textContent === '2'",
                           timeout=15_000)
    assert page.locator('[data-stage="Transfer ringing"]').inner_text() == "1"
    page.screenshot(path=str(DOCS / "desk-board.png"), full_page=True)


def test_signed_out_after_idle(served, page):
    sign_in(page, served, "ana")
    page.wait_for_url(re.compile(r"/console/worklist$"))
    served.clock.advance(sessions.IDLE_SECONDS)
    page.reload()
    assert "/console/login" in page.url
    assert "signed out after 15 minutes without activity" in page.content()


def test_a_coordinator_opening_an_admin_or_audit_page_gets_403(served, page):
    sign_in(page, served, "ana")
    page.wait_for_url(re.compile(r"/console/worklist$"))
    for path in ("/console/users", "/console/audit"):
        response = page.goto(served.url + path)
        assert response.status == 403 and "Your role does not let you see this page." in page.content()


def test_a_post_without_a_csrf_token_is_refused(served, page):
    sign_in(page, served, "ana")
    page.wait_for_url(re.compile(r"/console/worklist$"))
    response = page.request.post(served.url + "/console/logout", form={"x": "1"})
    assert response.status == 400
    page.goto(served.url + "/console/worklist")
    assert page.url.endswith("/console/worklist")  # still signed in


def test_a_locked_account_after_five_failures(served, page):
    for _ in range(5):
        sign_in(page, served, "ana", "not the password")
    assert "locked for a while" in page.content()
    sign_in(page, served, "ana")
    assert "/console/login" in page.url and "locked for a while" in page.content()


def test_another_teams_record_is_not_visible(served, page):
    record = served.voicemail()
    sign_in(page, served, "rosa")
    page.wait_for_url(re.compile(r"/console/worklist$"))
    assert "Nothing here" in page.content() and page.locator("tr[data-ref]").count() == 0
    response = page.goto(served.url + f"/console/records/{rec.ref_of(record.id)}")
    assert response.status == 404


def test_the_desk_works_with_javascript_off(served, browser):
    record = served.voicemail()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, served, "ana")
    page.wait_for_url(re.compile(r"/console/worklist$"))
    page.get_by_label("Kind").select_option("voicemail")
    page.get_by_role("button", name="Show").click()
    page.locator(f'tr[data-ref="{rec.ref_of(record.id)}"]').get_by_role("link", name="Open").click()
    page.get_by_role("button", name="Reveal number").click()
    assert page.locator("#number").inner_text() == CALLER
    page.get_by_role("button", name="Claim").click()
    assert "Claimed: the team sees it is yours." in page.content()
    page.get_by_label("Note").fill("Left a message for them")
    page.get_by_role("button", name="Mark done").click()
    assert page.locator("#state").inner_text() == "Done"
    context.close()
