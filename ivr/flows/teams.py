"""Teams and opening hours for transfers: who a transfer rings, and when each team is open.

A frozen model, read from `flows/teams.yaml` by `teams_loader`: the line's time zone, a
calendar (public holidays, whole-day closures, special hours on given dates) and the teams a
transfer rings, each with its members and weekly hours.

What a day's hours are, most specific first: special hours for that date (which win even
over a holiday: they are how an office opens on one), then a closure or a holiday (closed
all day), then the team's weekly hours. A team without `hours` is always open and ignores
the calendar, like the teams a flow declares inline.

Pure: no clock (the moment to judge comes in as an aware `datetime`), no file format, and
no holiday library (the calendar asks the `HolidayBook` it was given).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo

TimeRange = tuple[time, time]

DEFAULT_TIMEZONE = "America/Los_Angeles"  # the line's zone when no teams file names one
DEFAULT_RING_SECONDS = 20
DEFAULT_NOTIFY_MINUTES = 15
DEFAULT_LANGUAGES = ("en",)
LOOKAHEAD = timedelta(days=14)
END_OF_DAY = time.max  # "24:00": open until midnight
ALL_DAY: tuple[TimeRange, ...] = ((time(0, 0), END_OF_DAY),)


# -- the model ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Member:
    """A person a transfer may ring."""

    name: str
    phone: str  # E.164
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    active: bool = True


@dataclass(frozen=True, slots=True)
class Team:
    """Who a transfer rings and when; `hours` None means always open (calendar ignored)."""

    id: str
    strategy: str = "ring_all"  # ring_all: everyone at once; hunt: one at a time, in order
    ring_seconds: int = DEFAULT_RING_SECONDS
    members: tuple[Member, ...] = ()
    hours: Mapping[int, tuple[TimeRange, ...]] | None = None  # weekday (0 = Monday) -> sorted ranges
    line: int = 0
    col: int = 0
    title: str = ""  # how people call the team ("" : its id in words)
    notify: tuple[str, ...] = ()  # E.164 numbers texted when a message arrives for the team
    notify_minutes: int = DEFAULT_NOTIFY_MINUTES  # at most one such text per this many minutes


def team_title(team: Team) -> str:
    """How people call a team: its title, else its id in words ("care_team" -> "Care team")."""
    return team.title or team.id.replace("_", " ").replace("-", " ").capitalize()


class HolidayBook(Protocol):
    """Where a calendar looks up public holidays (the reader gives one built on the holidays package)."""

    def names(self, day: date) -> tuple[str, ...]:
        """The names of the holidays on a day that the line keeps; () on other days."""
        ...


@dataclass(frozen=True, slots=True)
class NoHolidays:
    """A calendar without public holidays."""

    def names(self, day: date) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Calendar:
    """The line's time zone, and the public holidays, closures and special hours every team with hours follows."""

    timezone: str = DEFAULT_TIMEZONE
    holidays: HolidayBook = NoHolidays()
    closed: frozenset[date] = frozenset()
    special: Mapping[date, tuple[TimeRange, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)

    def holiday_names(self, day: date) -> tuple[str, ...]:
        """The names of the holidays on a day, leaving out the excepted ones."""
        return self.holidays.names(day)

    def is_holiday(self, day: date) -> bool:
        """True on a public holiday that is not excepted."""
        return bool(self.holiday_names(day))

    def is_business_day(self, day: date) -> bool:
        """Monday to Friday, not a holiday and not a closure (special hours that open the day win)."""
        if day.weekday() >= 5:
            return False
        if day in self.special:
            return bool(self.special[day])
        return day not in self.closed and not self.is_holiday(day)

    def business_days_after(self, start: date, end: date) -> int:
        """How many business days fall strictly after start, up to and including end."""
        return sum(1 for offset in range(1, (end - start).days + 1)
                   if self.is_business_day(start + timedelta(days=offset)))

    def hours_on(self, team: Team, day: date) -> tuple[TimeRange, ...]:
        """A team's opening ranges on a date, with special hours, closures and holidays applied."""
        if team.hours is None:
            return ALL_DAY
        if day in self.special:
            return self.special[day]
        if day in self.closed or self.is_holiday(day):
            return ()
        return team.hours.get(day.weekday(), ())


@dataclass(frozen=True, slots=True)
class Teams:
    """A loaded teams file."""

    path: str
    version: str  # sha256 of the text, first 12 hex digits
    calendar: Calendar
    source: str  # the file's text, so that a host that never read it can rebuild the same teams
    teams: Mapping[str, Team]


# -- questions about time ---------------------------------------------------------------
def _local(calendar: Calendar, now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(calendar.zone)


def _clock(moment: datetime) -> time:
    """The wall-clock time of a datetime."""
    return time(moment.hour, moment.minute, moment.second, moment.microsecond)


def _contains(span: TimeRange, clock: time) -> bool:
    start, end = span
    return start <= clock and (clock < end or end == END_OF_DAY)


def is_open(calendar: Calendar, team: Team, now: datetime) -> bool:
    """True if the team takes calls at an aware moment (judged in the calendar's time zone)."""
    if team.hours is None:
        return True
    local = _local(calendar, now)
    clock = _clock(local)
    return any(_contains(span, clock) for span in calendar.hours_on(team, local.date()))


def next_opening(calendar: Calendar, team: Team, now: datetime) -> datetime | None:
    """The first moment from now on when the team is open (now itself if open), in the calendar's
    time zone; None if that is more than 14 days away."""
    local = _local(calendar, now)
    if is_open(calendar, team, now):
        return local
    zone = calendar.zone
    now_utc = now.astimezone(UTC)
    clock = _clock(local)
    for offset in range(LOOKAHEAD.days + 1):
        day = local.date() + timedelta(days=offset)
        for start, _ in calendar.hours_on(team, day):
            if offset == 0 and start <= clock:
                continue
            # A start inside a spring-forward gap becomes the first real moment after it.
            opening = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            if opening <= now_utc:
                continue
            if opening - now_utc > LOOKAHEAD:
                return None
            return opening.astimezone(zone)
    return None


# -- who to ring ------------------------------------------------------------------------
def candidates(team: Team, lang: str, away: frozenset[str], tried: tuple[str, ...] = ()) -> tuple[Member, ...]:
    """Active members to ring, speakers of `lang` first, otherwise in file order.

    `away` and `tried` name members by phone (E.164) or by name; those are left out.
    """
    skipped = set(away) | set(tried)
    pool = [m for m in team.members if m.active and m.phone not in skipped and m.name not in skipped]
    return tuple([m for m in pool if lang in m.languages] + [m for m in pool if lang not in m.languages])


def inline_team(team_id: str, numbers: Iterable[str], *, ring_seconds: int = DEFAULT_RING_SECONDS) -> Team:
    """An always-open ring_all team from a plain list of numbers (a flow's own `teams:`)."""
    members = tuple(Member(name=number, phone=number, languages=(), active=True)
                    for number in dict.fromkeys(numbers))
    return Team(id=team_id, strategy="ring_all", ring_seconds=ring_seconds, members=members, hours=None)


# -- reading the file ---------------------------------------------------------------------
