"""What the engine's side-effect requests become: durable records and outbox deliveries.

Each effect's action (`ivr.flows.actions`) says which record it leaves and what it sends.
The record is stored under `<CallSid>:<effect key>`, and each delivery under that id plus
its suffix (`:sms`, `:ride`), so performing the same turn's effects twice (a retried
webhook, two racing requests) keeps one record and enqueues each delivery once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ivr.engine.commands import Effect
from ivr.flows.actions import ACTIONS
from ivr.records import save
from ivr.stores.protocols import Outbox, Records


class EffectStore(Records, Outbox, Protocol):
    """Where effects go: records and outbox items."""


def perform(store: EffectStore, call_sid: str, effects: list[Effect], created_at: float, *,
            caller: str | None = None, settings: Mapping[str, Any] | None = None) -> None:
    """Keep every effect's record, then enqueue what it sends (both idempotently).

    `caller` is the caller's number (where a text without `to` goes); `settings` the web
    app's, read once when it started (RIDES_WEBHOOK_URL there turns on ride hand-offs).
    """
    settings = settings or {}
    for effect in effects:
        action = ACTIONS[effect.action]
        params = effect.params_dict()
        effect_id = f"{call_sid}:{effect.key}"
        record = action.record(effect_id, params, created_at)
        if record is not None:
            save(store, record)
        # Enqueued even when the record existed: a retry after a crash between the two finishes the job.
        for delivery in action.deliveries(params, record, caller=caller, now=created_at, settings=settings):
            store.enqueue(f"{effect_id}:{delivery.suffix}", delivery.kind, delivery.payload, created_at)
