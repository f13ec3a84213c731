"""How answers sound when spoken: digits one by one, dates, clock times, phone numbers, openings.

Prompt templates use these as filters (`templates`); read-backs use them directly.
"""

from __future__ import annotations

from datetime import date, datetime

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"],
}
WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
# How a date is said: the month and day, then with the weekday, then with the year.
_DATE_PATTERNS = {
    "en": ("{month} {day}", "{weekday}, {words}", "{words}, {year}"),
    "es": ("{day} de {month}", "{weekday} {words}", "{words} de {year}"),
}
_KEY_NAMES = {
    "en": {"*": "star", "#": "pound"},
    "es": {"*": "asterisco", "#": "numeral"},
}


def ordinal(n: int) -> str:
    """English ordinal: 1st, 2nd, 3rd, 4th, 11th, 21st."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def digits_spoken(value, lang: str = "en") -> str:
    """Keys one by one: "0415" -> "0 4 1 5"."""
    names = _KEY_NAMES.get(lang, _KEY_NAMES["en"])
    return " ".join(names.get(ch, ch) for ch in str(value) if not ch.isspace())


def date_spoken(value, lang: str = "en", weekday: bool = True, year: bool = False) -> str:
    """A saved date (YYYY-MM-DD, or MMDD) as words."""
    text = str(value)
    try:
        if len(text) == 4 and text.isdigit():
            day, when = None, (int(text[:2]), int(text[2:]))
            date(2024, *when)  # a leap year: rejects 1301, 0015 and 0431 but not 0229
        else:
            day = date.fromisoformat(text)
            when = (day.month, day.day)
    except ValueError:
        return digits_spoken(text, lang)
    lang = lang if lang in _DATE_PATTERNS else "en"
    month_day, with_weekday, with_year = _DATE_PATTERNS[lang]
    number = ordinal(when[1]) if lang == "en" else str(when[1])
    words = month_day.format(month=MONTHS[lang][when[0] - 1], day=number)
    if day is not None and weekday:
        words = with_weekday.format(weekday=WEEKDAYS[lang][day.weekday()], words=words)
    if day is not None and year:
        words = with_year.format(words=words, year=day.year)
    return words


def time_spoken(value, lang: str = "en", meridiem: str | None = None) -> str:
    """HHMM as a clock time: "0930" -> "9:30" (plus AM/PM when given)."""
    text = str(value)
    if len(text) != 4 or not text.isdigit() or int(text[:2]) > 23 or int(text[2:]) > 59:
        return digits_spoken(text, lang)
    hour, minute = int(text[:2]), text[2:]
    clock = f"{hour}:{minute}" if minute != "00" else f"{hour}"
    if hour == 0 or hour > 12:
        meridiem = meridiem or ("am" if hour < 12 else "pm")
        hour = hour % 12 or 12
        clock = f"{hour}:{minute}" if minute != "00" else f"{hour}"
    if meridiem:
        label = str(meridiem).lower()
        if lang == "es":
            clock += " de la mañana" if label == "am" else " de la tarde"
        else:
            clock += " AM" if label == "am" else " PM"
    elif minute == "00" and lang == "en":
        clock += " o'clock"
    return clock


def opening_spoken(when: datetime, now: datetime, lang: str = "en") -> str:
    """When something opens, from `now`: "today at 8 AM", "tomorrow at 9:30 AM",
    "on Monday, November 30th, at 8 AM" (in Spanish: "mañana a las 8 de la mañana")."""
    days = (when.date() - now.astimezone(when.tzinfo).date()).days
    clock = time_spoken(f"{when.hour:02d}{when.minute:02d}", lang, "am" if when.hour < 12 else "pm")
    if lang == "es":
        at = f"a la {clock}" if when.hour % 12 == 1 else f"a las {clock}"
        day = "hoy" if days == 0 else "mañana" if days == 1 else f"el {date_spoken(when.date().isoformat(), 'es')}"
        return f"{day} {at}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    return f"on {date_spoken(when.date().isoformat(), 'en')}, at {clock}"


def phone_spoken(value, lang: str = "en") -> str:
    """A phone number in groups: "+16265550123" -> "6 2 6, 5 5 5, 0 1 2 3"."""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return digits_spoken(digits, lang)
    return ", ".join(digits_spoken(part, lang) for part in (digits[:3], digits[3:6], digits[6:]))


def hhmm24(value, meridiem=None) -> str:
    """A 12-hour HHMM and am/pm as a 24-hour HHMM: ("0130", "pm") -> "1330"; anything else unchanged."""
    text = str(value)
    if len(text) != 4 or not text.isdigit() or str(meridiem).lower() not in ("am", "pm"):
        return text
    hour = int(text[:2]) % 12 + (12 if str(meridiem).lower() == "pm" else 0)
    return f"{hour:02d}{text[2:]}"


def readback(validator: str | None, value: str, lang: str) -> str:
    """A saved value spoken back for confirmation, the way its validator reads it."""
    if validator in ("date_mmdd", "future_date_mmdd"):
        return date_spoken(value, lang)
    if validator == "dob":
        return date_spoken(value, lang, weekday=False, year=True)
    if validator == "time_hhmm":
        return time_spoken(value, lang)
    if validator == "phone":
        return phone_spoken(value, lang)
    return digits_spoken(value, lang)
