"""What the service texts callers, in English and Spanish.

A text message can be read by whoever holds the phone, so it carries the minimum: who sent
it, that the ride is requested (not yet scheduled), the appointment's date and time and the
request number the caller heard, and how to change or cancel (with TTY 711), never a member
ID, a birth date, an address or anything about their health. Every text fits one SMS segment:
at most 160 characters in the GSM-7 alphabet. The wording avoids the letters GSM-7 lacks (á,
í, ó, ú), so Spanish says "Pendiente de programar" and leaves out the weekday ("sáb").
"""

from __future__ import annotations

import re
from datetime import date

WEEKDAYS = {"en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
}

# {when} is " <date> at <time>" / " del <date> a las <time>", or less (whatever could be read).
RIDE_RECEIVED = {
    "en": "Ride request received{when}. Ref {confirmation}. Not scheduled yet{later}. {changes}, TTY 711",
    "es": "Recibimos su solicitud de transporte{when}. Ref {confirmation}. Pendiente de programar{later}. "
          "{changes}, TTY 711",
}
LATER = {"en": "; we'll text the pickup time", "es": ""}
CHANGES = {"en": ("Change/cancel: {phone}", "Change/cancel: call us"),
           "es": ("Cambios o cancelar: {phone}", "Cambios o cancelar: vuelva a llamar")}
WHEN = {
    "en": {"date": ": {date}", "time": " at {time}"},
    "es": {"date": " del {date}", "time": " {at} {time}"},
}
MERIDIEM = {"en": {"am": "AM", "pm": "PM"}, "es": {"am": "a. m.", "pm": "p. m."}}
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
    """YYYY-MM-DD as "Tue, Dec 1" / "1 de dic" (no weekday: "sáb" is not GSM-7); None when it is not a date."""
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    lang = language(lang)
    month = MONTHS[lang][day.month - 1]
    return f"{WEEKDAYS['en'][day.weekday()]}, {month} {day.day}" if lang == "en" else f"{day.day} de {month}"


def _clock(hhmm: str, ampm: str | None) -> tuple[int, int, str] | None:
    """(hour 1-12, minute, "am"/"pm"), or None when it is not a time.

    With am/pm, HHMM is on a 12-hour clock (an hour only the 24-hour clock has wins over it).
    Without, it is on the 24-hour clock, as book_ride's times are."""
    match = _TIME_RE.match(hhmm or "")
    if not match:
        return None
    hour, minute = int(match[1]), int(match[2])
    suffix = (ampm or "").strip().lower().replace(".", "").replace(" ", "")
    if minute > 59 or suffix not in ("am", "pm", "") or hour > 23:
        return None
    if suffix and 1 <= hour <= 12:
        return hour, minute, suffix
    return hour % 12 or 12, minute, "am" if hour < 12 else "pm"


def clock_time(hhmm: str, ampm: str | None = None, lang: str = "en") -> str | None:
    """HHMM as "9:30 AM" ("9:30 a. m." in Spanish); None when it is not a time (see `_clock`)."""
    clock = _clock(hhmm, ampm)
    if clock is None:
        return None
    hour, minute, suffix = clock
    return f"{hour}:{minute:02d} {MERIDIEM[language(lang)][suffix]}"


def ride_received(lang: str, appt_date: str, appt_time: str, appt_ampm: str | None, confirmation: str, *,
                  sender: str = "", phone: str = "") -> str:
    """The text acknowledging a ride request: who sends it, that it is not scheduled yet, when the
    appointment is, the request number, and how to change or cancel (`phone`, else "call us").

    A date or time that cannot be read is left out rather than shown raw."""
    lang = language(lang)
    when = ""
    day = spoken_date(appt_date, lang)
    if day is not None:
        when = WHEN[lang]["date"].format(date=day)
        at = clock_time(appt_time, appt_ampm, lang)
        clock = _clock(appt_time, appt_ampm)
        if at is not None and clock is not None:
            when += WHEN[lang]["time"].format(time=at, at="a la" if clock[0] == 1 else "a las")
    when = when.removesuffix(".")  # "a. m." ends the sentence itself
    changes = CHANGES[lang][0].format(phone=phone) if phone else CHANGES[lang][1]
    text = RIDE_RECEIVED[lang].format(when=when, confirmation=confirmation or "-", later=LATER[lang], changes=changes)
    if sender:
        text = f"{sender}: {text}"
    if segments(text) > 1:  # a long sender or number: the promise of a text goes first
        text = text.replace(LATER[lang], "") if LATER[lang] else text
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
