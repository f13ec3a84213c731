"""Every node of every shipped flow, in every language, renders TwiML that Twilio's XSD accepts."""

from __future__ import annotations

import pytest
from twiml_schema import assert_valid_twiml
from twilio_sim import AFTER_HOURS, FLOWS, OPEN_HOURS

from ivr.web.urls import turn_urls
from ivr.engine.step import new_state, walk_from
from ivr.engine.events import NoInput
from ivr.flows.loader import flow_files, load_flow
from ivr.telephony.twiml import render

SHIPPED = [load_flow(path) for path in flow_files([FLOWS])]
MOMENTS = {"open": OPEN_HOURS, "closed": AFTER_HOURS}
CASES = [pytest.param(flow, node_id, lang, moment, id=f"{flow.id}:{node_id}:{lang}:{moment}")
         for flow in SHIPPED for node_id in flow.nodes for lang in flow.languages for moment in MOMENTS]


@pytest.mark.parametrize("flow, node_id, lang, moment", CASES)
def test_node_renders_valid_twiml(flow, node_id, lang, moment):
    state = new_state(flow, lang)
    state.answers["caller_id"] = "+15555550100"
    _, commands, _ = walk_from(flow, state, node_id, NoInput(MOMENTS[moment]))
    assert_valid_twiml(render(commands, turn_urls(state.turn)))
