"""What the store keeps for one call: the engine state, the last turn answered and its TwiML.

Stored as zlib over a compact JSON head (msgspec), a NUL, and the TwiML, compressed together
(without compression about one live call in ten would pass 1 KB), with a preset dictionary of
what every record repeats (the head's keys, TwiML's verbs and attributes, the voices): a
quarter smaller than without it, for the same time. zlib's header names the dictionary a
record was packed with, so one added later leaves older records readable; records packed
without one read as before.
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


# Never edit a dictionary in place: records packed with it name it by its Adler-32. Add a new
# one to DICTIONARIES and pack with it instead.
DICTIONARY = (
    b'{"s":{"f":"","fv":"","l":"en","n":"","s":0,"pe":null,"t":0,"a":{"caller_id":"+1","member_id":"",'
    b'"dob":"","transfer_team":"","transfer_node":"","voicemail":"https://api.twilio.com/","voicemail_seconds":""},'
    b'"h":["language","main_menu"],"tu":0,"e":false,"c":"CA","tr":[],"lc":"","v":1},"a":-1,"w":[],"d":[]}\0'
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/turn?t=" finishOnKey="#" '
    b'method="POST" numDigits="1" timeout="8"><Say language="en-US" voice="Polly.Joanna">For English, press 1. '
    b'To hear this again, press star. To talk with a person, press 0.</Say><Say language="es-US" '
    b'voice="Polly.Lupe">Para espa\xc3\xb1ol, oprima 2. Para escuchar de nuevo, oprima asterisco. '
    b'Para hablar con una persona, oprima 0.</Say><Pause length="1" /></Gather><Redirect method="POST">'
    b'/voice/turn?t=</Redirect><Dial action="/voice/turn?t=" answerOnBridge="true" method="POST" timeout="20">'
    b'<Number method="POST" url="/voice/whisper?t=">+1</Number></Dial><Record action="/voice/turn?t=" '
    b'finishOnKey="#" maxLength="120" method="POST" playBeep="true" timeout="5" /><Say language="en-US" '
    b'voice="Polly.Joanna">Thank you. Your message was saved. Thank you for calling. Goodbye.</Say><Hangup />'
    b'</Response>'
)
DICTIONARIES = {zlib.adler32(d): d for d in (DICTIONARY,)}
_FDICT = 0x20  # the flag in a zlib header's second byte: a dictionary id follows

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Head)


class UnreadableRecord(ValueError):
    """Stored bytes that are not a call record of ours: `why` is "format", "schema" (another
    version's state) or "dictionary" (packed with a dictionary this version does not have)."""

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
        packer = zlib.compressobj(6, zdict=DICTIONARY)
        return packer.compress(head + b"\0" + self.twiml.encode()) + packer.flush()

    @classmethod
    def unpack(cls, blob: bytes) -> CallRecord:
        """Inverse of pack; UnreadableRecord when the bytes are not a record of ours, or of another schema."""
        try:
            head, body = _inflate(blob).split(b"\0", 1)
            data = _DECODER.decode(head)
        except _NoDictionary:
            raise UnreadableRecord("dictionary", "packed with a dictionary this version does not have") from None
        except (ValueError, zlib.error, msgspec.DecodeError) as exc:
            raise UnreadableRecord("format", type(exc).__name__) from None
        if data.state.version != STATE_VERSION:
            raise UnreadableRecord("schema", f"state version {data.state.version}, not {STATE_VERSION}")
        return cls(data.state, data.answered, body.decode(), data.whisper, data.details)


class _NoDictionary(Exception):
    pass


def _inflate(blob: bytes) -> bytes:
    header = len(blob) >= 6 and blob[0] & 0x0F == 8 and (blob[0] << 8 | blob[1]) % 31 == 0  # RFC 1950's check
    if not header or not blob[1] & _FDICT:
        return zlib.decompress(blob)
    dictionary = DICTIONARIES.get(int.from_bytes(blob[2:6], "big"))
    if dictionary is None:
        raise _NoDictionary
    unpacker = zlib.decompressobj(zdict=dictionary)
    data = unpacker.decompress(blob) + unpacker.flush()
    if not unpacker.eof or unpacker.unused_data:
        raise ValueError("not one whole zlib stream")
    return data
