"""What the engine's side-effect requests become: durable records and outbox deliveries.

Every effect's record is stored under `<CallSid>:<effect key>`, and what it sends under
that id plus the kind (`:sms`, `:ride`), so performing the same turn's effects twice (a
retried webhook, two racing requests) keeps one record and enqueues each delivery once.
A ride request is recorded, texted to its callback number and, when RIDES_WEBHOOK_URL is
set, handed to the transportation desk; `send_text` only enqueues its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ivr.engine.commands import Effect
from ivr.outbox.worker import enqueue_for
from ivr.records import CallbackRequest, Record, RideRequest, Voicemail, save
from ivr.stores.protocols import Outbox, Records


class EffectStore(Records, Outbox, Protocol):
    """Where effects go: records and outbox items."""


def record_for(call_sid: str, effect: Effect, created_at: float) -> Record:
    """The durable record an effect asks for."""
    params = effect.params_dict()
    common = {"id": f"{call_sid}:{effect.key}", "created_at": created_at, "language": params.pop("lang", ""),
              "summary": params.pop("summary", "")}
    if effect.action == "save_voicemail":
        duration = params.get("duration", "")
        return Voicemail(**common, team=params["team"], recording_url=params["recording"],
                         duration=int(duration) if duration.isdigit() else 0)
    if effect.action == "request_callback":
        return CallbackRequest(**common, team=params["team"], number=params["number"])
    if effect.action == "book_ride":
        return RideRequest(**common, team="transportation", fields=params)
    raise ValueError(f"no record for action {effect.action!r}")


def perform(store: EffectStore, call_sid: str, effects: list[Effect], created_at: float, *,
            caller: str | None = None, settings: Mapping[str, Any] | None = None) -> None:
    """Keep every effect's record, then enqueue what it sends (both idempotently).

    `caller` is the caller's number (where a text without `to` goes); `settings` the web
    app's config (the outbox reads RIDES_WEBHOOK_URL there, else in the environment).
    """
    for effect in effects:
        record = None
        if effect.action != "send_text":  # a text leaves no record, only its delivery
            record = record_for(call_sid, effect, created_at)
            save(store, record)
        # Enqueued even when the record existed: a retry after a crash between the two finishes the job.
        enqueue_for(store, call_sid, effect, created_at, record=record, caller=caller, settings=settings)
