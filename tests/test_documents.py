"""The turn documents: rendered once per set of prompts, but never kept when made from answers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from ivr.engine.events import CallStarted, Digits
from ivr.engine.step import step
from ivr.flows.loader import lint_text
from ivr.web import documents

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=timezone.utc)
DEMO = (Path(__file__).parent / "flows" / "demo.yaml").read_text()


def test_a_read_back_of_a_member_id_is_rendered_but_never_cached(assert_valid_twiml):
    flow, problems = lint_text(DEMO, "demo.yaml")
    assert problems == []
    documents._rendered.cache_clear()
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
    assert documents._rendered.cache_info().currsize == plain  # nothing new was kept
    again = documents.turn(commands, state.turn)
    assert again == body and documents._rendered.cache_info().currsize == plain


def test_the_same_prompts_at_another_turn_share_one_rendering():
    flow, _ = lint_text(DEMO, "demo.yaml")
    documents._rendered.cache_clear()
    _, commands, _ = step(flow, None, CallStarted(NOW))
    first, later = documents.turn(commands, 0), documents.turn(commands, 7)
    assert documents._rendered.cache_info().hits == 1
    assert first.replace("t=0", "t=7") == later and "t=0" not in later
