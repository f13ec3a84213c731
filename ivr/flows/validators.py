"""Named checks for keypad answers, each normalising what it accepts.

A validator takes the keys pressed and the time of the call and returns the value
to save, or None when the entry is not acceptable (`speech.readback` says it back;
`problem` names the message that says what was wrong).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Callable



def _mmdd(digits: str, year: int) -> date | None:
    if len(digits) != 4 or not digits.isdigit():
        return None
    try:
        return date(year, int(digits[:2]), int(digits[2:]))
    except ValueError:
        return None


def date_mmdd(digits: str, now: datetime) -> str | None:
    """A month and day (MMDD), any year; saved as MMDD."""
    ok = _mmdd(digits, 2024)  # a leap year, so 0229 is a date
    return digits if ok else None


def future_date_mmdd(digits: str, now: datetime) -> str | None:
    """A month and day from today on (the year inferred); saved as YYYY-MM-DD."""
    today = now.date()
    for year in range(today.year, today.year + 9):  # 0229 may be up to eight years away
        day = _mmdd(digits, year)
        if day is not None and day >= today:
            return day.isoformat()
    return None


def dob(digits: str, now: datetime) -> str | None:
    """A date of birth (MMDDYYYY), not in the future nor over 120 years ago."""
    if len(digits) != 8 or not digits.isdigit():
        return None
    year = int(digits[4:])
    day = _mmdd(digits[:4], year) if year >= 1 else None
    if day is None or day > now.date() or now.year - year > 120:
        return None
    return day.isoformat()


def time_hhmm(digits: str, now: datetime) -> str | None:
    """A clock time, on a 12- or 24-hour clock, as 3 or 4 digits (930, 0930, 1330); saved as HHMM.

    Hours 00 and 13-23 are the 24-hour clock's; 01-12 may be either, so a flow asks AM or PM."""
    if len(digits) not in (3, 4) or not digits.isdigit():
        return None
    digits = digits.zfill(4)
    hour, minute = int(digits[:2]), int(digits[2:])
    return digits if hour <= 23 and minute < 60 else None


def zip_code(digits: str, now: datetime) -> str | None:
    """A five-digit US ZIP code."""
    return digits if len(digits) == 5 and digits.isdigit() else None


def ca_zip(digits: str, now: datetime) -> str | None:
    """A California ZIP code (90001 to 96162)."""
    return digits if zip_code(digits, now) and 90001 <= int(digits) <= 96162 else None


def member_id(digits: str, now: datetime) -> str | None:
    """A member id as keyed on a phone: the CIN's 8 digits, or a plan id up to 14."""
    return digits if digits.isdigit() and 8 <= len(digits) <= 14 else None


def phone(digits: str, now: datetime) -> str | None:
    """A ten-digit North American number; saved as E.164."""
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or not digits.isdigit() or digits[0] in "01" or digits[3] in "01":
        return None
    return "+1" + digits


VALIDATORS: dict[str, Callable[[str, datetime], str | None]] = {
    "date_mmdd": date_mmdd,
    "future_date_mmdd": future_date_mmdd,
    "dob": dob,
    "time_hhmm": time_hhmm,
    "zip": zip_code,
    "ca_zip": ca_zip,
    "member_id": member_id,
    "phone": phone,
}

def problem(name: str | None, digits: str, now: datetime) -> str:
    """The built-in message that says what is wrong with an entry a validator refused."""
    if name == "ca_zip" and zip_code(digits, now):
        return "not_california"
    return PROBLEMS.get(name or "", "invalid_entry")


PROBLEMS = {
    "date_mmdd": "invalid_date", "future_date_mmdd": "invalid_date", "dob": "invalid_dob",
    "time_hhmm": "invalid_time", "zip": "invalid_zip", "ca_zip": "invalid_zip", "member_id": "invalid_member_id",
    "phone": "invalid_phone",
}

# Entry lengths each validator implies, used when a node does not set its own.
LENGTHS = {
    "date_mmdd": (4, 4), "future_date_mmdd": (4, 4), "dob": (8, 8), "time_hhmm": (3, 4),
    "zip": (5, 5), "ca_zip": (5, 5), "member_id": (8, 14), "phone": (10, 11),
}

