"""What the service texts callers, in English and Spanish.

A text message can be read by whoever holds the phone, so it carries the minimum: the
appointment's date and time and the confirmation number the caller heard, never a member
ID, a birth date, an address or anything about their health. Every text is at most 160
characters and, where the language allows, in the GSM-7 alphabet (one SMS segment): the
wording avoids the letters GSM-7 lacks (á, í, ó, ú), so Spanish says "Referencia" rather
than "número de confirmación". The one exception is the Spanish abbreviation of Saturday,
"sáb", which a correct date needs: that text goes as UCS-2, in two segments.
"""

from __future__ import annotations

import re
from datetime import date

WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}
MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}

# {when} is " on <date> at <time>", " on <date>" or "" (whatever could be read).
RIDE_RECEIVED = {
    "en": "We received your ride request for your appointment{when}.",
    "es": "Recibimos su solicitud de transporte para su cita{when}.",
}
CONFIRMATION = {"en": " Confirmation number: {confirmation}.", "es": " Referencia: {confirmation}."}
WHEN = {
    "en": {"date": " on {date}", "time": " at {time}"},
    "es": {"date": " del {date}", "time": " a las {time}"},
}
ONE_SEGMENT_GSM7 = 160
ONE_SEGMENT_UCS2 = 70

# The GSM 03.38 default alphabet, and its extension table (each of those takes two septets).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
_TIME_RE = re.compile(r"^([0-9]{1,2})([0-9]{2})$")


def language(lang: str | None) -> str:
    """The texts' language for a caller's: Spanish for Spanish, else English."""
    return "es" if (lang or "").lower().startswith("es") else "en"


def spoken_date(value: str, lang: str) -> str | None:
    """YYYY-MM-DD as "Tue, Dec 1" / "mar 1 dic"; None when it is not a date."""
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    lang = language(lang)
    weekday, month = WEEKDAYS[lang][day.weekday()], MONTHS[lang][day.month - 1]
    return f"{weekday}, {month} {day.day}" if lang == "en" else f"{weekday} {day.day} {month}"


def clock_time(hhmm: str, ampm: str | None = None) -> str | None:
    """HHMM as "9:30 AM"; None when it is not a time.

    With am/pm, HHMM is on a 12-hour clock. Without, it may be either clock: an hour only a
    24-hour clock has (00, 13-23) is converted, and 01-12 are shown without AM or PM rather
    than guessed.
    """
    match = _TIME_RE.match(hhmm or "")
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2])
    suffix = (ampm or "").strip().lower().replace(".", "")
    if minute > 59 or suffix not in ("am", "pm", ""):
        return None
    if not suffix:
        if hour > 23:
            return None
        if 1 <= hour <= 12:
            return f"{hour}:{minute:02d}"
        hour, suffix = (12, "am") if hour == 0 else (hour - 12, "pm")
    elif not 1 <= hour <= 12:
        return None
    return f"{hour}:{minute:02d} {suffix.upper()}"


def ride_received(lang: str, appt_date: str, appt_time: str, appt_ampm: str | None, confirmation: str) -> str:
    """The text confirming a ride request: when the appointment is, and the confirmation number.

    A date or time that cannot be read is left out rather than shown raw.
    """
    lang = language(lang)
    when = ""
    day = spoken_date(appt_date, lang)
    if day is not None:
        when = WHEN[lang]["date"].format(date=day)
        at = clock_time(appt_time, appt_ampm)
        if at is not None:
            when += WHEN[lang]["time"].format(time=at)
    text = RIDE_RECEIVED[lang].format(when=when)
    if confirmation:
        text += CONFIRMATION[lang].format(confirmation=confirmation)
    return text


def is_gsm7(text: str) -> bool:
    """Whether the text can go in the GSM-7 alphabet (else it goes as UCS-2)."""
    return all(char in _GSM7_BASIC or char in _GSM7_EXTENDED for char in text)


def segments(text: str) -> int:
    """How many SMS segments the text takes."""
    if is_gsm7(text):
        septets = sum(2 if char in _GSM7_EXTENDED else 1 for char in text)
        return 1 if septets <= ONE_SEGMENT_GSM7 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= ONE_SEGMENT_UCS2 else -(-units // 67)
