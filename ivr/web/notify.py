"""Telling a team that a message arrived: a text to its `notify` numbers, through the outbox.

The text says what arrived, for which team and when, and nothing of the caller ("New
voicemail for Care coordinators, 10:05. Open the desk."): texts are not a place for health
data. A team gets at most one per `notify_minutes` (the store's throttle, shared by every
worker); the desk shows everything that arrived meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ivr.flows.actions import SMS, Record, sms_payload
from ivr.flows.model import Flow
from ivr.flows.teams import team_title
from ivr.stores.protocols import Outbox, Throttles

WHAT = {"voicemail": "voicemail", "callback": "call-back request"}


def text(kind: str, title: str, when: datetime) -> str:
    """The text a team gets."""
    return f"New {WHAT[kind]} for {title}, {when:%H:%M}. Open the desk."


class NotifyStore(Outbox, Throttles, Protocol):
    """What notifying needs of the store."""


def team(store: NotifyStore, flow: Flow, record: Record, now: float) -> int:
    """Text the record's team about a new voicemail or call-back request, unless it had a text in
    the last `notify_minutes`; how many texts were queued."""
    found = flow.teams.get(record.team)
    if record.kind not in WHAT or found is None or not found.notify:
        return 0
    if not store.throttle(f"notify:{found.id}", now, found.notify_minutes * 60):
        return 0
    body = text(record.kind, team_title(found), datetime.fromtimestamp(record.created_at, flow.calendar.zone))
    for index, number in enumerate(found.notify):
        store.enqueue(f"{record.id}:notify:{index}", SMS, sms_payload(number, body, "en", now), now)
    return len(found.notify)
