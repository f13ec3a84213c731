"""What the audit log records, in one place: the actions' names and how an event is written.

Events name a record by its id and say who, when, in which role and from which address: never
a phone number, an answer, a note or anything else a record holds.
"""

from __future__ import annotations

from ivr.stores.protocols import AuditEvent, AuditLog

SIGNED_IN = "signed-in"
SIGNED_OUT = "signed-out"
SIGN_IN_FAILED = "sign-in-failed"
SIGNED_OUT_IDLE = "signed-out-idle"
VIEWED = "viewed-record"
LISTED = "viewed-worklist"
REVEALED = "revealed-number"
PLAYED = "played-recording"
EXPORTED = "exported"
CLAIMED = "claimed"
RELEASED = "released"
TRIED = "tried-no-answer"
CLOSED = "closed"
PURGED = "purged"
USER_ADDED = "user-added"
USER_DISABLED = "user-disabled"
USER_ENABLED = "user-enabled"
PASSWORD_SET = "password-set"
AVAILABILITY = "availability-set"
DENIED = "denied"

ACTIONS = (SIGNED_IN, SIGNED_OUT, SIGNED_OUT_IDLE, SIGN_IN_FAILED, VIEWED, LISTED, REVEALED, PLAYED, EXPORTED, CLAIMED,
           RELEASED, TRIED, CLOSED, PURGED, USER_ADDED, USER_DISABLED, USER_ENABLED, PASSWORD_SET, AVAILABILITY,
           DENIED)


def record(log: AuditLog, at: float, user: str, role: str, action: str, *, record: str = "", address: str = "",
           detail: str = "") -> AuditEvent:
    """Append one event and return it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(at=at, user=user, role=role, action=action, record=record, address=address, detail=detail)
    log.audit(event)
    return event
