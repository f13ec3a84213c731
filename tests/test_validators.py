"""The keypad validators: what each accepts and how it normalises; and how `speech.readback` says it back."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ivr.flows.speech import readback
from ivr.flows.validators import LENGTHS, VALIDATORS

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday

CASES = {
    "date_mmdd": [
        ("0415", "0415"),
        ("0101", "0101"),
        ("1231", "1231"),
        ("0229", "0229"),  # some year has it
        ("0230", None),
        ("0431", None),
        ("1301", None),
        ("0001", None),
        ("0100", None),
        ("0000", None),
        ("415", None),
        ("04150", None),
        ("04a5", None),
        ("", None),
    ],
    "future_date_mmdd": [
        ("1125", "2026-11-25"),  # today counts
        ("1126", "2026-11-26"),
        ("1231", "2026-12-31"),
        ("1124", "2027-11-24"),  # yesterday: next year
        ("0101", "2027-01-01"),
        ("0415", "2027-04-15"),
        ("0229", "2028-02-29"),  # the next leap year
        ("0230", None),
        ("1301", None),
        ("0000", None),
        ("112", None),
        ("11255", None),
    ],
    "dob": [
        ("04151980", "1980-04-15"),
        ("11252026", "2026-11-25"),  # born today
        ("11242026", "2026-11-24"),
        ("11262026", None),  # tomorrow
        ("01012030", None),
        ("02292000", "2000-02-29"),
        ("02291900", None),  # 1900 was not a leap year
        ("02292001", None),
        ("06151950", "1950-06-15"),
        ("12311905", None),  # more than 120 years ago
        ("01011800", None),
        ("13011980", None),
        ("04311980", None),
        ("00000000", None),
        ("01010000", None),
        ("0415198", None),
        ("041519800", None),
        ("0415198a", None),
    ],
    "time_hhmm": [
        ("0930", "0930"),
        ("0100", "0100"),
        ("1200", "1200"),
        ("1259", "1259"),
        # a 24-hour time, or three digits
        ("0000", "0000"),
        ("0059", "0059"),
        ("1300", "1300"),
        ("2330", "2330"),
        ("930", "0930"),
        ("100", "0100"),
        ("0960", None),
        ("960", None),
        ("2400", None),
        ("09300", None),
        ("93", None),
    ],
    "zip": [
        ("90001", "90001"),
        ("10001", "10001"),
        ("00501", "00501"),
        ("9000", None),
        ("900011", None),
        ("9000a", None),
        ("", None),
    ],
    "ca_zip": [
        ("90001", "90001"),  # the lowest
        ("94103", "94103"),
        ("96162", "96162"),  # the highest
        ("90000", None),
        ("96163", None),
        ("89999", None),
        ("10001", None),
        ("9410", None),
        ("941034", None),
    ],
    "member_id": [
        ("12345678", "12345678"),
        ("00000001", "00000001"),
        ("12345678901234", "12345678901234"),
        ("1234567", None),
        ("123456789012345", None),
        ("1234567a", None),
        ("", None),
    ],
    "phone": [
        ("6265550123", "+16265550123"),
        ("16265550123", "+16265550123"),  # a leading 1 is the country code
        ("2125550199", "+12125550199"),
        ("0265550123", None),  # an area code never starts with 0
        ("1265550123", None),  # ... or 1
        ("10265550123", None),
        ("6260550123", None),  # nor does an exchange
        ("6261550123", None),
        ("26265550123", None),  # eleven digits need the leading 1
        ("626555012", None),
        ("162655501234", None),
        ("626555012a", None),
    ],
}


def test_every_validator_has_cases():
    assert sorted(CASES) == sorted(VALIDATORS)


@pytest.mark.parametrize("name, digits, saved", [
    (name, digits, saved) for name, cases in CASES.items() for digits, saved in cases
])
def test_validator(name, digits, saved):
    assert VALIDATORS[name](digits, NOW) == saved


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_accepted_entries_fit_the_implied_length(name):
    low, high = LENGTHS[name]
    for digits, saved in CASES[name]:
        if saved is not None:
            assert low <= len(digits) <= high
        else:  # what the length lets through is the validator's to refuse
            assert not low <= len(digits) <= high or VALIDATORS[name](digits, NOW) is None


@pytest.mark.parametrize("now, digits, saved", [
    (datetime(2026, 11, 25, 0, 0), "1125", "2026-11-25"),
    (datetime(2026, 11, 25, 23, 59), "1125", "2026-11-25"),
    (datetime(2026, 12, 31, 23, 59), "1231", "2026-12-31"),
    (datetime(2026, 12, 31, 23, 59), "0101", "2027-01-01"),
    (datetime(2027, 1, 1, 0, 0), "1231", "2027-12-31"),
    (datetime(2026, 3, 1), "0229", "2028-02-29"),
    (datetime(2027, 3, 1), "0229", "2028-02-29"),
    (datetime(2028, 2, 28), "0229", "2028-02-29"),
    (datetime(2028, 2, 29), "0229", "2028-02-29"),
    (datetime(2028, 3, 1), "0229", "2032-02-29"),
    (datetime(2028, 3, 1), "0228", "2029-02-28"),
])
def test_future_date_mmdd_takes_the_next_such_day(now, digits, saved):
    assert VALIDATORS["future_date_mmdd"](digits, now) == saved


@pytest.mark.parametrize("now, digits, saved", [
    (datetime(2026, 1, 1), "01011906", "1906-01-01"),
    (datetime(2026, 1, 1), "12311905", None),
    (datetime(2026, 1, 1), "01012026", "2026-01-01"),
    (datetime(2026, 1, 1), "01022026", None),
    (datetime(2024, 2, 29), "02292024", "2024-02-29"),
])
def test_dob_bounds_move_with_now(now, digits, saved):
    assert VALIDATORS["dob"](digits, now) == saved


@pytest.mark.parametrize("validator, value, lang, spoken", [
    ("date_mmdd", "0415", "en", "April 15th"),
    ("date_mmdd", "0415", "es", "15 de abril"),
    ("date_mmdd", "0101", "en", "January 1st"),
    ("future_date_mmdd", "2027-04-15", "en", "Thursday, April 15th"),
    ("future_date_mmdd", "2027-04-15", "es", "jueves 15 de abril"),
    ("future_date_mmdd", "2026-11-25", "en", "Wednesday, November 25th"),
    ("dob", "1980-04-15", "en", "April 15th, 1980"),
    ("dob", "1980-04-15", "es", "15 de abril de 1980"),
    ("time_hhmm", "0930", "en", "9:30"),
    ("time_hhmm", "0900", "en", "9 o'clock"),
    ("time_hhmm", "1200", "es", "12"),
    ("phone", "+16265550123", "en", "6 2 6, 5 5 5, 0 1 2 3"),
    ("phone", "+16265550123", "es", "6 2 6, 5 5 5, 0 1 2 3"),
    ("zip", "90001", "en", "9 0 0 0 1"),
    ("ca_zip", "94103", "es", "9 4 1 0 3"),
    ("member_id", "12345678", "en", "1 2 3 4, 5 6 7 8"),
    (None, "12#", "en", "1 2 pound"),
    (None, "12*", "es", "1 2 asterisco"),
])
def test_readback(validator, value, lang, spoken):
    assert readback(validator, value, lang) == spoken


@pytest.mark.parametrize("name, digits", [
    (name, digits) for name, cases in CASES.items() for digits, saved in cases if saved is not None
])
def test_readback_of_every_accepted_value_is_spoken_text(name, digits):
    saved = VALIDATORS[name](digits, NOW)
    spoken = readback(name, saved, "en")
    assert spoken and "-" not in spoken
