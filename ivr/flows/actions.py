"""The built-in side effects an `action` node may request, and their parameters.

The engine only emits an `Effect` naming one of these; the service performs it
through its outbox, so a retried webhook never performs it twice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What an action needs from the flow."""

    name: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    summary: str = ""
    outputs: frozenset[str] = frozenset()  # answers the engine saves when it requests the action

    @property
    def allowed(self) -> frozenset[str]:
        """Every parameter name the action takes."""
        return self.required | self.optional


# What a ride request may carry besides its callback number, date and time (`text_sender` and `text_phone`:
# the name its text is signed with and the number it gives for changes).
RIDE_FIELDS = frozenset({
    "appt_ampm", "member_id", "dob", "pickup_zip", "mobility", "attendant", "pcs", "return_trip", "return_time",
    "address_recording", "address_seconds", "door_to_door", "summary", "health_plan", "no_other_way",
    "text_sender", "text_phone",
})

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("send_text", frozenset({"body"}), frozenset({"to"}),
                   "text the caller (or `to`) a message"),
        ActionSpec("book_ride", frozenset({"callback", "appt_date", "appt_time"}), RIDE_FIELDS,
                   "hand a ride request to the transportation desk", frozenset({"confirmation"})),
        ActionSpec("save_voicemail", frozenset({"team", "recording"}), frozenset({"duration", "summary"}),
                   "keep a voice message for a team, durably"),
        ActionSpec("request_callback", frozenset({"team", "number"}), frozenset({"summary"}),
                   "ask a team to call the caller back, durably"),
    )
}
