"""Warm transfers over HTTP: ringing, the coordinator's whisper and accept key, and what
the caller gets when nobody takes the call (a voicemail or a call back), with real
signatures and every TwiML document checked against Twilio's schema."""

from __future__ import annotations

import re

import pytest
from twilio_sim import (AFTER_HOURS, CALLER, SATURDAY_MORNING, THANKSGIVING, Call, new_sid, post, says, stored,
                        tags)

from ivr import records

# flows/teams.yaml
ANA, MARCUS, LUCIA, DANA = "+16265550131", "+16265550142", "+16265550187", "+16265550119"
ROSA, KEVIN = "+16265550163", "+16265550175"

ENGLISH, SPANISH = "1", "2"
MAIN_COORDINATOR, MAIN_RIDES = "3", "2"
UNAVAILABLE_MENU = "If this is an emergency, hang up and dial 911. To leave a message, press 1."
MENU_ES = "Si es una emergencia, cuelgue y marque el 911. Para dejar un mensaje, oprima 1."


def to_coordinators(call: Call, lang: str = ENGLISH):
    call.start()
    call.press(lang)
    return call.press(MAIN_COORDINATOR)


def to_transportation(call: Call, lang: str = ENGLISH):
    call.start()
    call.press(lang)
    call.press(MAIN_RIDES)  # the ride booking: is it urgent?
    return call.press("1")  # yes: straight to the transportation team


def to_unavailable(call: Call, lang: str = ENGLISH):
    to_coordinators(call, lang)
    root = call.dial_done("no-answer", "false")
    assert any((MENU_ES if lang == SPANISH else UNAVAILABLE_MENU) in text for text in says(root))
    return root


def is_hangup_only(root) -> bool:
    return tags(root) == ["Hangup"]


def assert_unavailable_menu(root) -> None:
    gather = root.find("Gather")
    assert gather is not None and root.find("Dial") is None
    assert any(UNAVAILABLE_MENU in text for text in says(gather))


def assert_ride_alternatives(root) -> None:
    """A ride call nobody can take: 911, the discharge planner and Member Services, then a message."""
    gather = root.find("Gather")
    assert gather is not None and root.find("Dial") is None
    spoken = " ".join(says(gather))
    assert "call 911" in spoken and "discharge planner" in spoken and "Member Services" in spoken
    assert spoken.index("Member Services") < spoken.index("To leave a message for our transportation team, press 1.")


def state(app, call: Call):
    record = stored(app, call.call_sid)
    assert record is not None
    return record.state


# -- 1. accepted on the first ring ------------------------------------------------------------

def test_accepted_on_the_first_ring_bridges_and_ends_the_call(make_app):
    app = make_app()
    call = Call(app)
    root = to_coordinators(call)
    assert "Connecting you with a care coordinator" in " ".join(says(root))
    dial = call.dial
    assert tags(root)[-1] == "Dial"
    assert dial.get("answerOnBridge") == "true" and dial.get("timeout") == "20"
    assert call.numbers == [ANA, MARCUS, LUCIA]  # all at once, English speakers first; Dana is inactive
    assert DANA not in call.body
    turn = call.turn
    assert dial.get("action") == f"/voice/turn?t={turn}"
    assert all(n.get("url") == f"/voice/whisper?t={turn}" and n.get("method") == "POST"
               for n in dial.findall("Number"))

    leg, whisper = call.whisper(ANA)
    assert tags(whisper) == ["Gather", "Hangup"]
    gather = whisper.find("Gather")
    assert gather.get("numDigits") == "1" and gather.get("action") == f"/voice/whisper/accept?t={turn}"
    (say,) = gather.findall("Say")
    assert say.get("language") == "en-US" and say.get("voice") == "Polly.Joanna"
    assert "The caller speaks English." in say.text
    assert "asked to speak with a care coordinator" in say.text
    assert "To take the call, press 1." in say.text
    assert re.search(r"\d{4,}", say.text) is None  # no member id, date of birth or phone number
    assert CALLER not in say.text

    accepted = call.accept(leg, whisper, "1")
    assert len(accepted) == 0 and accepted.tag == "Response"  # an empty document bridges

    done = call.dial_done("completed", "true")
    assert is_hangup_only(done)
    record = stored(app, call.call_sid)
    assert record.state.ended and record.state.node is None


@pytest.mark.parametrize("member, lang, voice, intro, why", [
    (ANA, "en-US", "Polly.Joanna", "The caller speaks English.", "asked to speak with a care coordinator"),
    (MARCUS, "en-US", "Polly.Joanna", "The caller speaks English.", "asked to speak with a care coordinator"),
    (LUCIA, "es-US", "Polly.Lupe", "La persona habla inglés.", "pidió hablar con un coordinador"),
])
def test_whisper_is_in_the_members_first_language(make_app, member, lang, voice, intro, why):
    call = Call(make_app())
    to_coordinators(call)
    _, whisper = call.whisper(member)
    say = whisper.find("Gather/Say")
    assert (say.get("language"), say.get("voice")) == (lang, voice)
    assert intro in say.text and why in say.text


def test_whisper_after_the_decision_guide_tells_the_answers(make_app):
    """The whisper says what the guide suggested; the answers (mental health among them) come after pressing 1."""
    call = Call(make_app())
    call.start()
    call.press(ENGLISH)
    call.press("1")  # the decision guide
    call.press("2")
    call.press("2")
    call.press("2")  # three parts of the introduction
    for answer in ("1", "2", "2", "2", "2", "1"):  # a health plan, ..., mental health or substance use: yes
        call.press(answer)
    call.press("1")  # after_guide: talk with a coordinator
    assert call.numbers == [ANA, MARCUS, LUCIA]
    leg, whisper = call.whisper(MARCUS)
    text = whisper.find("Gather/Say").text
    assert "suggested: E C M" in text and "Mental health" not in text
    assert re.search(r"\d{4,}", text) is None
    accepted = call.accept(leg, whisper, "1")
    assert [child.tag for child in accepted] == ["Say"]  # then the document ends, and the caller is put through
    details = accepted.find("Say")
    assert (details.get("language"), details.get("voice")) == ("en-US", "Polly.Joanna")
    assert "Mental health or substance use: yes." in details.text and "Medi-Cal health plan: yes." in details.text
    assert re.search(r"\d{4,}", details.text) is None and CALLER not in details.text
    leg, whisper = call.whisper(LUCIA)  # a Spanish speaker hears them in Spanish
    assert "Salud mental o uso de sustancias: sí." in call.accept(leg, whisper, "1").find("Say").text


# -- 2. declined, then accepted by the next (hunt) ------------------------------------------------

def test_hunt_declined_then_the_next_member_accepts(make_app):
    app = make_app()
    call = Call(app)
    root = to_transportation(call)
    assert "Connecting you with our transportation team" in " ".join(says(root))
    assert call.numbers == [ROSA]
    assert call.dial.get("timeout") == "25"
    first_turn = call.turn

    leg, whisper = call.whisper(ROSA)
    say = whisper.find("Gather/Say")
    assert say.get("language") == "es-US" and "transporte" in say.text  # Rosa speaks Spanish first
    assert is_hangup_only(call.accept(leg, whisper, "2"))

    root = call.dial_done("no-answer", "false")
    assert "Please stay on the line while I try someone else." in says(root)
    assert call.numbers == [KEVIN]
    assert call.turn == first_turn + 1
    assert call.whisper_url() == f"/voice/whisper?t={call.turn}"

    leg, whisper = call.whisper(KEVIN)
    say = whisper.find("Gather/Say")
    assert say.get("language") == "en-US" and "needs a ride today" in say.text
    assert len(call.accept(leg, whisper, "1")) == 0
    assert is_hangup_only(call.dial_done("completed", "true"))
    assert state(app, call).ended


def test_a_hunt_starts_with_whoever_has_waited_longest_for_a_call(make_app):
    app = make_app()
    first = Call(app)
    to_transportation(first)
    assert first.numbers == [ROSA]
    leg, whisper = first.whisper(ROSA)
    assert len(first.accept(leg, whisper, "1")) == 0  # Rosa takes this one
    first.dial_done("completed", "true")

    second = Call(app)
    to_transportation(second)
    assert second.numbers == [KEVIN]  # Kevin and Ana have not taken a call yet; Rosa just did
    leg, whisper = second.whisper(KEVIN)
    second.accept(leg, whisper, "1")

    third = Call(app)
    to_transportation(third)
    assert third.numbers == [ANA]


def test_hunt_through_everyone_then_the_unavailable_menu(make_app):
    app = make_app()
    call = Call(app)
    to_transportation(call)
    rung = [call.numbers]
    for _ in range(2):
        call.dial_done("no-answer", "false")
        rung.append(call.numbers)
    assert rung == [[ROSA], [KEVIN], [ANA]]
    root = call.dial_done("busy", "false")
    assert_ride_alternatives(root)
    assert state(app, call).tried == []


def test_a_stale_whisper_of_an_earlier_hunt_turn_declines(make_app):
    call = Call(make_app())
    to_transportation(call)
    old = call.whisper_url()
    call.dial_done("no-answer", "false")
    _, whisper = call.whisper(ROSA, path=old)
    assert is_hangup_only(whisper)


# -- 3. nobody accepts: a voicemail ------------------------------------------------------------------

def test_nobody_accepts_so_the_caller_leaves_a_voicemail(make_app):
    app = make_app()
    call = Call(app)
    to_unavailable(call)
    root = call.press("1")
    assert tags(root) == ["Say", "Record", "Redirect"]
    assert root.find("Say").text.startswith("We will record your message.")
    record_turn = call.turn
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE" + "1" * 32
    done = call.recorded(17, url)
    spoken = says(done)
    assert spoken[0].startswith("Thank you. Your message was saved")
    assert spoken[-1] == "Thank you for calling. Goodbye."
    assert tags(done)[-1] == "Hangup"
    first = call.body

    (voicemail,) = records.load_all(app.extensions["ivr"].store, "voicemail")
    assert isinstance(voicemail, records.Voicemail)
    assert (voicemail.team, voicemail.language, voicemail.duration, voicemail.recording_url) == \
           ("coordinators", "en", 17, url)
    assert voicemail.id.startswith(call.call_sid + ":")

    call.recorded(17, url, path=f"/voice/turn?t={record_turn}")  # Twilio retrying the Record action
    assert call.body == first
    assert len(records.load_all(app.extensions["ivr"].store)) == 1


# -- 4. nobody accepts: a call back -------------------------------------------------------------------

def test_call_back_on_another_number_is_read_back_and_kept(make_app):
    app = make_app()
    call = Call(app)
    to_unavailable(call)
    root = call.press("2")
    assert any("the number you are calling from, press 1" in text for text in says(root))
    root = call.press("2")
    assert any("ten-digit phone number" in text for text in says(root))
    root = call.press("6265550123")
    assert any("You entered 6 2 6, 5 5 5, 0 1 2 3." in text for text in says(root))
    root = call.press("1")
    assert says(root)[0] == "Thank you. A care coordinator will call you back by the end of the next business day."
    assert tags(root)[-1] == "Hangup"
    (callback,) = records.load_all(app.extensions["ivr"].store, "callback")
    assert (callback.number, callback.team, callback.language) == ("+16265550123", "coordinators", "en")


def test_call_back_on_the_callers_own_number(make_app):
    app = make_app()
    call = Call(app)
    to_unavailable(call)
    call.press("2")
    root = call.press("1")
    assert "call you back" in says(root)[0]
    (callback,) = records.load_all(app.extensions["ivr"].store, "callback")
    assert callback.number == CALLER


@pytest.mark.parametrize("caller", ["+266696687", "+86282452253", "+7378742833", "Anonymous", "Restricted", ""])
def test_a_caller_without_a_number_goes_straight_to_entering_one(make_app, caller):
    app = make_app()
    call = Call(app, caller=caller)
    to_unavailable(call)
    root = call.press("2")
    spoken = " ".join(says(root))
    assert "ten-digit phone number" in spoken and "calling from" not in spoken
    call.press("6265550123")
    call.press("1")
    (callback,) = records.load_all(app.extensions["ivr"].store, "callback")
    assert callback.number == "+16265550123"


# -- 5. hours and holidays --------------------------------------------------------------------------

@pytest.mark.parametrize("now", [AFTER_HOURS, THANKSGIVING], ids=["after-hours", "thanksgiving"])
def test_closed_team_says_so_and_offers_the_unavailable_menu(make_app, now):
    app = make_app(now)
    call = Call(app)
    root = to_coordinators(call)
    assert root.find("Dial") is None
    spoken = says(root)
    assert "Our team is closed now." in spoken
    assert spoken.index("Our team is closed now.") < \
           next(i for i, text in enumerate(spoken) if UNAVAILABLE_MENU in text)
    assert_unavailable_menu(root)
    assert state(app, call).answers["transfer_team"] == "coordinators"


@pytest.mark.parametrize("now, lang, expected", [
    (AFTER_HOURS, ENGLISH, "We open again on Friday, November 27th, at 9 AM."),  # Thanksgiving in between
    (THANKSGIVING, ENGLISH, "We open again tomorrow at 9 AM."),  # the day after's special hours
    (AFTER_HOURS, SPANISH, "Volvemos a abrir el viernes 27 de noviembre a las 9 de la mañana."),
], ids=["after-hours", "thanksgiving", "spanish"])
def test_closed_team_says_when_it_opens_again(make_app, now, lang, expected):
    app = make_app(now)
    spoken = says(to_coordinators(Call(app), lang))
    assert spoken[spoken.index(expected) - 2] in ("Our team is closed now.",
                                                   "Nuestro equipo está cerrado en este momento.")
    assert spoken[spoken.index(expected) - 1] in (
        "We are open Monday to Friday, from 8 AM to 6 PM, and on Saturdays, from 9 AM to 1 PM.",
        "Nuestro horario es de lunes a viernes, de 8 de la mañana a 6 de la tarde, y los sábados, "
        "de 9 de la mañana a la 1 de la tarde.")


def test_saturday_morning_coordinators_open_transportation_closed(make_app):
    app = make_app(SATURDAY_MORNING)
    coordinators = Call(app)
    to_coordinators(coordinators)
    assert coordinators.numbers == [ANA, MARCUS, LUCIA]
    rides = Call(app)
    root = to_transportation(rides)
    assert root.find("Dial") is None
    assert "Our team is closed now." in says(root)
    assert "We open again on Monday, November 23rd, at 7 AM." in says(root)
    assert_ride_alternatives(root)


# -- 6. a Spanish-speaking caller -------------------------------------------------------------------

def test_spanish_caller_rings_spanish_speakers_first(make_app):
    app = make_app()
    call = Call(app)
    root = to_coordinators(call, SPANISH)
    assert "Le comunico con un coordinador de atención." in " ".join(says(root))
    assert call.numbers == [ANA, LUCIA, MARCUS]
    assert call.dial.get("answerOnBridge") == "true"
    _, whisper = call.whisper(LUCIA)
    say = whisper.find("Gather/Say")
    assert (say.get("language"), say.get("voice")) == ("es-US", "Polly.Lupe")
    assert "La persona habla español." in say.text and "Para tomar la llamada, oprima 1." in say.text
    _, whisper = call.whisper(MARCUS)
    say = whisper.find("Gather/Say")
    assert say.get("language") == "en-US" and "The caller speaks Spanish." in say.text


def test_spanish_caller_hunts_spanish_speakers_first(make_app):
    call = Call(make_app())
    to_transportation(call, SPANISH)
    assert call.numbers == [ROSA]
    _, whisper = call.whisper(ROSA)
    say = whisper.find("Gather/Say")
    assert say.get("language") == "es-US"
    assert "La persona habla español." in say.text and "necesita transporte hoy" in say.text
    root = call.dial_done("no-answer", "false")
    assert "Por favor, no cuelgue. Estoy intentando comunicarle con otra persona." in says(root)
    assert call.numbers == [ANA]
    call.dial_done("no-answer", "false")
    assert call.numbers == [KEVIN]


# -- 7. the caller hangs up while a coordinator hears the whisper ---------------------------------

def test_caller_hanging_up_mid_whisper_declines_it_and_late_webhooks_are_answered(make_app):
    app = make_app()
    call = Call(app)
    to_coordinators(call)
    dial_path = call.url
    whisper_path = call.whisper_url()
    assert call.hang_up() == 204
    assert state(app, call).ended
    leg, whisper = call.whisper(ANA, path=whisper_path)
    assert is_hangup_only(whisper)
    late = call.dial_done("canceled", "false", path=dial_path)
    assert late.tag == "Response"
    assert state(app, call).ended


def test_caller_hanging_up_after_the_whisper_began_still_answers_every_webhook(make_app):
    app = make_app()
    call = Call(app)
    to_coordinators(call)
    dial_path = call.url
    leg, whisper = call.whisper(LUCIA)
    assert call.hang_up() == 204
    root = call.accept(leg, whisper, "1")  # the coordinator presses 1 too late: Twilio finds no caller
    assert root.tag == "Response"
    call.dial_done("canceled", "false", path=dial_path)
    again = call.body
    call.dial_done("canceled", "false", path=dial_path)
    assert call.body == again


# -- 8. every DialCallStatus -------------------------------------------------------------------------

# `connected` here means the call is over: bridged, or canceled because the caller hung up while it rang.
@pytest.mark.parametrize("status, bridged, connected", [
    ("completed", "true", True),
    ("completed", None, True),
    ("completed", "false", False),
    ("answered", None, True),
    ("answered", "true", True),
    ("busy", "false", False),
    ("busy", None, False),
    ("no-answer", "false", False),
    ("no-answer", None, False),
    ("failed", "false", False),
    ("canceled", "false", True),
    ("canceled", None, True),
])
def test_every_dial_status_gets_an_answer(make_app, status, bridged, connected):
    app = make_app()
    call = Call(app)
    to_coordinators(call)
    root = call.dial_done(status, bridged)
    if connected:
        assert is_hangup_only(root)
        assert state(app, call).ended
    else:
        assert_unavailable_menu(root)
        assert state(app, call).node == "unavailable"


# -- 9. coordinators marked away ---------------------------------------------------------------------

def test_coordinator_marked_away_is_not_rung(make_app):
    app = make_app()
    store = app.extensions["ivr"].store
    first = Call(app)
    to_coordinators(first)
    assert first.numbers == [ANA, MARCUS, LUCIA]

    store.set_availability("Marcus Chen", False, 1_790_000_000.0)
    second = Call(app)
    to_coordinators(second)
    assert second.numbers == [ANA, LUCIA]

    store.set_availability("Marcus Chen", True, 1_790_000_100.0)
    third = Call(app)
    to_coordinators(third)
    assert third.numbers == [ANA, MARCUS, LUCIA]


def test_away_before_the_app_starts_is_seen_at_once(make_app):
    app = make_app()
    app.extensions["ivr"].store.set_availability("Ana Rivera", False, 1_790_000_000.0)
    fresh = make_app()  # same store: a new process has no cached availability
    call = Call(fresh)
    to_coordinators(call)
    assert call.numbers == [MARCUS, LUCIA]
    hunt = Call(fresh)
    to_transportation(hunt, SPANISH)
    assert hunt.numbers == [ROSA]
    hunt.dial_done("no-answer", "false")
    assert hunt.numbers == [KEVIN]  # Ana, the next Spanish speaker, is away


def test_everyone_away_goes_to_the_unavailable_menu(make_app):
    app = make_app()
    for name in ("Ana Rivera", "Marcus Chen", "Lucia Ortega"):
        app.extensions["ivr"].store.set_availability(name, False, 1_790_000_000.0)
    call = Call(app)
    root = to_coordinators(call)
    assert_unavailable_menu(root)


# -- 10. whispers that belong to no ringing transfer -------------------------------------------------

def test_whisper_for_an_unknown_call_declines(make_app):
    call = Call(make_app())
    _, whisper = call.whisper(ANA, path="/voice/whisper?t=2", parent=new_sid())
    assert is_hangup_only(whisper)


def test_whisper_for_the_wrong_turn_declines(make_app):
    call = Call(make_app())
    to_coordinators(call)
    turn = call.turn
    for wrong in (turn - 1, turn + 1, 0):
        _, whisper = call.whisper(ANA, path=f"/voice/whisper?t={wrong}")
        assert is_hangup_only(whisper)


def test_whisper_while_the_call_is_at_a_menu_declines(make_app):
    call = Call(make_app())
    call.start()
    call.press(ENGLISH)
    _, whisper = call.whisper(ANA, path=f"/voice/whisper?t={call.turn}")
    assert is_hangup_only(whisper)


def test_whisper_for_a_number_of_no_member_uses_the_first_language(make_app):
    call = Call(make_app())
    to_coordinators(call, SPANISH)
    _, whisper = call.whisper("+16265550100")
    say = whisper.find("Gather/Say")
    assert say.get("language") == "en-US" and "The caller speaks Spanish." in say.text


@pytest.mark.parametrize("path, data", [
    ("/voice/whisper?t=1", {"CallSid": "CA" + "1" * 32, "To": ANA}),
    ("/voice/whisper?t=1", {"CallSid": "CA" + "1" * 32, "ParentCallSid": "nope", "To": ANA}),
    ("/voice/whisper", {"CallSid": "CA" + "1" * 32, "ParentCallSid": "CA" + "2" * 32, "To": ANA}),
    ("/voice/whisper/accept?t=x", {"CallSid": "CA" + "1" * 32, "Digits": "1"}),
])
def test_malformed_whisper_requests_are_client_errors(make_app, path, data):
    assert post(make_app().test_client(), path, data).status_code == 400


def test_unsigned_whisper_is_refused(make_app):
    data = {"CallSid": new_sid(), "ParentCallSid": new_sid(), "To": ANA}
    client = make_app().test_client()
    assert client.post("/voice/whisper?t=1", data=data).status_code == 403
    assert client.post("/voice/whisper/accept?t=1", data={"Digits": "1"}).status_code == 403


@pytest.mark.parametrize("digits", ["2", "", "*", "11"])
def test_any_key_but_1_declines(make_app, digits):
    call = Call(make_app())
    to_coordinators(call)
    leg, whisper = call.whisper(ANA)
    assert is_hangup_only(call.accept(leg, whisper, digits))
