"""The URLs Twilio is given: the paths the service answers, and the turn number each carries.

Every URL in a document we send carries only the number of the turn it answers (`t`),
never an answer, member id or phone number: Twilio's debugger shows URLs.
"""

from __future__ import annotations

import re

from ivr.telephony.twiml import TurnUrls

VOICE = "/voice"  # a call comes in (the number's Voice webhook)
TURN = "/voice/turn"  # a caller's answer to the turn `t`: keys, silence, a transfer's or recording's end
STATUS = "/voice/status"  # the call's status callback
FALLBACK = "/voice/fallback"  # the number's "primary handler fails" URL
WHISPER = "/voice/whisper"  # a coordinator answered a transfer of turn `t`: who is calling
ACCEPT = "/voice/whisper/accept"  # the coordinator's key after the whisper

TURN_MARK = "__TURN__"  # stands for the turn number in a document rendered once for any turn
_TURN_RE = re.compile(r"(?:^|&)t=([0-9]{1,6})(?:&|$)")


def turn_urls(turn: int | str) -> TurnUrls:
    """Relative URLs for a turn's answers."""
    base = f"{TURN}?t={turn}"
    return TurnUrls(gather=base, no_input=base, dial=base, record=base, whisper=f"{WHISPER}?t={turn}")


def accept_url(turn: int) -> str:
    """Where a coordinator's key after the whisper of turn `turn` goes."""
    return f"{ACCEPT}?t={turn}"


def at_turn(document: str, turn: int) -> str:
    """A document rendered with `turn_urls(TURN_MARK)`, for turn `turn`."""
    return document.replace(f"t={TURN_MARK}", f"t={turn}")


def turn_of(query: str) -> int | None:
    """The turn number in a raw query string, or None when there is none."""
    found = _TURN_RE.search(query)
    return int(found.group(1)) if found is not None else None
