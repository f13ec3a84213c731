"""What the engine's side-effect requests become: durable records (and, later, deliveries).

Every effect is stored under `<CallSid>:<effect key>`, so performing the same turn's
effects twice (a retried webhook, two racing requests) keeps one record.
"""

from __future__ import annotations

from .commands import Effect
from .records import CallbackRequest, Record, RideRequest, Voicemail, save
from .store import CallStore


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


def perform(store: CallStore, call_sid: str, effects: list[Effect], created_at: float) -> None:
    """Keep every effect's record (idempotently)."""
    for effect in effects:
        save(store, record_for(call_sid, effect, created_at))
