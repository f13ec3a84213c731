"""A broken flow file never takes the line down: the last good versions are kept in the store and served."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from twilio_sim import FLOWS, Call, FakeClock, says

from ivr.flows.problems import FlowError
from ivr.stores import from_url
from ivr.web import registry as registry_module
from ivr.web.registry import LAST_GOOD, FlowRegistry

WELCOME = "Thank you for calling CareLine's care coordination line."
TYPO = ('"3": coordinator\n', '"3": coordinatr\n')


@pytest.fixture
def flows_copy(tmp_path):
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder, ignore=shutil.ignore_patterns("tests"))
    return folder


def break_flow(folder) -> int:
    """Put a typo in the shipped flow (an option leading nowhere); returns its line."""
    path = folder / "support-line.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(TYPO[0]) == 1
    path.write_text(text.replace(*TYPO), encoding="utf-8")
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "coordinatr" in line)


def test_a_restart_with_a_broken_file_on_disk_serves_the_last_good_version(make_app, flows_copy, caplog):
    first = make_app(IVR_FLOWS_DIR=str(flows_copy))
    good = first.extensions["ivr"].registry.current["support-line"].version
    line = break_flow(flows_copy)

    with caplog.at_level(logging.INFO, logger="ivr.flows"):
        second = make_app(IVR_FLOWS_DIR=str(flows_copy))  # a replaced worker, or the whole service restarted
    registry = second.extensions["ivr"].registry
    assert registry.current["support-line"].version == good
    errors = [r.getMessage() for r in caplog.records if r.name == "ivr.flows" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"support-line.yaml:{line}:" in errors[0] and errors[0].endswith("[unknown-target]")
    call = Call(second)
    call.start()
    assert WELCOME in " ".join(says(call.press("1")))
    health = second.test_client().get("/healthz")
    assert health.status_code == 200  # a typo the hosts survive must not pull them from the load balancer
    assert len(health.get_json()["flow_problems"]) == 1


def test_a_broken_teams_file_at_start_also_falls_back(make_app, flows_copy):
    first = make_app(IVR_FLOWS_DIR=str(flows_copy))
    good = first.extensions["ivr"].registry.current["support-line"]
    (flows_copy / "teams.yaml").write_text("timezone: Mars/Olympus_Mons\nteams: {}\n")
    second = make_app(IVR_FLOWS_DIR=str(flows_copy))
    kept = second.extensions["ivr"].registry.current["support-line"]
    assert kept.version == good.version and kept.teams == good.teams


def test_start_up_refuses_only_when_no_good_version_ever_existed(make_app, flows_copy):
    break_flow(flows_copy)
    with pytest.raises(FlowError) as refused:
        make_app(IVR_FLOWS_DIR=str(flows_copy))
    assert "[unknown-target]" in str(refused.value)


def test_a_good_edit_becomes_the_last_good_version(make_app, flows_copy):
    app = make_app(IVR_FLOWS_DIR=str(flows_copy))
    path = flows_copy / "support-line.yaml"
    path.write_text(path.read_text().replace(WELCOME, "Thank you for calling the family support line."))
    registry = app.extensions["ivr"].registry
    assert registry.reload()
    kept = json.loads(app.extensions["ivr"].store.get_value(LAST_GOOD))
    assert "Thank you for calling the family support line." in kept["support-line"]["flow"]
    break_flow(flows_copy)
    assert not registry.reload()
    kept_after = json.loads(app.extensions["ivr"].store.get_value(LAST_GOOD))
    assert kept_after == kept  # a broken edit replaces nothing


def test_versions_calls_used_lately_are_republished_and_others_let_go(tmp_path, flows_copy):
    store = from_url(None, str(tmp_path))
    clock = FakeClock(1000.0)
    registry = FlowRegistry(flows_copy, store, clock=clock)
    registry.load()
    old = registry.current["support-line"]
    put = []
    real_put = store.put_value
    store.put_value = lambda name, blob, ttl: put.append((name, ttl)) or real_put(name, blob, ttl)
    registry.get("support-line", old.version)  # a turn of a live call
    clock.advance(registry_module.REPUBLISH_SECONDS)
    registry.republish(clock())
    assert (f"flow:{old.version}", registry_module.SOURCE_TTL) in put
    put.clear()
    # An edit: the old version is no longer current, and no call has used it for longer than a call lives.
    path = flows_copy / "support-line.yaml"
    path.write_text(path.read_text().replace(WELCOME, "Thank you for calling the family support line."))
    assert registry.reload()
    put.clear()
    clock.advance(registry_module.IN_USE_SECONDS + 1)
    registry.republish(clock())
    assert [name for name, _ in put] == [f"flow:{registry.current['support-line'].version}"]
    store.close()
