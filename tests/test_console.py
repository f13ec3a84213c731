"""The coordinators' desk over HTTP: sign-in, sessions, roles, the audit log and the worklist."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from desk_sim import PASSWORD, SECRET, Browser, add_account, leave_voicemail, silent_mp3
from twilio_sim import ACCOUNT_SID, CALLER, OPEN_HOURS, Call

from ivr import records as rec
from ivr.console import accounts, session as sessions
from ivr.stores.protocols import CLAIMED, CLOSED, NEW, TRIED


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def app(make_app, clock, media):
    app = make_app(CLOCK=clock, SECRET_KEY=SECRET, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_MEDIA_BASE=media.base)
    store = app.extensions["ivr"].store
    add_account(store, "ana", "coordinator", teams=("coordinators",), member="Ana Rivera")
    add_account(store, "marcus", "coordinator", teams=("coordinators",), member="Marcus Chen")
    add_account(store, "rosa", "coordinator", teams=("transportation",), member="Rosa Delgado")
    add_account(store, "root", "admin")
    add_account(store, "alice", "auditor")
    return app


def store_of(app):
    return app.extensions["ivr"].store


def events(app, **kwargs) -> list[tuple[str, str, str]]:
    return [(e.user, e.action, e.record) for e in reversed(store_of(app).audit_events(**kwargs))]


# --- the foundation -------------------------------------------------------------------------

def test_the_sign_in_page_has_its_fields_and_strict_headers(app):
    response = Browser(app).get("/console/login")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<label for="username">Username</label>' in page and '<label for="password">Password</label>' in page
    assert '<button type="submit">Sign in</button>' in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page and " on" + "click" not in page and "style=" not in page


def test_htmx_is_vendored_with_its_licence_and_served_by_the_desk(app):
    from pathlib import Path

    import ivr.console

    folder = Path(ivr.console.__file__).parent / "static" / "htmx"
    assert "Zero-Clause BSD" in (folder / "LICENSE").read_text()
    response = Browser(app).get("/console/static/htmx/htmx.min.js")
    assert response.status_code == 200 and b"htmx" in response.data
    response.close()
    page = Browser(app).get("/console/login").get_data(as_text=True)
    assert re.findall(r'src="([^"]+)"', page) == ["/console/static/htmx/htmx.min.js"]


def test_signing_in_goes_home_by_role_and_is_audited(app):
    for name, home in (("ana", "/console/worklist"), ("root", "/console/users"), ("alice", "/console/audit")):
        browser = Browser(app)
        response = browser.sign_in(name)
        assert response.status_code == 302 and response.headers["Location"] == home
        assert browser.get(home).status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert [action for _, action, _ in events(app)] == ["signed-in", "viewed-worklist", "signed-in", "signed-in"]
    assert store_of(app).audit_events(limit=1)[0].address == "127.0.0.1"


def test_a_wrong_password_is_refused_and_logged(app, caplog):
    browser = Browser(app)
    response = browser.sign_in("ana", "not the password")
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert browser.sign_in("nobody", "whatever at all").status_code == 401
    assert events(app) == [("ana", "sign-in-failed", ""), ("nobody", "sign-in-failed", "")]
    assert "SignInFailed" in caplog.text and "not the password" not in caplog.text
    assert browser.get("/console/worklist").headers["Location"].startswith("/console/login")


def test_five_failures_in_a_row_lock_the_account_for_a_while(app, clock):
    browser = Browser(app)
    for _ in range(4):
        assert "Wrong username" in browser.sign_in("ana", "wrong password!").get_data(as_text=True)
    assert "locked" in browser.sign_in("ana", "wrong password!").get_data(as_text=True)
    refused = browser.sign_in("ana")  # the right password, while locked
    assert refused.status_code == 401 and "locked" in refused.get_data(as_text=True)
    assert Browser(app, "10.0.0.9").sign_in("ana").status_code == 401  # from anywhere
    assert Browser(app).sign_in("marcus").status_code == 302  # others are not locked
    clock.advance(sessions.LOCK_SECONDS)
    assert Browser(app).sign_in("ana").status_code == 302
    assert [e.detail for e in store_of(app).audit_events(user="ana") if e.action == "sign-in-failed"][:3] == [
        "account locked", "account locked", "wrong name or password; locked after 5 in a row"]


def test_a_password_hashed_more_weakly_is_hashed_again_on_sign_in(app, monkeypatch):
    from argon2 import PasswordHasher

    before = store_of(app).get_account("ana").password_hash
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert Browser(app).sign_in("ana").status_code == 302
    after = store_of(app).get_account("ana").password_hash
    assert after != before and "t=2" in after and accounts.verify(store_of(app).get_account("ana"), PASSWORD)
    assert store_of(app).get_account("ana").epoch == 0  # the session that signed in stays


def test_a_success_ends_the_streak(app):
    browser = Browser(app)
    for _ in range(4):
        browser.sign_in("ana", "wrong password!")
    assert browser.sign_in("ana").status_code == 302
    for _ in range(4):
        assert "Wrong username" in Browser(app).sign_in("ana", "wrong password!").get_data(as_text=True)


def test_failures_from_one_address_are_limited_across_names(app):
    browser = Browser(app, "192.0.2.7")
    for i in range(sessions.ADDRESS_LIMIT):
        browser.sign_in(f"guess{i}", "wrong password!")
    response = browser.sign_in("ana")
    assert response.status_code == 401 and "this address" in response.get_data(as_text=True)
    assert Browser(app, "192.0.2.8").sign_in("ana").status_code == 302


@pytest.mark.parametrize(("peer", "forwarded", "seen"), [
    ("127.0.0.1", "", "127.0.0.1"),
    ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
    ("127.0.0.1", "198.51.100.1, 203.0.113.5, 127.0.0.1", "203.0.113.5"),
    ("192.0.2.9", "203.0.113.5", "192.0.2.9"),  # not a trusted proxy: its header is not believed
])
def test_the_address_behind_a_trusted_proxy(app, peer, forwarded, seen):
    browser = Browser(app, peer)
    browser.post("/console/login", {"username": "ana", "password": "wrong password!"},
                 headers={"X-Forwarded-For": forwarded} if forwarded else {})
    assert store_of(app).audit_events(limit=1)[0].address == seen


def test_signed_out_after_fifteen_minutes_idle(app, clock):
    browser = Browser(app)
    browser.sign_in("ana")
    clock.advance(sessions.IDLE_SECONDS - 1)
    assert browser.get("/console/worklist").status_code == 200  # active: the idle time starts again
    clock.advance(sessions.IDLE_SECONDS - 1)
    assert browser.get("/console/board/live").status_code == 200  # the board's refresh is not activity
    clock.advance(1)
    response = browser.get("/console/worklist")
    assert response.status_code == 302 and response.headers["Location"].startswith("/console/login?reason=idle")
    assert "15 minutes" in browser.get(response.headers["Location"]).get_data(as_text=True)
    assert events(app)[-1] == ("ana", "signed-out-idle", "")
    assert browser.get("/console/worklist").status_code == 302


def test_an_htmx_request_of_an_ended_session_is_sent_to_sign_in(app, clock):
    browser = Browser(app)
    browser.sign_in("ana")
    clock.advance(sessions.IDLE_SECONDS)
    response = browser.get("/console/board/live", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/console/login?reason=idle"


def test_signing_out_ends_the_session_for_a_copied_cookie_too(app):
    browser = Browser(app)
    browser.sign_in("ana")
    copy = app.test_client()
    cookie = browser.client.get_cookie("ivr_desk", domain="localhost", path="/console")
    copy.set_cookie("ivr_desk", cookie.value, domain="localhost", path="/console", secure=True)
    assert copy.get("/console/worklist", base_url="https://localhost").status_code == 200
    assert browser.post("/console/logout").status_code == 302
    assert copy.get("/console/worklist", base_url="https://localhost").status_code == 302
    assert events(app)[-1] == ("ana", "signed-out", "")


def test_a_new_password_or_disabling_ends_sessions(app):
    ana, admin = Browser(app), Browser(app)
    ana.sign_in("ana")
    admin.sign_in("root")
    admin.get("/console/users")
    assert admin.post("/console/users/ana/disable").status_code == 302
    assert ana.get("/console/worklist").headers["Location"].startswith("/console/login?reason=ended")
    assert Browser(app).sign_in("ana").status_code == 401
    admin.post("/console/users/ana/enable")
    admin.post("/console/users/ana/password", {"password": "another long secret"})
    assert Browser(app).sign_in("ana").status_code == 401
    assert Browser(app).sign_in("ana", "another long secret").status_code == 302
    assert [a for _, a, _ in events(app) if a.startswith(("user", "password"))] == [
        "user-disabled", "user-enabled", "password-set"]


def test_a_post_without_a_csrf_token_is_refused(app):
    browser = Browser(app)
    assert browser.post("/console/login", {"username": "ana", "password": PASSWORD}, csrf=False).status_code == 400
    browser.sign_in("ana")
    response = browser.post("/console/logout", csrf=False)
    assert response.status_code == 400 and "no valid token" in response.get_data(as_text=True)
    assert browser.post("/console/logout", csrf=False, htmx=True).status_code == 400
    assert browser.get("/console/worklist").status_code == 200  # still signed in
    assert browser.post("/console/logout", htmx=True).status_code == 302


@pytest.mark.parametrize(("name", "page"), [
    ("ana", "/console/users"), ("ana", "/console/audit"), ("root", "/console/worklist"),
    ("root", "/console/audit"), ("alice", "/console/worklist"), ("alice", "/console/board"),
    ("alice", "/console/users"),
])
def test_a_page_a_role_may_not_see_answers_403_and_is_audited(app, name, page):
    browser = Browser(app)
    browser.sign_in(name)
    assert browser.get(page).status_code == 403
    assert store_of(app).audit_events(limit=1)[0].action == "denied"
    assert store_of(app).audit_events(limit=1)[0].detail == page


def test_without_a_secret_key_the_desk_is_off_and_the_line_serves(make_app):
    app = make_app()
    assert app.test_client().get("/console/login").status_code == 503
    call = Call(app)
    call.start()
    assert call.url is not None


def test_in_development_every_worker_shares_one_key_kept_in_the_instance_folder(make_app, tmp_path):
    import os

    first = make_app(IVR_DEV=True, TWILIO_AUTH_TOKEN="")
    second = make_app(IVR_DEV=True, TWILIO_AUTH_TOKEN="")
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] and len(first.config["SECRET_KEY"]) == 64
    assert os.stat(tmp_path / "instance" / "desk-development-key").st_mode & 0o777 == 0o600
    assert first.config["SESSION_COOKIE_SECURE"] is False
    assert "Strict-Transport-Security" not in first.test_client().get("/console/login").headers


def test_outside_development_the_desk_asks_for_https_only(app):
    assert Browser(app).get("/console/login").headers["Strict-Transport-Security"] == "max-age=31536000"


def test_an_admin_adds_users_and_sees_no_records(app, media):
    leave_voicemail(app, media)
    admin = Browser(app)
    admin.sign_in("root")
    page = admin.get("/console/users").get_data(as_text=True)
    assert "ana" in page and "Voice message" not in page
    response = admin.post("/console/users", {"name": "lucia", "password": "a long enough one", "roles": "coordinator",
                                              "teams": "coordinators", "member": "Lucia Ortega"})
    assert response.status_code == 302
    assert store_of(app).get_account("lucia").teams == ("coordinators",)
    short = admin.post("/console/users", {"name": "kim", "password": "short", "roles": "auditor"})
    assert short.status_code == 400 and "at least 12" in short.get_data(as_text=True)
    assert Browser(app).sign_in("lucia", "a long enough one").status_code == 302


def test_an_auditor_reads_the_audit_log_filtered(app):
    Browser(app).sign_in("ana")
    Browser(app).sign_in("marcus", "wrong password!")
    auditor = Browser(app)
    auditor.sign_in("alice")
    page = auditor.get("/console/audit").get_data(as_text=True)
    assert page.count('data-action="signed-in"') == 2 and 'data-action="sign-in-failed"' in page
    only = auditor.get("/console/audit?user=marcus").get_data(as_text=True)
    assert 'data-action="sign-in-failed"' in only and 'data-action="signed-in"' not in only
    assert "No events." in auditor.get("/console/audit?since=2030-01-01").get_data(as_text=True)


# --- the worklist ---------------------------------------------------------------------------

def test_a_voicemail_keeps_the_callers_number_and_is_on_the_worklist(app, media):
    record = leave_voicemail(app, media)
    assert isinstance(record, rec.Voicemail) and record.number == CALLER
    item = store_of(app).work_item(record.id)
    assert item is not None and item.state == NEW and item.team == "coordinators"
    assert item.ref == rec.ref_of(record.id) and record.id.split(":")[0] not in item.ref


def test_the_worklist_shows_what_the_caller_left_masked_oldest_first(app, media, clock):
    first = leave_voicemail(app, media)
    clock.advance(60)
    second = leave_voicemail(app, media)
    browser = Browser(app)
    browser.sign_in("ana")
    page = browser.get("/console/worklist").get_data(as_text=True)
    refs = re.findall(r'data-ref="([0-9a-f]+)"', page)
    assert refs == [rec.ref_of(first.id), rec.ref_of(second.id)]
    assert "The caller asked to speak with a care coordinator from the main menu. Voice message; decision guide: not taken." in page
    assert "\u2022\u2022\u2022\u2022 " + CALLER[-4:] in page and CALLER not in page
    assert "Wed Nov 25, 10:00" in page and ">en<" in page
    assert '<span data-count="open">2</span>' in page and '<span data-count="done">0</span>' in page
    assert "CA" not in " ".join(re.findall(r'href="([^"]+)"', page))  # no call id, let alone a number, in a URL
    listed = store_of(app).audit_events(limit=1)[0]
    assert (listed.user, listed.action, listed.detail) == ("ana", "viewed-worklist", "2 record(s); status=open")


def test_the_worklist_filters_by_kind_and_status(app, media):
    leave_voicemail(app, media)
    store = store_of(app)
    rec.save(store, rec.CallbackRequest(id="CAcb:cb", created_at=OPEN_HOURS.timestamp() - 60, team="coordinators",
                                        language="es", summary="Call back", number="+16265550100"))
    browser = Browser(app)
    browser.sign_in("ana")
    callbacks = browser.get("/console/worklist?kind=callback").get_data(as_text=True)
    assert re.findall(r'data-ref="([0-9a-f]+)"', callbacks) == [rec.ref_of("CAcb:cb")]
    assert "Nothing here" in browser.get("/console/worklist?status=done").get_data(as_text=True)
    fragment = browser.get("/console/worklist?kind=voicemail", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and fragment.count("data-ref=") == 1


def callbacks(app, count: int, *, team: str = "coordinators") -> list[rec.Record]:
    """`count` call-back requests on the worklist, a minute apart, but for the 3rd and 4th, called
    at the very same moment (where a page of 3 ends)."""
    made = []
    for n in range(count):
        at = OPEN_HOURS.timestamp() - 3600 + 60 * (n if n != 3 else 2)
        record = rec.CallbackRequest(id=f"CA{uuid.uuid4().hex}:cb", created_at=at, team=team, language="en",
                                     summary=f"Call back {n}", number="+16265550100")
        rec.save(store_of(app), record)
        made.append(record)
    return sorted(made, key=lambda record: (record.created_at, record.id))


def shown(page: str) -> list[str]:
    return re.findall(r'data-ref="([0-9a-f]+)"', page)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_worklist_pages_through_every_record_and_back(app, monkeypatch):
    from ivr.console import views

    monkeypatch.setattr(views, "PAGE", 3)
    every = [rec.ref_of(record.id) for record in callbacks(app, 8)]
    callbacks(app, 2, team="transportation")
    browser = Browser(app)
    browser.sign_in("ana")
    first = browser.get("/console/worklist").get_data(as_text=True)
    assert shown(first) == every[:3] and "Showing 1–3 of 8" in first
    assert link(first, "prev") is None
    second = browser.get(link(first, "next")).get_data(as_text=True)
    assert shown(second) == every[3:6] and "Showing 4–6 of 8" in second
    last = browser.get(link(second, "next")).get_data(as_text=True)
    assert shown(last) == every[6:] and "Showing 7–8 of 8" in last and link(last, "next") is None
    back = browser.get(link(last, "prev")).get_data(as_text=True)
    assert shown(back) == every[3:6] and "Showing 4–6 of 8" in back
    assert link(back, "prev") == "/console/worklist?status=open"  # the first page is the plain list again
    listed = [e.detail for e in store_of(app).audit_events(user="ana") if e.action == "viewed-worklist"]
    assert listed == ["3 record(s) from 4; status=open", "2 record(s) from 7; status=open",
                      "3 record(s) from 4; status=open", "3 record(s); status=open"]


def test_worklist_links_keep_the_filters_and_carry_no_call_or_caller(app, monkeypatch):
    from ivr.console import views

    monkeypatch.setattr(views, "PAGE", 2)
    made = callbacks(app, 5)
    store = store_of(app)
    rec.claim(store, store.work_item(made[0].id), "ana", OPEN_HOURS.timestamp())
    browser = Browser(app)
    browser.sign_in("ana")
    page = browser.get("/console/worklist?kind=callback&status=new&team=coordinators").get_data(as_text=True)
    assert "Showing 1–2 of 4" in page
    following = link(page, "next")
    assert "kind=callback" in following and "status=new" in following and "team=coordinators" in following
    (cursor,) = re.findall(r"after=([^&]+)", following)
    assert re.fullmatch(r"[0-9.]+_[0-9a-f]{20}", cursor)  # a time and an opaque ref: no id, number or name
    assert "CA" not in following and "555" not in following
    fragment = browser.get(following, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and shown(fragment) == [rec.ref_of(r.id) for r in made[3:5]]
    assert "Showing 3–4 of 4" in fragment


def test_a_worklist_cursor_that_went_stale_or_was_made_up_still_shows_a_page(app, monkeypatch):
    from ivr.console import views

    monkeypatch.setattr(views, "PAGE", 2)
    every = [rec.ref_of(record.id) for record in callbacks(app, 5)]
    browser = Browser(app)
    browser.sign_in("ana")
    for made_up in ("nonsense", "nan_" + every[0], "inf", "_", "1e400_x"):
        assert shown(browser.get(f"/console/worklist?after={made_up}").get_data(as_text=True)) == every[:2]
    page = browser.get(f"/console/worklist?after=1.0_{'0' * 20}").get_data(as_text=True)
    assert shown(page) == every[:2] and "Showing 1–2 of 5" in page  # a time before every call
    late = OPEN_HOURS.timestamp() + 86400
    page = browser.get(f"/console/worklist?after={late!r}_{'0' * 20}").get_data(as_text=True)
    assert shown(page) == every[3:] and "Showing 4–5 of 5" in page  # past the end: the last page
    page = browser.get(f"/console/worklist?before={late!r}_{'0' * 20}").get_data(as_text=True)
    assert shown(page) == every[3:]


def test_the_worklist_export_holds_every_record_not_just_a_page(app, monkeypatch):
    from ivr.console import views

    monkeypatch.setattr(views, "PAGE", 2)
    monkeypatch.setattr(views, "EXPORT_BATCH", 3)
    every = [rec.ref_of(record.id) for record in callbacks(app, 7)]
    browser = Browser(app)
    browser.sign_in("ana")
    response = browser.get("/console/worklist.csv?kind=callback")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert [row["ref"] for row in rows] == every
    assert store_of(app).audit_events(limit=1)[0].detail == "7 record(s) as CSV"


def test_another_teams_record_is_not_visible(app, media):
    record = leave_voicemail(app, media)
    rosa = Browser(app)
    rosa.sign_in("rosa")
    assert "data-ref" not in rosa.get("/console/worklist").get_data(as_text=True)
    assert rosa.get(f"/console/records/{rec.ref_of(record.id)}").status_code == 404
    assert rosa.post(f"/console/records/{rec.ref_of(record.id)}/reveal").status_code == 404
    assert rosa.get(f"/console/records/{rec.ref_of(record.id)}/audio").status_code == 404
    assert rosa.get("/console/worklist?team=coordinators").get_data(as_text=True).count("data-ref") == 0
    assert not [e for e in store_of(app).audit_events(user="rosa") if e.record]


def test_viewing_revealing_and_playing_are_audited(app, media):
    record = leave_voicemail(app, media)
    ref = rec.ref_of(record.id)
    browser = Browser(app)
    browser.sign_in("ana")
    page = browser.get(f"/console/records/{ref}").get_data(as_text=True)
    assert CALLER not in page and media.base not in page and "api.twilio.com" not in page and "Reveal number" in page
    assert f'src="/console/records/{ref}/audio"' in page
    revealed = browser.post(f"/console/records/{ref}/reveal", htmx=True).get_data(as_text=True)
    assert CALLER in revealed and "<html" not in revealed
    assert CALLER in browser.post(f"/console/records/{ref}/reveal").get_data(as_text=True)  # without JavaScript
    audio = browser.get(f"/console/records/{ref}/audio")
    assert audio.status_code == 200 and audio.mimetype == "audio/mpeg" and audio.data == silent_mp3()
    assert audio.headers["Cache-Control"] == "no-store"
    audio.close()
    assert media.requests == [(media.recording_url()[len(media.base):] + ".mp3", media.requests[0][1])]
    assert media.requests[0][1].startswith("Basic ")
    assert [(a, r) for _, a, r in events(app) if r] == [
        ("viewed-record", record.id), ("revealed-number", record.id), ("revealed-number", record.id),
        ("played-recording", record.id)]


def test_a_recording_anywhere_but_at_twilio_is_not_fetched(app, media):
    store = store_of(app)
    rec.save(store, rec.Voicemail(id="CAx:vm", created_at=OPEN_HOURS.timestamp(), team="coordinators",
                                  recording_url="http://169.254.169.254/latest/meta-data", duration=3))
    browser = Browser(app)
    browser.sign_in("ana")
    response = browser.get(f"/console/records/{rec.ref_of('CAx:vm')}/audio")
    assert response.status_code == 502 and "169.254" not in response.get_data(as_text=True)
    assert media.requests == []


def test_claim_try_and_close_and_the_team_sees_who(app, media):
    record = leave_voicemail(app, media)
    ref = rec.ref_of(record.id)
    ana, marcus = Browser(app), Browser(app)
    ana.sign_in("ana")
    marcus.sign_in("marcus")
    claimed = ana.post(f"/console/records/{ref}/status", {"action": "claim"}, htmx=True)
    assert claimed.status_code == 200 and "Claimed" in claimed.get_data(as_text=True)
    listing = marcus.get("/console/worklist").get_data(as_text=True)
    assert "state-claimed" in listing and "ana" in listing
    refused = marcus.post(f"/console/records/{ref}/status", {"action": "claim"}, htmx=True)
    assert refused.status_code == 409 and "already claimed by ana" in refused.get_data(as_text=True)
    assert ana.post(f"/console/records/{ref}/status", {"action": "tried"}).status_code == 302
    item = store_of(app).work_item(record.id)
    assert (item.state, item.attempts) == (TRIED, 1)
    assert marcus.post(f"/console/records/{ref}/status", {"action": "claim"}).status_code == 302
    assert store_of(app).work_item(record.id).by == "marcus"
    no_note = marcus.post(f"/console/records/{ref}/status", {"action": "done", "note": " "})
    assert no_note.status_code == 409 and "short note" in no_note.get_data(as_text=True)
    done = marcus.post(f"/console/records/{ref}/status", {"action": "done", "note": "Called back, ride booked"})
    assert done.status_code == 302
    item = store_of(app).work_item(record.id)
    assert (item.state, item.by, item.note, item.attempts) == (CLOSED, "marcus", "Called back, ride booked", 1)
    assert "Nothing here" in ana.get("/console/worklist").get_data(as_text=True)
    assert [(u, a) for u, a, r in events(app) if r and a != "viewed-record"] == [
        ("ana", "claimed"), ("ana", "tried-no-answer"), ("marcus", "claimed"), ("marcus", "closed")]
    assert all("ride booked" not in e.detail for e in store_of(app).audit_events())


def test_two_coordinators_claiming_at_once_one_wins(app, media, monkeypatch):
    record = leave_voicemail(app, media)
    store = store_of(app)
    stale = store.work_item(record.id)
    rec.claim(store, stale, "ana", 1.0)  # ana's claim lands between marcus's read and his write
    with pytest.raises(rec.WorkError, match="already claimed by ana"):
        rec.claim(store, stale, "marcus", 2.0)
    assert store.work_item(record.id).by == "ana"
    assert rec.claim(store, store.work_item(record.id), "ana", 3.0).state == CLAIMED


def test_the_worklist_export_is_audited_and_holds_no_numbers(app, media):
    record = leave_voicemail(app, media)
    browser = Browser(app)
    browser.sign_in("ana")
    response = browser.get("/console/worklist.csv")
    assert response.mimetype == "text/csv"
    (row,) = csv.DictReader(io.StringIO(response.get_data(as_text=True), newline=""))
    assert row["ref"] == rec.ref_of(record.id) and row["status"] == "new" and CALLER not in response.get_data(True)
    assert events(app)[-1][1] == "exported"


def test_purging_removes_old_done_records_and_never_the_audit_log(app, media, clock):
    record = leave_voicemail(app, media)
    open_one = leave_voicemail(app, media)
    store = store_of(app)
    rec.close(store, store.work_item(record.id), "ana", 1.0, "done")
    before = store.audit_events(limit=1000)
    assert rec.purge(store, clock().timestamp() - 1) == []
    assert [item.id for item in rec.purge(store, clock().timestamp() + 1)] == [record.id]
    assert rec.load(store, record.id) is None and store.work_item(record.id) is None
    assert rec.load(store, open_one.id) is not None
    assert store.audit_events(limit=1000) == before


def test_changing_ones_own_password(app):
    browser = Browser(app)
    browser.sign_in("ana")
    browser.get("/console/password")
    wrong = browser.post("/console/password", {"current": "not it at all", "new": "a new long secret",
                                                 "again": "a new long secret"})
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(as_text=True)
    differ = browser.post("/console/password", {"current": PASSWORD, "new": "a new long secret", "again": "other"})
    assert differ.status_code == 400 and "differ" in differ.get_data(as_text=True)
    done = browser.post("/console/password", {"current": PASSWORD, "new": "a new long secret",
                                                "again": "a new long secret"})
    assert done.status_code == 302 and done.headers["Location"] == "/console/login?reason=ended"
    assert browser.get("/console/worklist").status_code == 302  # this session ended with the old password
    assert Browser(app).sign_in("ana", "a new long secret").status_code == 302
    assert events(app)[-2][1] == "password-set"


@pytest.mark.redis
def test_the_desk_on_redis(make_app, clock, media, redis_url):
    app = make_app(CLOCK=clock, SECRET_KEY=SECRET, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_MEDIA_BASE=media.base,
                   REDIS_URL=redis_url)
    store = store_of(app)
    name = f"redis{uuid.uuid4().hex[:12]}"
    add_account(store, name, "coordinator", teams=("coordinators",), member="Ana Rivera")
    record = leave_voicemail(app, media)
    ref = rec.ref_of(record.id)
    browser = Browser(app)
    assert browser.sign_in(name).status_code == 302
    assert browser.get("/console/worklist?status=new").status_code == 200
    assert browser.get(f"/console/records/{ref}").status_code == 200
    assert CALLER in browser.post(f"/console/records/{ref}/reveal", htmx=True).get_data(as_text=True)
    assert browser.post(f"/console/records/{ref}/status", {"action": "claim"}, htmx=True).status_code == 200
    assert browser.post(f"/console/records/{ref}/status", {"action": "done", "note": "ok"}).status_code == 302
    assert store.work_item(record.id).state == CLOSED
    assert [e.action for e in reversed(store.audit_events(user=name))] == [
        "signed-in", "viewed-worklist", "viewed-record", "revealed-number", "claimed", "closed"]
    assert browser.post("/console/logout").status_code == 302
    assert browser.get("/console/worklist").status_code == 302
    store.untrack(store.work_item(record.id))
    store.delete_record(record.id, record.kind)
