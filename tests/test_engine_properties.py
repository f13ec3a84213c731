"""Random callers against the shipped flows: the engine never raises, never loops, never strands a caller."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.engine.commands import WAITING, Dial, Gather, Hangup, Record
from ivr.engine.step import MAX_STEPS, decode_state, encode_state, step
from ivr.engine.events import DIAL_STATUSES, CallStarted, DialDone, Digits, NoInput, RecordingDone
from ivr.flows.loader import flow_files, load_flow

HERE = Path(__file__).resolve().parent
FLOWS = [load_flow(path) for path in flow_files([HERE.parent / "flows"]) + [HERE / "flows" / "demo.yaml"]]
START = datetime(2026, 11, 25, 18, 0, tzinfo=timezone.utc)

keys = st.text(alphabet="0123456789*#", min_size=1, max_size=16)
inputs = st.one_of(
    keys.map(lambda k: ("keys", k)),
    st.just(("silence", "")),
    st.sampled_from(sorted(DIAL_STATUSES)).map(lambda s: ("dial", s)),
    st.integers(min_value=0, max_value=600).map(lambda n: ("record", str(n))),
)


def event_for(kind: str, value: str, now: datetime):
    if kind == "keys":
        return Digits(now, value)
    if kind == "silence":
        return NoInput(now)
    if kind == "dial":
        return DialDone(now, value)
    return RecordingDone(now, "https://api.example/rec/RE1", int(value))


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.id)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lang=st.sampled_from([None, "en", "es"]), sequence=st.lists(inputs, max_size=40),
       days=st.integers(min_value=0, max_value=800))
def test_random_callers_always_end_somewhere_sensible(flow, lang, sequence, days):
    now = START + timedelta(days=days)
    state, commands, _ = step(flow, None, CallStarted(now, lang=lang))
    for kind, value in sequence:
        check(flow, state, commands)
        state, commands, _ = step(flow, state, event_for(kind, value, now))
        assert decode_state(encode_state(state)) == state
    check(flow, state, commands)


def check(flow, state, commands):
    """Each response ends in one waiting verb or a hang-up, and the state agrees with it."""
    assert commands, "a response with nothing in it"
    last = commands[-1]
    assert isinstance(last, (*WAITING, Hangup))
    assert sum(isinstance(c, (*WAITING, Hangup)) for c in commands) == 1
    if isinstance(last, Hangup):
        assert state.ended
    else:
        node = flow.nodes[state.node]
        expected = {Gather: ("menu", "ask", "say"), Dial: ("transfer",), Record: ("record",)}[type(last)]
        assert node.kind in expected
    assert len(commands) <= MAX_STEPS + 4
    assert state.lang in flow.languages
