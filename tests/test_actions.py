"""The built-in actions: each one's parameters, answers, record and deliveries are one object's."""

from __future__ import annotations

import json

import pytest

from ivr import records
from ivr.flows.actions import ACTIONS, RIDE, SMS, Action, Delivery, record_kind
from ivr.outbox.worker import SETTING_NAMES, Deliverer
from ivr.stores.protocols import OutboxItem

CALL, KEY, NOW = "CA1", "support-line:book:7:3", 1_796_144_400.0
CALLER = "+16265550123"
# A value for each required parameter that needs a particular form; any other gets its own name.
SAMPLE = {"number": "+16265550142", "callback": "+16265550142", "recording": "https://api.twilio.com/recording/RE1",
          "appt_date": "2026-12-15", "appt_time": "0930"}
SETTINGS = {"RIDES_WEBHOOK_URL": "https://rides.example/hook"}


def requested(action: Action) -> dict[str, str]:
    """The params an effect of this action carries: its required ones, the language, the answers it saved."""
    return {name: SAMPLE.get(name, name) for name in action.required} | {"lang": "en"} | action.answers(CALL, KEY)


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_holds_its_parameters_answers_record_and_deliveries(name):
    action = ACTIONS[name]
    assert isinstance(action, Action) and action.name == name and action.summary
    assert action.required and not action.required & action.optional
    assert action.allowed == action.required | action.optional

    saved = action.answers(CALL, KEY)
    assert set(saved) == action.outputs
    assert action.answers(CALL, KEY) == saved  # a pure function of the call and the key

    params = requested(action)
    record = action.record(f"{CALL}:{KEY}", params, NOW)
    if action.record_type is None:
        assert record is None
    else:
        assert type(record) is action.record_type
        assert (record.id, record.created_at, record.language) == (f"{CALL}:{KEY}", NOW, "en")
        assert records.KINDS[record.kind] is action.record_type
        assert records.from_json(record.to_json()) == record

    deliveries = action.deliveries(params, record, caller=CALLER, now=NOW, settings=SETTINGS)
    assert deliveries == action.deliveries(params, record, caller=CALLER, now=NOW, settings=SETTINGS)
    assert all(isinstance(each, Delivery) and each.kind in (SMS, RIDE) for each in deliveries)
    assert len({each.suffix for each in deliveries}) == len(deliveries)
    for each in deliveries:
        assert isinstance(json.loads(each.payload), dict)


def test_what_each_built_in_leaves_and_sends():
    left = {}
    for name, action in ACTIONS.items():
        params = requested(action)
        record = action.record(f"{CALL}:{KEY}", params, NOW)
        deliveries = action.deliveries(params, record, caller=CALLER, now=NOW, settings=SETTINGS)
        left[name] = (record and record.kind, [(each.suffix, each.kind) for each in deliveries])
    assert left == {
        "send_text": (None, [("sms", "sms")]),
        "book_ride": ("ride", [("sms", "sms"), ("ride", "ride")]),
        "save_voicemail": ("voicemail", []),
        "request_callback": ("callback", []),
    }


def test_the_record_kinds_are_the_actions_records():
    assert records.KINDS == {record_kind(action.record_type): action.record_type for action in ACTIONS.values()
                             if action.record_type is not None}
    assert list(records.KINDS) == ["voicemail", "callback", "ride"]


def test_book_ride_saves_the_confirmation_number_it_always_did():
    assert ACTIONS["book_ride"].answers(CALL, KEY) == {"confirmation": "88737008"}
    assert ACTIONS["book_ride"].answers("CA2", KEY) != ACTIONS["book_ride"].answers(CALL, KEY)
    assert ACTIONS["book_ride"].answers(CALL, KEY + "0") != ACTIONS["book_ride"].answers(CALL, KEY)


def test_a_ride_hand_off_only_with_a_rides_url():
    action = ACTIONS["book_ride"]
    params = requested(action)
    record = action.record(f"{CALL}:{KEY}", params, NOW)
    assert [each.kind for each in action.deliveries(params, record, caller=CALLER, now=NOW, settings={})] == [SMS]
    with pytest.raises(ValueError):
        action.deliveries(params, None, caller=CALLER, now=NOW, settings=SETTINGS)


def test_the_worker_delivers_every_kind_an_action_asks_for(monkeypatch):
    for name in SETTING_NAMES:  # unconfigured, so nothing leaves this machine
        monkeypatch.delenv(name, raising=False)
    deliverer = Deliverer({})
    try:
        for action in ACTIONS.values():
            params = requested(action)
            record = action.record(f"{CALL}:{KEY}", params, NOW)
            for each in action.deliveries(params, record, caller=CALLER, now=NOW, settings=SETTINGS):
                item = OutboxItem(f"{CALL}:{KEY}:{each.suffix}", each.kind, each.payload, 1, "pending", NOW)
                assert "unknown kind" not in deliverer.deliver(item).detail
    finally:
        deliverer.close()
