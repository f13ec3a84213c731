"""The engine, step by step, on a small two-language flow."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import msgspec
import pytest

from ivr.engine.commands import Dial, Effect, Gather, Hangup, Pause, Play, Record, Say
from ivr.engine.step import MAX_STEPS, Phase, decode_state, encode_state, phase_of, step
from ivr.engine.events import CallStarted, DialDone, Digits, NoInput, RecordingDone
from ivr.flows.loader import lint_text
from ivr.flows.messages import BUILT_IN
from ivr.tools.phone import Phone

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=timezone.utc)

DEMO = (Path(__file__).parent / "flows" / "demo.yaml").read_text()


@pytest.fixture(scope="module")
def flow():
    loaded, problems = lint_text(DEMO, "demo.yaml")
    assert problems == []
    return loaded


def texts(commands) -> list[str]:
    out = []
    for command in commands:
        if isinstance(command, Gather):
            out.extend(texts(command.prompts))
        elif isinstance(command, Say):
            out.append(command.text)
    return out


def call(flow, *inputs):
    """Start a call and feed inputs ('-' is silence); returns (state, last commands)."""
    state, commands, _ = step(flow, None, CallStarted(NOW))
    for entry in inputs:
        event = NoInput(NOW) if entry == "-" else Digits(NOW, entry)
        state, commands, _ = step(flow, state, event)
    return state, commands



def phase(flow, state):
    return phase_of(flow.nodes[state.node], state)

def test_start_chains_say_into_the_first_menu(flow):
    """Until the caller has chosen a language, everything is said in each of them."""
    state, commands, _ = step(flow, None, CallStarted(NOW))
    assert commands == (
        Say("Emergency? Dial 911.", "Polly.Joanna", "en-US"),
        Say("¿Emergencia? Marque 911.", "Polly.Lupe", "es-US"),
        Gather(prompts=(Say("English 1, Spanish 2.", "Polly.Joanna", "en-US"),
                        Say("Inglés 1, español 2.", "Polly.Lupe", "es-US")), timeout=6, num_digits=1),
    )
    assert (state.node, state.flow, state.flow_version, state.turn) == ("language", "demo", flow.version, 0)


def test_language_choice_switches_voice_and_text(flow):
    state, commands = call(flow, "2")
    assert state.lang == "es"
    assert commands == (Gather(prompts=(Say("Guía 1. Lectura 2. Miembro 3. Mensaje 4.", "Polly.Lupe", "es-US"),),
                               timeout=6, num_digits=1),)


def test_a_line_of_one_language_starts_in_it(flow):
    state, _, _ = step(flow, None, CallStarted(NOW, lang="es"))
    assert state.lang == "es"


@pytest.mark.parametrize("answers, recommendation, heard", [
    (("1", "2"), "ecm", "We suggest ECM; your plan decides."),
    (("2", "1"), "ecm", "We suggest ECM; your plan decides."),
    (("2", "2"), "", "Case management may fit."),
])
def test_decision_guide(flow, answers, recommendation, heard):
    state, commands = call(flow, "1", "1", *answers)
    assert heard in texts(commands)
    assert state.answers.get("recommendation", "") == recommendation


def test_transfer_tells_the_coordinator_the_recommendation(flow):
    _, commands = call(flow, "1", "1", "1", "1")
    assert commands[-1] == Dial(team="coordinators", numbers=("+16266696777", "+16266696778"), timeout=20,
                                language="en-US", whisper=(
                                    ("en", "Support line call. The caller speaks English. Suggested: ecm. "
                                           "To take the call, press 1. To decline, hang up."),
                                    ("es", "Llamada de la línea de apoyo. La persona habla inglés. Sugerido: ecm. "
                                           "Para tomar la llamada, oprima 1. Para rechazarla, cuelgue.")))


@pytest.mark.parametrize("status, last", [
    ("completed", Hangup()),
    ("answered", Hangup()),
    ("no-answer", Record(max_length=90)),
    ("busy", Record(max_length=90)),
    ("failed", Record(max_length=90)),
])
def test_every_dial_outcome_leads_somewhere(flow, status, last):
    state, _ = call(flow, "1", "1", "1", "1")
    state, commands, _ = step(flow, state, DialDone(NOW, status))
    assert commands[-1] == last


def test_transfer_without_no_answer_apologises_and_ends(flow):
    state, _ = call(flow, "1", "0")
    assert state.node == "operator"
    state, commands, _ = step(flow, state, DialDone(NOW, "no-answer"))
    assert texts(commands) == [BUILT_IN["no_one_available"]["en"]]
    assert "911" in texts(commands)[0]
    assert commands[-1] == Hangup() and state.ended


def test_recording_saves_and_goes_on(flow):
    state, _ = call(flow, "1", "4")
    state, commands, _ = step(flow, state, RecordingDone(NOW, "https://api.example/rec/RE1", 12))
    assert state.answers["voicemail"] == "https://api.example/rec/RE1"
    assert texts(commands) == ["Goodbye."] and commands[-1] == Hangup()


def test_silent_recording_goes_on_without_saving(flow):
    state, _ = call(flow, "1", "4")
    state, commands, _ = step(flow, state, NoInput(NOW))
    assert "voicemail" not in state.answers
    assert texts(commands) == ["Goodbye."] and commands[-1] == Hangup()


def test_repeat_key_replays_without_counting_a_try(flow):
    state, commands = call(flow, "1", "1", "*")
    assert state.node == "chronic" and state.tries == 0
    assert texts(commands) == ["Several chronic conditions?", "For yes, press 1. For no, press 2."]


def test_back_key_returns_to_the_previous_question(flow):
    state, commands = call(flow, "1", "1", "1", "9")
    assert state.node == "chronic"
    assert texts(commands)[0] == "Several chronic conditions?"
    state, _, _ = step(flow, state, Digits(NOW, "9"))
    assert state.node == "main"


def test_operator_key_reaches_a_person_from_any_prompt(flow):
    _, commands = call(flow, "1", "1", "0")
    assert isinstance(commands[-1], Dial)


def test_option_key_beats_a_global_key():
    text = DEMO.replace('"4": voicemail', '"4": voicemail\n      "0": goodbye')
    flow, problems = lint_text(text, "demo.yaml")
    assert flow is not None, problems
    _, commands = call(flow, "1", "0")
    assert commands[-1] == Hangup()


def test_no_input_warns_gives_more_time_then_goes_to_a_person(flow):
    state, commands = call(flow, "1", "-")
    assert texts(commands)[0] == "Sorry, I didn't hear anything. Take your time."
    assert commands[-1].timeout == 9 and state.tries == 1
    state, commands, _ = step(flow, state, Digits(NOW, "7"))
    assert texts(commands)[0] == "Sorry, I couldn't get an answer I can use."
    assert isinstance(commands[-1], Dial) and state.node == "operator"


def test_wrong_key_reprompts(flow):
    state, commands = call(flow, "1", "8")
    assert texts(commands) == ["Sorry, that is not one of the choices.",
                               "Guide 1. Read-out 2. Member 3. Message 4."]
    assert state.tries == 1


WARNING = BUILT_IN["time_warning"]["en"]


def test_digits_with_read_back(flow):
    state, commands = call(flow, "1", "3", "12345678")
    assert texts(commands) == ["You entered 1 2 3 4, 5 6 7 8. If that is right, press 1. To try again, press 2."]
    assert phase(flow, state) is Phase.CONFIRMING and "member_id" not in state.answers
    retry, commands, _ = step(flow, state, Digits(NOW, "2"))
    assert texts(commands) == ["Enter the member ID, then pound.", WARNING] and phase(flow, retry) is Phase.ANSWERING
    state, commands, _ = step(flow, state, Digits(NOW, "1"))
    assert state.answers["member_id"] == "12345678" and state.node == "date"


def test_digits_gather_settings(flow):
    """A digit entry warns before its time runs out, and offers more (36 CFR 1194.23(d))."""
    _, commands = call(flow, "1", "3")
    assert commands[-1] == Gather(prompts=(Say("Enter the member ID, then pound.", "Polly.Joanna", "en-US"), Pause(5),
                                           Say(WARNING, "Polly.Joanna", "en-US")),
                                  timeout=6, num_digits=None, finish_on_key="#")
    _, commands = call(flow, "1", "3", "12345678", "1")
    assert commands[-1].num_digits == 4


def test_invalid_entry_is_refused(flow):
    state, commands = call(flow, "1", "3", "123")
    assert texts(commands)[0] == "That ID doesn't look right. A member ID has 8 to 14 numbers." and state.tries == 1


def test_single_global_key_in_a_digits_answer(flow):
    _, commands = call(flow, "1", "3", "0")
    assert isinstance(commands[-1], Dial)


def test_dates_are_inferred_spoken_and_effects_requested(flow):
    state, commands = call(flow, "1", "3", "12345678", "1", "0415")
    assert state.answers["appt_date"] == "2027-04-15"
    assert "Your ride is on Thursday, April 15th." in texts(commands)
    effects = [c for c in commands if isinstance(c, Effect)]
    assert [(e.action, e.params) for e in effects] == [("send_text", (("body", "Ride on 2027-04-15"), ("lang", "en")))]
    assert commands[-1] == Hangup() and state.ended


def test_past_date_is_refused(flow):
    state, _ = call(flow, "1", "3", "12345678", "1", "1324")
    assert state.node == "date" and state.tries == 1


def test_sections_repeat_next_and_move_on_by_themselves(flow):
    state, commands = call(flow, "1", "2")
    assert texts(commands) == ["Part one.", "To hear this part again, press 1. For the next part, press 2."]
    state, commands, _ = step(flow, state, Digits(NOW, "1"))
    assert texts(commands)[0] == "Part one."
    state, commands, _ = step(flow, state, NoInput(NOW))
    assert texts(commands) == ["Part two.", "To hear this part again, press 1. To go on, press 2."]
    state, commands, _ = step(flow, state, Digits(NOW, "2"))
    assert texts(commands) == ["Goodbye."] and state.ended


def test_ended_call_only_hangs_up(flow):
    state, _ = call(flow, "1", "2", "2", "2")
    assert state.ended
    again, commands, _ = step(flow, state, Digits(NOW, "1"))
    assert commands == (Hangup(),) and again.ended


def test_vanished_node_apologises_and_reaches_a_person(flow):
    state, _ = call(flow, "1")
    state = msgspec.structs.replace(state, node="deleted_in_an_edit")
    state, commands, _ = step(flow, state, Digits(NOW, "1"))
    assert texts(commands)[0].startswith("We're sorry, something went wrong")
    assert isinstance(commands[-1], Dial)


def test_step_limit_stops_a_loop():
    looping = """
flow: loop
start: a
settings: {operator: op}
teams: {t: ["+16266696777"]}
nodes:
  a: {decide: [{when: "true", next: b}], default: b}
  b: {decide: [{when: "true", next: a}], default: op}
  op: {transfer: t}
"""
    flow, problems = lint_text(looping, "loop.yaml")
    assert flow is not None, problems
    state, commands, _ = step(flow, None, CallStarted(NOW))
    assert texts(commands) == ["We're sorry, something went wrong on our side."]
    assert isinstance(commands[-1], Dial)
    assert MAX_STEPS >= 10


def test_event_that_does_not_fit_repeats_the_prompt(flow):
    state, _ = call(flow, "1")
    state, commands, _ = step(flow, state, DialDone(NOW, "completed"))
    assert state.node == "main" and isinstance(commands[-1], Gather)


def test_step_does_not_change_its_input(flow):
    state, _ = call(flow, "1", "1")
    before = encode_state(state)
    step(flow, state, Digits(NOW, "1"))
    assert encode_state(state) == before


def test_state_round_trips_as_small_json(flow):
    state, _ = call(flow, "1", "1", "1")
    assert decode_state(encode_state(state)) == state
    assert len(encode_state(state)) < 400


@pytest.mark.parametrize("data", [None, {}, {"v": 99}, {"v": 1, "f": "demo"}])
def test_state_of_another_version_or_shape_is_refused(data):
    with pytest.raises(ValueError):
        decode_state(json.dumps(data).encode())


@pytest.mark.parametrize("version", [0, 2, 99])
def test_a_state_of_another_schema_version_is_refused_for_its_version(flow, version):
    state, _ = call(flow, "1")
    data = json.loads(encode_state(state))
    assert data["v"] == 1
    data["v"] = version
    with pytest.raises(ValueError, match="unknown schema version"):
        decode_state(json.dumps(data).encode())


def test_flow_is_frozen(flow):
    assert isinstance(flow.nodes, MappingProxyType)
    with pytest.raises(AttributeError):
        flow.start = "elsewhere"  # noqa: the point is that it refuses


def test_phone_reports_where_the_call_is(flow):
    phone = Phone(flow, now=NOW)
    phone.start()
    assert phone.where() == "waiting language"
    phone.press("1")
    phone.press("4")
    assert phone.where() == "record voicemail"
    phone.record(5)
    assert phone.where() == "hangup"


def test_constants_and_today_reach_templates_and_confirmation_numbers_are_stable():
    text = """
flow: ride
start: book
settings: {keys: {operator: null}}
values: {notice_days: "2"}
nodes:
  book:
    action: book_ride
    params: {summary: "notice {{ notice_days }} from {{ today }}", callback: "+16265550123", appt_date: "2026-12-01",
             appt_time: "0930"}
    next: done
  done:
    hangup: "Your confirmation number is {{ confirmation | spoken_digits }}."
"""
    flow, problems = lint_text(text, "ride.yaml")
    assert flow is not None, problems
    first, commands, _ = step(flow, None, CallStarted(NOW, call="CA" + "1" * 32))
    again, _, _ = step(flow, None, CallStarted(NOW, call="CA" + "1" * 32))
    other, _, _ = step(flow, None, CallStarted(NOW, call="CA" + "2" * 32))
    effect = commands[0]
    number = first.answers["confirmation"]
    assert effect.params == (("summary", "notice 2 from 2026-11-25"), ("callback", "+16265550123"),
                             ("appt_date", "2026-12-01"), ("appt_time", "0930"), ("lang", "en"),
                             ("confirmation", number))
    assert len(number) == 8 and number == again.answers["confirmation"] != other.answers["confirmation"]
    assert texts(commands) == [f"Your confirmation number is {' '.join(number)}."]


DATE_FLOW = """
flow: dates
start: when
settings:
  keys: {operator: null}
nodes:
  when:
    ask: "Enter the month and day."
    expect: digits
    min_length: 4
    max_length: 4
    validate: future_date_mmdd
    save: day
    next: done
  done:
    hangup: "Today is {{ today }}; you chose {{ day }}."
"""


@pytest.mark.parametrize("moment", [
    datetime(2026, 12, 1, 1, 30, tzinfo=timezone.utc),  # 17:30 on Nov 30 in California
    datetime(2026, 11, 30, 17, 30, tzinfo=ZoneInfo("America/Los_Angeles")),
    datetime(2026, 11, 30, 20, 30, tzinfo=ZoneInfo("America/New_York")),
])
def test_today_is_the_lines_whatever_zone_the_event_comes_in(moment):
    flow, problems = lint_text(DATE_FLOW, "dates.yaml")
    assert flow is not None, problems
    assert flow.calendar.timezone == "America/Los_Angeles"
    state, _, _ = step(flow, None, CallStarted(moment))
    state, commands, happened = step(flow, state, Digits(moment, "1130"))
    assert state.answers["day"] == "2026-11-30"
    assert texts(commands) == ["Today is 2026-11-30; you chose 2026-11-30."]
    assert [h.brief() for h in happened] == ["answer:day", "ended:when"]


def test_before_a_language_is_chosen_system_phrases_and_transfers_are_in_each_language(flow):
    state, commands = call(flow, "-")
    assert texts(commands)[:2] == ["Sorry, I didn't hear anything. Take your time.",
                                   "Perdón, no recibí ninguna respuesta. Tómese su tiempo."]
    state, commands = call(flow, "-", "-")
    assert state.node == "operator" and isinstance(commands[-1], Dial)
    assert texts(commands)[:2] == [BUILT_IN["too_many_tries"]["en"], BUILT_IN["too_many_tries"]["es"]]
    whisper = dict(commands[-1].whisper)
    assert whisper["en"].startswith("Support line call. The caller has not chosen English or Spanish.")


def test_choosing_the_first_language_still_counts_as_a_choice(flow):
    state, commands = call(flow, "1")
    assert state.lang == "en" and state.chosen == "caller"
    state, commands = call(flow, "1", "8")
    assert texts(commands) == ["Sorry, that is not one of the choices.", "Guide 1. Read-out 2. Member 3. Message 4."]


def test_a_call_that_comes_with_its_language_skips_the_language_menu():
    text = DEMO.replace('say: {en: "Emergency? Dial 911.", es: "¿Emergencia? Marque 911."}',
                        'say: {en: "Emergency? Dial 911.", es: "¿Emergencia? Marque 911."}\n    every_language: true')
    text = text.replace('menu: {en: "English 1, Spanish 2.", es: "Inglés 1, español 2."}',
                        'menu: {en: "English 1, Spanish 2.", es: "Inglés 1, español 2."}\n    every_language: true')
    flow, problems = lint_text(text, "demo.yaml")
    assert flow is not None, problems
    state, commands, happened = step(flow, None, CallStarted(NOW, lang="es"))
    assert state.node == "main" and state.lang == "es" and state.chosen == "line"
    assert texts(commands) == ["¿Emergencia? Marque 911.", "Guía 1. Lectura 2. Miembro 3. Mensaje 4."]
    # A caller who chose at the menu hears an every_language node in each language again.
    state, commands = call(flow, "2")
    state, commands, _ = step(flow, state, Digits(NOW, "9"))
    assert state.node == "language" and len(texts(commands)) == 2


def test_a_flow_where_nobody_chooses_speaks_its_first_language():
    text = DEMO.replace('"1": {next: main, set: {lang: en}}', '"1": main').replace(
        '"2": {next: main, set: {lang: es}}', '"2": main')
    flow, problems = lint_text(text, "demo.yaml")
    assert flow is not None and not flow.chooses_language, problems
    _, commands, _ = step(flow, None, CallStarted(NOW))
    assert texts(commands) == ["Emergency? Dial 911.", "English 1, Spanish 2."]


TAGLINES = """
flow: taglines
start: language
languages: [en, es]
settings: {keys: {operator: null}}
nodes:
  language:
    menu: {en: "For English, press 1.", es: "Para español, oprima 2."}
    taglines:
      - {say: "如需中文口译服务，请按3。", voice: Polly.Zhiyu, language: cmn-CN}
      - {play: "https://cdn.example.org/tagline-vi.mp3"}
    options:
      "1": {next: bye, set: {lang: en}}
      "2": {next: bye, set: {lang: es}}
      "3": hold
  hold:
    say: {en: "Please hold.", es: "Por favor, espere."}
    taglines: [{say: "请不要挂机。", voice: Polly.Zhiyu, language: cmn-CN}]
    next: bye
  bye:
    hangup: {en: "Goodbye.", es: "Adiós."}
"""


def test_taglines_follow_a_prompt_each_in_its_own_voice(assert_valid_twiml):
    from ivr.telephony.twiml import render
    from ivr.web.urls import turn_urls

    flow, problems = lint_text(TAGLINES, "taglines.yaml")
    assert flow is not None, problems
    _, commands, _ = step(flow, None, CallStarted(NOW))
    gather = commands[-1]
    assert gather.prompts[2:] == (Say("如需中文口译服务，请按3。", "Polly.Zhiyu", "cmn-CN"),
                                  Play("https://cdn.example.org/tagline-vi.mp3"))
    assert_valid_twiml(render(commands, turn_urls(0)))
    state, commands = call(flow, "3")
    assert texts(commands) == ["Please hold.", "Por favor, espere.", "请不要挂机。", "Goodbye.", "Adiós."]


@pytest.mark.parametrize("tagline, message", [
    ('{say: "x", voice: Google.cmn-CN-Standard-A, language: cmn-CN}', 'is not a voice Twilio\'s schema accepts'),
    ('{say: "x", voice: Polly.Zhiyu, language: chinese}', 'is not a language tag such as cmn-CN'),
    ('{say: "x", voice: Polly.Zhiyu}', "needs language"),
    ('{play: "http://cdn.example.org/a.mp3"}', "which is not an https URL"),
    ('{play: "https://cdn.example.org/a.mp3", voice: Polly.Zhiyu}', 'so it takes no "voice"'),
])
def test_bad_taglines_are_errors(tagline, message):
    text = TAGLINES.replace('[{say: "请不要挂机。", voice: Polly.Zhiyu, language: cmn-CN}]', f"[{tagline}]")
    flow, problems = lint_text(text, "taglines.yaml")
    assert flow is None and any(message in p.message for p in problems), problems


def test_digit_entries_wait_their_own_time_and_the_warning_can_be_turned_off():
    text = DEMO.replace("  retries: 1\n", "  retries: 1\n  timeout: 8\n  digits_timeout: 10\n  warn_after: 0\n")
    flow, problems = lint_text(text, "demo.yaml")
    assert flow is not None, problems
    _, commands = call(flow, "1")
    assert commands[-1].timeout == 8
    _, commands = call(flow, "1", "3")
    assert commands[-1].timeout == 10 and texts(commands) == ["Enter the member ID, then pound."]


@pytest.mark.parametrize("validator, digits, message", [
    ("ca_zip", "10001", "not_california"),
    ("ca_zip", "9001", "invalid_zip"),
    ("zip", "9001", "invalid_zip"),
    ("dob", "13011950", "invalid_dob"),
    ("future_date_mmdd", "1324", "invalid_date"),
    ("time_hhmm", "2460", "invalid_time"),
    ("phone", "0265550123", "invalid_phone"),
    (None, "x", "invalid_entry"),
])
def test_each_validator_says_what_was_wrong(validator, digits, message):
    from ivr.flows.validators import problem

    assert problem(validator, digits, NOW) == message
    assert message in BUILT_IN


def test_a_zip_outside_california_is_named_as_such():
    text = """
flow: zip
start: zip
settings: {keys: {operator: null}}
nodes:
  zip:
    ask: "Enter the pickup ZIP code."
    expect: digits
    validate: ca_zip
    save: zip
    next: bye
  bye:
    hangup: "Goodbye."
"""
    flow, problems = lint_text(text, "zip.yaml")
    assert flow is not None, problems
    _, commands = call(flow, "10001")
    assert texts(commands)[0] == "That ZIP code is not in California. We can only pick up members in California."


def test_a_transfer_keeps_its_details_for_after_the_coordinator_accepts():
    text = DEMO.replace('    whisper: {en: "Suggested: {{ recommendation }}.", es: "Sugerido: {{ recommendation }}."}',
                        '    whisper: {en: "Suggested: {{ recommendation }}.", es: "Sugerido: {{ recommendation }}."}\n'
                        '    details: {en: "Chronic: {{ chronic }}.", es: "Crónicas: {{ chronic }}."}')
    flow, problems = lint_text(text, "demo.yaml")
    assert flow is not None, problems
    _, commands = call(flow, "1", "1", "1", "1")
    dial = commands[-1]
    assert dial.details == (("en", "Chronic: yes."), ("es", "Crónicas: yes."))
    assert all("Chronic" not in text for _, text in dial.whisper)


def test_with_nobody_to_reach_the_line_promises_no_one():
    text = """
flow: alone
start: menu
settings: {keys: {operator: null}, retries: 0}
nodes:
  menu:
    menu: "For our hours, press 1."
    options: {"1": hours}
  hours:
    hangup: "We are open from 9 to 5."
"""
    flow, problems = lint_text(text, "alone.yaml")
    assert flow is not None, problems
    state, commands = call(flow, "7")
    assert texts(commands) == [BUILT_IN["too_many_tries"]["en"], BUILT_IN["call_back_later"]["en"]]
    assert state.ended and not any("connect" in t for t in texts(commands))


@pytest.mark.parametrize("fallback, then", [("+16265550100", "Let me connect you"), (None, "call again")])
def test_the_services_apology_says_what_comes_next(fallback, then):
    from ivr.web.turns import apology_says

    says = apology_says(fallback)
    assert [s.language for s in says] == ["en-US", "es-US"] and then in says[0].text


HOURS_FLOW = """
flow: hours
start: check
settings: {keys: {operator: null}}
values:
  notice_days: {lacare: {walks: "2", wheelchair: "5"}, other: {walks: "7", wheelchair: "10"}}
teams:
  always: ["+16265550101"]
nodes:
  check:
    decide:
      - when: "not is_open('office')"
        next: closed
    default: open
  closed:
    hangup: "We are closed. We are open {{ team_hours('office') }}. Notice: {{ notice_days['other']['wheelchair'] }}."
  open:
    hangup: "We are open. {{ team_hours('always') }}; {{ is_open('nobody') }}."
"""


TEAMS_TEXT = """
timezone: America/Los_Angeles
teams:
  office:
    hours: {mon-fri: "08:00-18:00"}
    members: [{name: Ana, phone: "+16265550131"}]
"""


def _with_teams(text):
    from ivr.flows.teams_loader import lint_teams_text

    teams, problems = lint_teams_text(TEAMS_TEXT, "teams.yaml")
    assert teams is not None, problems
    flow, problems = lint_text(text, "hours.yaml", teams)
    assert flow is not None, problems
    return flow


@pytest.mark.parametrize("moment, heard", [
    (datetime(2026, 11, 25, 21, 0, tzinfo=ZoneInfo("America/Los_Angeles")),
     "We are closed. We are open Monday to Friday, from 8 AM to 6 PM. Notice: 10."),
    (datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles")),
     "We are open. every day, at any hour; False."),
])
def test_templates_know_whether_a_team_is_open_its_hours_and_tables_of_values(moment, heard):
    flow = _with_teams(HOURS_FLOW)
    _, commands, _ = step(flow, None, CallStarted(moment))
    assert texts(commands) == [heard]


def test_a_closed_transfer_says_the_teams_hours_before_when_it_opens():
    text = HOURS_FLOW.replace("""  check:
    decide:
      - when: "not is_open('office')"
        next: closed
    default: open""", """  check:
    transfer: office
    closed: open""")
    flow = _with_teams(text)
    _, commands, _ = step(flow, None, CallStarted(datetime(2026, 11, 25, 21, 0, tzinfo=ZoneInfo("America/Los_Angeles"))))
    assert texts(commands)[:3] == [BUILT_IN["team_closed"]["en"], "We are open Monday to Friday, from 8 AM to 6 PM.",
                                   "We open again tomorrow at 8 AM."]


def test_an_optional_entry_left_blank_goes_on():
    text = DEMO.replace("    validate: member_id\n", "    validate: member_id\n    optional: true\n")
    flow, problems = lint_text(text, "demo.yaml")
    assert flow is not None, problems
    state, _ = call(flow, "1", "3", "-")
    assert state.answers["member_id"] == "" and state.node == "date"
    state, _ = call(flow, "1", "3", "12345678", "1")
    assert state.answers["member_id"] == "12345678"


def test_a_decision_is_an_event_naming_where_it_led(flow):
    state, _ = call(flow, "1", "1", "1")
    _, _, happened = step(flow, state, Digits(NOW, "2"))
    assert "decide:recommend:ecm" in [h.brief() for h in happened]


def test_an_apology_with_no_operator_to_reach_promises_no_one():
    looping = """
flow: loop
start: a
settings:
  keys: {operator: null}
nodes:
  a: {decide: [{when: "true", next: b}], default: b}
  b: {decide: [{when: "true", next: a}], default: a}
"""
    flow, problems = lint_text(looping, "loop.yaml")
    assert flow is not None, [str(p) for p in problems]
    state, commands, happened = step(flow, None, CallStarted(NOW))
    spoken = " ".join(texts(commands))
    assert "connect you" not in spoken and "call again" in spoken and "911" in spoken
    assert isinstance(commands[-1], Hangup) and state.ended
    assert [h.brief() for h in happened if not h.brief().startswith("decide:")] == ["apology:loop", "ended:"]


VOICEMAIL_FLOW = """
flow: vm
start: menu
settings:
  keys: {operator: null}
teams: {desk: ["+16266696777"]}
nodes:
  menu:
    menu: "For rides, press 1."
    options:
      "1": {next: desk, set: {topic: rides}}
  desk:
    transfer: desk
    whisper: "The caller wants {{ topic }}."
    details: "More after you accept."
    no_answer: message
  message:
    record: "Leave a message."
    save: voicemail
    next: keep
  keep:
    action: save_voicemail
    params: {team: "{{ transfer_team }}", recording: "{{ voicemail }}", summary: "Voice message."}
    next: bye
  bye:
    hangup: "Goodbye."
"""


def test_a_message_left_after_a_transfer_says_first_what_the_coordinators_would_have_heard():
    flow, problems = lint_text(VOICEMAIL_FLOW, "vm.yaml")
    assert flow is not None, [str(p) for p in problems]
    state, _, _ = step(flow, None, CallStarted(NOW))
    state, commands, _ = step(flow, state, Digits(NOW, "1"))
    dial = commands[-1]
    assert isinstance(dial, Dial) and dial.whisper[0][1].endswith(
        "The caller wants rides. You will hear the caller's answers after you accept. "
        "To take the call, press 1. To decline, hang up.")
    state, _, _ = step(flow, state, DialDone(NOW, "no-answer"))
    state, commands, _ = step(flow, state, RecordingDone(NOW, "https://api.example/rec/RE1", 9))
    effect = next(c for c in commands if isinstance(c, Effect))
    assert dict(effect.params)["summary"] == "The caller wants rides. Voice message."
    assert "More after you accept." not in dict(effect.params)["summary"]
