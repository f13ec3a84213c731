"""The TwiML renderer: exact output for typical turns, and every combination passes twiml.xsd."""

from __future__ import annotations

import itertools

import pytest

from ivr.engine.commands import Dial, Effect, Gather, Hangup, Pause, Play, Record, Say
from ivr.telephony.twiml import TurnUrls, render, render_apology

HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
URLS = TurnUrls(
    gather="https://ivr.example.org/call/gather?n=1",
    no_input="https://ivr.example.org/call/silence?n=1",
    dial="https://ivr.example.org/call/dialed",
    record="https://ivr.example.org/call/recorded",
    whisper="https://ivr.example.org/call/whisper?team=coordinators",
)
VOICES = {"en": ("Polly.Joanna", "en-US"), "es": ("Polly.Lupe", "es-US")}
TEXT = {"en": "Press 1 for rides & 2 for <help>.", "es": "Para viajes, oprima 1; ayuda, 2."}


def say(lang: str, text: str | None = None) -> Say:
    voice, language = VOICES[lang]
    return Say(text or TEXT[lang], voice, language)


def test_gather_turn_exact():
    """What comes before a Gather goes inside it: keys pressed during a welcome are not lost."""
    commands = (
        say("en", "Welcome."),
        Gather(prompts=(say("en", "For rides, press 2."), Pause(1)), timeout=6, num_digits=1),
    )
    assert render(commands, URLS) == (
        HEAD + "<Response>"
        '<Gather action="https://ivr.example.org/call/gather?n=1" finishOnKey="#"'
        ' method="POST" numDigits="1" timeout="6">'
        '<Say language="en-US" voice="Polly.Joanna">Welcome.</Say>'
        '<Say language="en-US" voice="Polly.Joanna">For rides, press 2.</Say>'
        '<Pause length="1" />'
        "</Gather>"
        '<Redirect method="POST">https://ivr.example.org/call/silence?n=1</Redirect>'
        "</Response>"
    )


def test_dial_turn_exact():
    commands = (
        say("es", "Le comunico."),
        Dial("coordinators", ("+16266696777", "+16265550123"), timeout=25, language="es"),
    )
    assert render(commands, URLS) == (
        HEAD + "<Response>"
        '<Say language="es-US" voice="Polly.Lupe">Le comunico.</Say>'
        '<Dial action="https://ivr.example.org/call/dialed" answerOnBridge="true"'
        ' method="POST" timeout="25">'
        '<Number method="POST" url="https://ivr.example.org/call/whisper?team=coordinators">'
        "+16266696777</Number>"
        '<Number method="POST" url="https://ivr.example.org/call/whisper?team=coordinators">'
        "+16265550123</Number>"
        "</Dial>"
        "</Response>"
    )


def test_record_turn_exact():
    commands = (Record(max_length=120, timeout=7, finish_on_key="*", play_beep=False),)
    assert render(commands, URLS) == (
        HEAD + "<Response>"
        '<Record action="https://ivr.example.org/call/recorded" finishOnKey="*"'
        ' maxLength="120" method="POST" playBeep="false" timeout="7" />'
        '<Redirect method="POST">https://ivr.example.org/call/silence?n=1</Redirect>'
        "</Response>"
    )


def test_turn_without_waiting_command_hangs_up_exact():
    commands = (say("en", "Goodbye."), Effect("send_text", "CA1:goodbye", (("body", "hi"),)))
    assert render(commands, URLS) == (
        HEAD + "<Response>"
        '<Say language="en-US" voice="Polly.Joanna">Goodbye.</Say>'
        "<Hangup />"
        "</Response>"
    )


def test_apology_with_fallback_exact():
    document = render_apology([Say("Sorry, something went wrong.", "Polly.Joanna", "en-US")], "+16266696777")
    assert document == (
        HEAD + "<Response>"
        '<Say language="en-US" voice="Polly.Joanna">Sorry, something went wrong.</Say>'
        '<Dial answerOnBridge="true"><Number>+16266696777</Number></Dial>'
        "<Hangup />"
        "</Response>"
    )


def test_apology_without_fallback_exact():
    assert render_apology([Say("Lo sentimos.", "Polly.Lupe", "es-US")], None) == (
        HEAD + "<Response>"
        '<Say language="es-US" voice="Polly.Lupe">Lo sentimos.</Say>'
        "<Hangup />"
        "</Response>"
    )


def _verbs(root) -> list[str]:
    return [child.tag for child in root]


def _leads(lang: str) -> dict[str, tuple]:
    return {
        "none": (),
        "say": (say(lang),),
        "play+pause": (Play("https://cdn.example.org/hold.mp3"), Pause(2)),
        "say+effect+say": (say(lang), Effect("send_text", "k1"), say(lang, "Bye.")),
    }


def _endings(lang: str) -> dict[str, tuple]:
    return {
        "nothing": (),
        "hangup": (Hangup(),),
        "gather-digits": (
            Gather((say(lang), Play("https://cdn.example.org/a.mp3"), Pause(1)), timeout=6),
        ),
        "gather-1": (Gather((say(lang),), timeout=5, num_digits=1, finish_on_key=""),),
        "gather-empty": (Gather((), timeout=3, num_digits=4),),
        "dial-1": (Dial("t", ("+16266696777",), timeout=20, language=lang),),
        "dial-10": (
            Dial("t", tuple(f"+1626555{n:04d}" for n in range(10)), timeout=30, language=lang),
        ),
        "record": (Record(max_length=60),),
        "record-quiet": (Record(max_length=300, timeout=10, finish_on_key="1", play_beep=False),),
        "effect-then-gather": (Effect("book_ride", "k2"), Gather((say(lang),), timeout=6)),
    }


CASES = [
    pytest.param(lang, lead, end, id=f"{lang}-{lead}-{end}")
    for lang in VOICES
    for lead, end in itertools.product(_leads("en"), _endings("en"))
]
WHISPERS = pytest.mark.parametrize("whisper", [URLS.whisper, None], ids=["whisper", "plain"])
WAITING_TAGS = {"Gather", "Dial", "Record"}


@WHISPERS
@pytest.mark.parametrize(("lang", "lead", "end"), CASES)
def test_every_combination_passes_the_schema(assert_valid_twiml, lang, lead, end, whisper):
    urls = TurnUrls(URLS.gather, URLS.no_input, URLS.dial, URLS.record, whisper)
    commands = _leads(lang)[lead] + _endings(lang)[end]
    root = assert_valid_twiml(render(commands, urls))

    tags = _verbs(root)
    spoken = [c for c in commands if isinstance(c, (Say, Play, Pause))]
    waiting = [c for c in commands if isinstance(c, (Gather, Dial, Record))]
    if waiting and isinstance(waiting[0], Gather):  # prompts before a Gather go first inside it
        nested = [child.tag for child in root.find("Gather")]
        assert nested[: len(spoken)] == [type(c).__name__ for c in spoken]
        spoken = []
    assert tags[: len(spoken)] == [type(c).__name__ for c in spoken]
    rest = tags[len(spoken) :]
    if not waiting:
        assert rest == ["Hangup"]
    elif isinstance(waiting[0], (Gather, Record)):
        assert rest == [type(waiting[0]).__name__, "Redirect"]
        assert root[-1].text == URLS.no_input
        assert root[-1].get("method") == "POST"
    else:
        assert rest == [type(waiting[0]).__name__]
    for element in root.iter("Say"):
        assert (element.get("voice"), element.get("language")) == VOICES[lang]
    for number in root.iter("Number"):
        assert number.get("url") == whisper


def test_gather_nests_its_prompts_in_order(assert_valid_twiml):
    gather = Gather((say("en", "One."), Pause(2), Play("https://cdn.example.org/b.wav")), timeout=4)
    root = assert_valid_twiml(render((gather,), URLS))
    nested = root.find("Gather")
    assert [child.tag for child in nested] == ["Say", "Pause", "Play"]
    assert nested[0].text == "One."
    assert nested[1].get("length") == "2"
    assert nested[2].text == "https://cdn.example.org/b.wav"
    assert nested.get("numDigits") is None  # unlimited: the gather ends on finishOnKey
    assert nested.get("action") == URLS.gather


def test_numbers_have_no_url_without_whisper(assert_valid_twiml):
    urls = TurnUrls(URLS.gather, URLS.no_input, URLS.dial, URLS.record)
    root = assert_valid_twiml(render((Dial("t", ("+16266696777",), 20, "en"),), urls))
    number = root.find("Dial/Number")
    assert number.attrib == {}
    assert number.text == "+16266696777"


def test_effects_alone_hang_up():
    assert render((Effect("send_text", "k"),), URLS) == HEAD + "<Response><Hangup /></Response>"


def test_blank_say_is_dropped(assert_valid_twiml):
    root = assert_valid_twiml(render((say("en", "  "), Hangup()), URLS))
    assert _verbs(root) == ["Hangup"]


@pytest.mark.parametrize(
    "commands",
    [
        (Hangup(), say("en")),
        (Gather((), timeout=5), Hangup()),
        (Record(max_length=5), Dial("t", ("+16266696777",), 20, "en")),
    ],
    ids=["say-after-hangup", "hangup-after-gather", "dial-after-record"],
)
def test_commands_after_the_turn_ends_are_refused(commands):
    with pytest.raises(ValueError, match="ends the turn"):
        render(commands, URLS)


@pytest.mark.parametrize("count", [0, 11])
def test_dial_needs_one_to_ten_numbers(count):
    numbers = tuple(f"+1626555{n:04d}" for n in range(count))
    with pytest.raises(ValueError, match="'t'"):
        render((Dial("t", numbers, 20, "en"),), URLS)


def test_gather_refuses_a_non_prompt():
    with pytest.raises(ValueError, match="only nest"):
        render((Gather((Hangup(),), timeout=5),), URLS)  # type: ignore[arg-type]


def test_non_command_is_refused():
    with pytest.raises(TypeError, match="not a command"):
        render(("hello",), URLS)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", VOICES)
@pytest.mark.parametrize("fallback", ["+16266696777", None])
def test_apology_passes_the_schema(assert_valid_twiml, lang, fallback):
    voice, language = VOICES[lang]
    root = assert_valid_twiml(render_apology([Say(TEXT[lang], voice, language)], fallback))
    assert _verbs(root) == (["Say", "Dial", "Hangup"] if fallback else ["Say", "Hangup"])
    assert root[0].text == TEXT[lang]


def test_accepting_says_the_details_to_the_coordinator_then_bridges(assert_valid_twiml):
    from ivr.telephony.twiml import render_accept

    root = assert_valid_twiml(render_accept(True, say("en", "Mental health or substance use: yes.")))
    assert [child.tag for child in root] == ["Say"] and root[0].text == "Mental health or substance use: yes."
    assert len(assert_valid_twiml(render_accept(True))) == 0
    assert [child.tag for child in assert_valid_twiml(render_accept(False, say("en")))] == ["Hangup"]
