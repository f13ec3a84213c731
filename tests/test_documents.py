"""The turn documents: rendered once per set of prompts, but never kept when made from answers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ivr.engine.events import CallStarted, Digits
from ivr.engine.step import step
from ivr.flows.loader import lint_text
from ivr.engine.commands import Gather, Hangup, Say
from ivr.telephony import twiml
from ivr.web import documents, urls

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=timezone.utc)
DEMO = (Path(__file__).parent / "flows" / "demo.yaml").read_text()


def test_a_read_back_of_a_member_id_is_never_cached_only_its_turn_with_a_blank(assert_valid_twiml, monkeypatch):
    flow, problems = lint_text(DEMO, "demo.yaml")
    assert problems == []
    documents._rendered.cache_clear()
    rendered: list[str] = []  # every document the cache could keep
    real = twiml.render
    monkeypatch.setattr(twiml, "render", lambda *args: rendered.append(real(*args)) or rendered[-1])
    state, commands, _ = step(flow, None, CallStarted(NOW))
    documents.turn(commands, state.turn)
    for keys in ("1", "3"):
        state, commands, _ = step(flow, state, Digits(NOW, keys))
        documents.turn(commands, state.turn)
    plain = documents._rendered.cache_info().currsize
    assert plain == 3  # the language menu, the main menu and the member id question

    state, commands, _ = step(flow, state, Digits(NOW, "12345678"))
    body = documents.turn(commands, state.turn)
    assert "1 2 3 4, 5 6 7 8" in body and f"t={state.turn}" in body
    assert_valid_twiml(body)
    assert documents.personal(commands)
    assert documents._rendered.cache_info().currsize == plain + 1  # the read-back's turn, with a blank
    assert not any("1 2 3 4" in doc or "5 6 7 8" in doc for doc in rendered)
    again = documents.turn(commands, state.turn)
    assert again == body and documents._rendered.cache_info().hits >= 1
    assert body == real(commands, urls.turn_urls(state.turn))  # as if rendered afresh


def test_the_same_prompts_at_another_turn_share_one_rendering():
    flow, _ = lint_text(DEMO, "demo.yaml")
    documents._rendered.cache_clear()
    _, commands, _ = step(flow, None, CallStarted(NOW))
    first, later = documents.turn(commands, 0), documents.turn(commands, 7)
    assert documents._rendered.cache_info().hits == 1
    assert first.replace("t=0", "t=7") == later and "t=0" not in later


def test_a_template_that_reads_only_the_flows_constants_is_cached_one_that_reads_an_answer_is_not():
    text = """
flow: t
start: menu
settings:
  keys: {operator: null}
values: {line_name: "the care line"}
nodes:
  menu:
    menu: "Welcome to {{ line_name }}. For your number, press 1."
    options:
      "1": {next: number}
  number:
    ask: "Enter a number."
    expect: digits
    save: n
    next: said
  said:
    say: "You keyed {{ n }}, on {{ line_name }}."
    next: bye
  bye:
    hangup: "Goodbye."
"""
    flow, problems = lint_text(text, "t.yaml")
    assert flow is not None, problems
    documents._rendered.cache_clear()
    state, commands, _ = step(flow, None, CallStarted(NOW))
    assert not documents.personal(commands)
    documents.turn(commands, state.turn)
    assert documents._rendered.cache_info().currsize == 1
    state, commands, _ = step(flow, state, Digits(NOW, "1"))
    documents.turn(commands, state.turn)
    state, commands, _ = step(flow, state, Digits(NOW, "42"))
    assert documents.personal(commands) and "You keyed 42" in documents.turn(commands, state.turn)
    assert documents._rendered.cache_info().currsize == 3  # the answer's echo only as a blank


@given(st.lists(st.text(st.characters(), max_size=40) | st.sampled_from(["\ud800", "a\udfff", " "]), min_size=1,
                max_size=3), st.text(max_size=20), st.integers(0, 999))
def test_a_turn_with_personal_prompts_reads_as_if_rendered_afresh(texts, plain, number):
    says = tuple(Say(text, "Polly.Joanna", "en-US", personal=True) for text in texts)
    for commands in ((*says, Say(plain, "Polly.Joanna", "en-US"), Hangup()),
                     (Gather((says[0], Say(plain, "Polly.Lupe", "es-US"), *says[1:]), timeout=5),)):
        assert documents.turn(commands, number) == twiml.render(commands, urls.turn_urls(number))
