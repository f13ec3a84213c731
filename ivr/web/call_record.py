"""What the store keeps for one call: the engine state, the last turn answered and its TwiML.

Stored as zlib over a compact JSON head (msgspec), a NUL, and the TwiML, compressed together
(without compression about one live call in ten would pass 1 KB).
"""

from __future__ import annotations

import zlib

import msgspec

from ivr.engine.step import STATE_VERSION, CallState


class _Head(msgspec.Struct, rename={"state": "s", "answered": "a", "whisper": "w", "details": "d"},
            omit_defaults=True):
    state: CallState
    answered: int
    whisper: tuple[tuple[str, str], ...] = ()
    details: tuple[tuple[str, str], ...] = ()


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Head)


class UnreadableRecord(ValueError):
    """Stored bytes that are not a call record of ours: `why` is "format" or "schema" (another version)."""

    def __init__(self, why: str, detail: str):
        super().__init__(f"not a call record ({why}): {detail}")
        self.why = why


class CallRecord(msgspec.Struct, frozen=True):
    """One call's record."""

    state: CallState
    answered: int  # the last turn number answered; -1 for the first response
    twiml: str
    whisper: tuple[tuple[str, str], ...] = ()  # what coordinators hear while this turn's transfer rings
    details: tuple[tuple[str, str], ...] = ()  # what the one who accepts hears next

    def pack(self) -> bytes:
        """Bytes for the store."""
        head = _ENCODER.encode(_Head(self.state, self.answered, self.whisper, self.details))
        return zlib.compress(head + b"\0" + self.twiml.encode(), 6)

    @classmethod
    def unpack(cls, blob: bytes) -> CallRecord:
        """Inverse of pack; UnreadableRecord when the bytes are not a record of ours, or of another schema."""
        try:
            head, body = zlib.decompress(blob).split(b"\0", 1)
            data = _DECODER.decode(head)
        except (ValueError, zlib.error, msgspec.DecodeError) as exc:
            raise UnreadableRecord("format", type(exc).__name__) from None
        if data.state.version != STATE_VERSION:
            raise UnreadableRecord("schema", f"state version {data.state.version}, not {STATE_VERSION}")
        return cls(data.state, data.answered, body.decode(), data.whisper, data.details)
