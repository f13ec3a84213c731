"""How answers sound when spoken: digits one by one, dates, clock times, phone numbers, openings.

Prompt templates use these as filters (`templates`); read-backs use them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time

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


def digits_spoken(value, lang: str = "en", group: int = 0) -> str:
    """Keys one by one: "0415" -> "0 4 1 5"; in groups with a pause between them:
    ("12345678", group=4) -> "1 2 3 4, 5 6 7 8"."""
    names = _KEY_NAMES.get(lang, _KEY_NAMES["en"])
    keys = [names.get(ch, ch) for ch in str(value) if not ch.isspace()]
    if group <= 0:
        return " ".join(keys)
    return ", ".join(" ".join(keys[i:i + group]) for i in range(0, len(keys), group))


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


def _clock(value, meridiem: str | None) -> tuple[int, str, str | None] | None:
    """HHMM as (hour on a 12-hour clock, minutes, "am"/"pm" or None when unknown); None if not a time.

    An hour only a 24-hour clock has (00, 13-23) knows its half of the day, whatever `meridiem` says."""
    text = str(value)
    if len(text) != 4 or not text.isdigit() or int(text[:2]) > 23 or int(text[2:]) > 59:
        return None
    hour, minute = int(text[:2]), text[2:]
    label = str(meridiem).lower() if meridiem else None
    if hour == 0 or hour > 12:
        label = "am" if hour < 12 else "pm"
    return hour % 12 or 12, minute, label if label in ("am", "pm") else None


def _part_of_day(hour: int, label: str, lang: str) -> str:
    """AM/PM, or in Spanish the part of the day: de la mañana, del mediodía, de la tarde, de la noche."""
    if lang != "es":
        return "AM" if label == "am" else "PM"
    if label == "am":
        return "de la noche" if hour == 12 else "de la mañana"
    if hour == 12:
        return "del mediodía"
    return "de la noche" if hour >= 7 else "de la tarde"


def time_spoken(value, lang: str = "en", meridiem: str | None = None) -> str:
    """HHMM as a clock time: "0930" -> "9:30" (plus AM/PM when given or known); noon is "12 noon"."""
    parts = _clock(value, meridiem)
    if parts is None:
        return digits_spoken(value, lang)
    hour, minute, label = parts
    clock = f"{hour}:{minute}" if minute != "00" else f"{hour}"
    if label is None:
        return clock + " o'clock" if minute == "00" and lang == "en" else clock
    if lang != "es" and hour == 12 and minute == "00" and label == "pm":
        return "12 noon"
    return f"{clock} {_part_of_day(hour, label, lang)}"


def time_at(value, lang: str = "en", meridiem: str | None = None) -> str:
    """A clock time after "at": "at 9:30 AM", "a las 9:30 de la mañana", "a la 1 de la tarde"."""
    spoken = time_spoken(value, lang, meridiem)
    if lang != "es":
        return f"at {spoken}"
    parts = _clock(value, meridiem)
    return f"a la {spoken}" if parts is not None and parts[0] == 1 else f"a las {spoken}"


def opening_spoken(when: datetime, now: datetime, lang: str = "en") -> str:
    """When something opens, from `now`: "today at 8 AM", "tomorrow at 9:30 AM",
    "on Monday, November 30th, at 8 AM" (in Spanish: "mañana a las 8 de la mañana")."""
    days = (when.date() - now.astimezone(when.tzinfo).date()).days
    at = time_at(f"{when.hour:02d}{when.minute:02d}", lang, "am" if when.hour < 12 else "pm")
    if lang == "es":
        day = "hoy" if days == 0 else "mañana" if days == 1 else f"el {date_spoken(when.date().isoformat(), 'es')}"
        return f"{day} {at}"
    if days == 0:
        return f"today {at}"
    if days == 1:
        return f"tomorrow {at}"
    return f"on {date_spoken(when.date().isoformat(), 'en')}, {at}"


DAY_RANGE = {"en": "{first} to {last}", "es": "de {first} a {last}"}
ONE_DAY = {"en": "on {day}", "es": "los {day}"}  # the day's name in the plural
EVERY_DAY = {"en": "every day, at any hour", "es": "todos los días, a cualquier hora"}
MIDNIGHT = {"en": "midnight", "es": "la medianoche"}


def _hhmm(moment: time) -> str:
    return f"{moment.hour:02d}{moment.minute:02d}"


def _span_spoken(span: tuple[time, time], lang: str) -> str:
    """A range of hours: "from 8 AM to 6 PM", "de 9 de la mañana a la 1 de la tarde"."""
    start, end = span
    first = time_spoken(_hhmm(start), lang, "am" if start.hour < 12 else "pm")
    if end == time.max:
        last = MIDNIGHT.get(lang, MIDNIGHT["en"])
    else:
        last = time_spoken(_hhmm(end), lang, "am" if end.hour < 12 else "pm")
    if lang == "es":
        since = "de la" if start.hour % 12 == 1 else "de"
        to = "a la" if end != time.max and end.hour % 12 == 1 else "a"
        return f"{since} {first} {to} {last}"
    return f"from {first} to {last}"


def hours_spoken(hours: Mapping[int, tuple[tuple[time, time], ...]] | None, lang: str = "en") -> str:
    """Weekly hours (weekday 0 = Monday -> ranges) as words, days with the same hours together:
    "Monday to Friday, from 8 AM to 6 PM, and on Saturdays, from 9 AM to 12 noon"."""
    if hours is None:
        return EVERY_DAY.get(lang, EVERY_DAY["en"])
    names = WEEKDAYS.get(lang, WEEKDAYS["en"])
    runs: list[tuple[int, int, tuple]] = []  # (first day, last day, ranges) of consecutive days alike
    for day in range(7):
        spans = tuple(hours.get(day, ()))
        if not spans:
            continue
        if runs and runs[-1][1] == day - 1 and runs[-1][2] == spans:
            runs[-1] = (runs[-1][0], day, spans)
        else:
            runs.append((day, day, spans))
    parts = []
    for first, last, spans in runs:
        if first == last:
            plural = names[first] if names[first].endswith("s") else names[first] + "s"  # los lunes, los sábados
            days = ONE_DAY.get(lang, ONE_DAY["en"]).format(day=plural)
        else:
            days = DAY_RANGE.get(lang, DAY_RANGE["en"]).format(first=names[first], last=names[last])
        joiner = " y " if lang == "es" else " and "
        parts.append(f"{days}, {joiner.join(_span_spoken(span, lang) for span in spans)}")
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + (", y " if lang == "es" else ", and ") + parts[-1]
    return parts[0] if parts else ""


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


NEXT_YEAR = {"en": "That is next year", "es": "Es el año que viene"}
GROUP_FROM = 6  # entries this long or longer are read back in groups of four


def readback(validator: str | None, value: str, lang: str, today: date | None = None) -> str:
    """A saved value spoken back for confirmation, the way its validator reads it.

    A date in another year than `today`'s says its year, and that it is next year."""
    if validator in ("date_mmdd", "future_date_mmdd"):
        try:
            later = today is not None and date.fromisoformat(value).year > today.year
        except ValueError:
            later = False
        spoken = date_spoken(value, lang, year=later)
        return f"{spoken}. {NEXT_YEAR.get(lang, NEXT_YEAR['en'])}" if later else spoken
    if validator == "dob":
        return date_spoken(value, lang, weekday=False, year=True)
    if validator == "time_hhmm":
        return time_spoken(value, lang)
    if validator == "phone":
        return phone_spoken(value, lang)
    return digits_spoken(value, lang, group=4 if len(value) >= GROUP_FROM else 0)
