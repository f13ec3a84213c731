"""The call record's bytes: zlib with a preset dictionary that names itself, and the older
records packed without one still read."""

from __future__ import annotations

import zlib
from datetime import datetime, timezone

import pytest

from ivr.engine.events import CallStarted, Digits
from ivr.engine.step import step
from ivr.flows.loader import load_flows
from ivr.web import call_record, documents
from ivr.web.call_record import CallRecord, UnreadableRecord

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def record() -> CallRecord:
    flow = load_flows("flows")["support-line"]
    state, commands, _ = step(flow, None, CallStarted(NOW))
    state, commands, _ = step(flow, state, Digits(NOW, "1"))
    return CallRecord(state, 0, documents.turn(commands, state.turn))


def _plain(record: CallRecord) -> bytes:
    """As records were packed before the dictionary."""
    return zlib.compress(zlib.decompressobj(zdict=call_record.DICTIONARY).decompress(record.pack()), 6)


def test_a_record_round_trips_and_is_smaller_than_without_the_dictionary(record):
    packed = record.pack()
    assert CallRecord.unpack(packed) == record
    assert len(packed) < 0.85 * len(_plain(record))


def test_a_record_packed_without_a_dictionary_still_reads(record):
    assert CallRecord.unpack(_plain(record)) == record


def test_the_dictionary_is_never_edited_in_place():
    # Records in the store name it by this id: a changed dictionary is a new entry of DICTIONARIES.
    assert zlib.adler32(call_record.DICTIONARY) == 0x4264844A
    assert call_record.DICTIONARIES[zlib.adler32(call_record.DICTIONARY)] is call_record.DICTIONARY


def test_a_record_packed_with_an_unknown_dictionary_is_unreadable(record):
    other = zlib.compressobj(6, zdict=b"another dictionary")
    blob = other.compress(zlib.decompressobj(zdict=call_record.DICTIONARY).decompress(record.pack())) + other.flush()
    with pytest.raises(UnreadableRecord) as raised:
        CallRecord.unpack(blob)
    assert raised.value.why == "dictionary"
    with pytest.raises(UnreadableRecord):
        CallRecord.unpack(record.pack() + b"trailing")
