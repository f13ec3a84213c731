"""The shipped flows lint clean and every call script under flows/tests passes."""

from __future__ import annotations

import pytest
from twilio_sim import FLOWS

from ivr.tools import callscripts
from ivr.flows.loader import flow_files, lint_file


def _cases():
    cache: dict = {}
    out = []
    for path in callscripts.script_files([FLOWS]):
        cases, problems = callscripts.load_script(path, cache)
        out.extend(pytest.param(problem, id=f"{path.name}:problem") for problem in problems)
        out.extend(pytest.param(case, id=f"{path.name}:{case.name}") for case in cases)
    return out


@pytest.mark.parametrize("path", flow_files([FLOWS]), ids=lambda p: p.name)
def test_shipped_flow_lints_clean(path):
    flow, problems = lint_file(path)
    assert [str(p) for p in problems] == []
    assert flow is not None


@pytest.mark.parametrize("case", _cases())
def test_call_script(case):
    assert not isinstance(case, callscripts.Problem), str(case)
    assert callscripts.run_case(case) == []


def test_every_recommendation_is_reached_in_both_languages():
    reached = set()
    for param in _cases():
        case = param.values[0]
        if isinstance(case, callscripts.Case) and case.flow.id == "support-line":
            _, phone = callscripts.play_case(case)
            reached.add((phone.state.lang, phone.state.answers.get("recommendation")))
    recommendations = ("ecm", "other_help", "case_management", "unsure", "no_plan", "excluded")
    wanted = {(lang, rec) for lang in ("en", "es") for rec in recommendations}
    assert wanted <= reached


def test_every_branch_of_the_guide_is_taken_in_both_languages():
    """Each branch of every decide node between the guide's start and its end, in English and Spanish."""
    taken: set[tuple[str, str, str]] = set()
    flow = None
    for param in _cases():
        case = param.values[0]
        if isinstance(case, callscripts.Case) and case.flow.id == "support-line":
            flow = case.flow
            _, phone = callscripts.play_case(case)
            taken |= {(node, nxt, phone.state.lang) for node, nxt in phone.decisions}
    assert flow is not None
    guide = [n for n in flow.nodes if n.startswith(("after_", "er_by_age", "recommend", "ecm_check", "other_help"))
             and flow.nodes[n].kind == "decide" and not n.startswith("after_guide")]
    wanted = {(n, target, lang) for n in guide
              for target in [b.next for b in flow.nodes[n].branches] + [flow.nodes[n].default]
              for lang in flow.languages}
    assert sorted(wanted - taken) == []


def test_every_waiting_node_is_reached_in_both_languages():
    seen: set[tuple[str, str]] = set()
    flow = None
    for param in _cases():
        case = param.values[0]
        if isinstance(case, callscripts.Case) and case.flow.id == "support-line":
            flow = case.flow
            seen |= callscripts.play_case(case)[1].visited
    assert flow is not None
    waiting = {node_id for node_id, node in flow.nodes.items()
               if node.kind in ("menu", "ask", "transfer", "record") or getattr(node, "sections", ())[1:]}
    first = callscripts.Phone(flow, now=callscripts.DEFAULT_NOW)
    first.start()  # the first prompt (the language menu) is heard before any language is chosen
    wanted = {(node_id, lang) for node_id in waiting for lang in flow.languages if node_id != first.state.node}
    assert sorted(wanted - seen) == []
