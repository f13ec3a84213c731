"""The teams file: YAML -> frozen `Teams` (see `teams`), or every problem with its position.

An admin edits `flows/teams.yaml`. It is read like a flow: composed into position-carrying
YAML nodes (`yaml_reader.Reader`) and read in one pass that reports every problem as
`path:line:col: message [rule]`. Public holidays come from the `holidays` package, looked
up once per (country, subdivision, year).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
import yaml

from ivr.flows.problems import FlowError, Problem
from ivr.flows.teams import (DEFAULT_LANGUAGES, DEFAULT_NOTIFY_MINUTES, DEFAULT_RING_SECONDS, DEFAULT_TIMEZONE, END_OF_DAY, Calendar, Member,
                             Team, Teams, TimeRange)
from ivr.flows.yaml_reader import Reader, is_null, read_file

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STRATEGIES = ("ring_all", "hunt")
RING_SECONDS = (5, 120)
# Except names are checked against the holidays of these years (a fixed span: no clock here).
NAME_CHECK_YEARS = range(2020, 2041)

ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
OBSERVED_RE = re.compile(r"\s*\(observed\)$", re.IGNORECASE)

TOP_KEYS = {"timezone", "calendar", "teams", "description"}
CALENDAR_KEYS = {"holidays", "closed", "special_hours"}
HOLIDAY_KEYS = {"country", "subdivision", "except"}
TEAM_KEYS = {"strategy", "ring_seconds", "hours", "members", "description", "title", "notify", "notify_minutes"}
NOTIFY_MINUTES = (1, 1440)
MEMBER_KEYS = {"name", "phone", "languages", "active"}
HOURS_SHAPE = '"HH:MM-HH:MM", a list of such ranges, or "closed"'
# The two-letter codes of ISO 639-1 (three-letter codes, ISO 639-2 and -3, such as hmn or yue, are taken as written).
ISO_639_1 = frozenset("""
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
    en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it
    iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt
    my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl
    sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo
    za zh zu""".split())
# Country codes and old spellings often written for a language.
LIKELY_MEANT = {"sp": "es", "jp": "ja", "kr": "ko", "cn": "zh", "vn": "vi", "gr": "el", "dk": "da", "ua": "uk",
                "cz": "cs", "iw": "he", "in": "id", "ji": "yi", "ph": "tl", "ir": "fa"}


@dataclass(frozen=True, slots=True)
class PublicHolidays:
    """The public holidays of a country (and subdivision), less the excepted ones (by name)."""

    country: str
    subdivision: str | None = None
    excepted: frozenset[str] = frozenset()

    def names(self, day: date) -> tuple[str, ...]:
        names = _holidays_of_year(self.country, self.subdivision, day.year).get(day, ())
        return tuple(name for name in names if _base_name(name) not in self.excepted)


@lru_cache(maxsize=256)
def _holidays_of_year(country: str, subdivision: str | None, year: int) -> Mapping[date, tuple[str, ...]]:
    """Holiday names by date for one year (building a year is slow, so each is built once)."""
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return MappingProxyType({day: tuple(found.get_list(day)) for day in sorted(found) if day.year == year})


def _base_name(name: str) -> str:
    """A holiday's name without "(observed)", so excepting a holiday also drops its observed day."""
    return OBSERVED_RE.sub("", name)


def _clock_text(value: time) -> str:
    return "24:00" if value == END_OF_DAY else f"{value:%H:%M}"


def _range_text(span: TimeRange) -> str:
    return f"{_clock_text(span[0])}-{_clock_text(span[1])}"


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _position(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


Spans = list[tuple[yaml.Node, TimeRange]]  # ranges with the node each was written at


class _Reading:
    """One pass over a teams file's YAML tree."""

    def __init__(self, reader: Reader):
        self.r = reader

    # -- values ------------------------------------------------------------------------
    def day(self, node: yaml.Node, what: str) -> date | None:
        text = self.r.string(node, what)
        if text is None:
            return None
        try:
            if DATE_RE.match(text):
                return date.fromisoformat(text)
        except ValueError:
            pass
        self.r.error(node, f'{what} "{text}" is not a date; write YYYY-MM-DD, e.g. "2026-12-24"', "bad-date")
        return None

    def clock(self, node: yaml.Node, hour: int, minute: int, what: str, end: bool) -> time | None:
        if hour == 24 and minute == 0:
            if end:
                return END_OF_DAY
            self.r.error(node, f'"24:00" in {what} can only end a range', "bad-hours")
            return None
        if hour < 24 and minute < 60:
            return time(hour, minute)
        self.r.error(node, f'"{hour:02d}:{minute:02d}" in {what} is not a time of day (00:00 to 24:00)', "bad-hours")
        return None

    def time_range(self, node: yaml.Node, text: str, what: str) -> TimeRange | None:
        match = RANGE_RE.match(text)
        if not match:
            self.r.error(node, f'"{text}" in {what} is not a time range; write HH:MM-HH:MM, e.g. "08:00-18:00"',
                         "bad-hours")
            return None
        start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
        start = self.clock(node, start_hour, start_minute, what, end=False)
        end = self.clock(node, end_hour, end_minute, what, end=True)
        if start is None or end is None:
            return None
        if end <= start:
            how = "ends when it starts" if end == start else "ends before it starts"
            self.r.error(node, f'"{text}" in {what} {how}; a range runs forward within one day', "bad-hours")
            return None
        return start, end

    def spans(self, node: yaml.Node, what: str) -> Spans | None:
        """A day's hours: a range, a list of ranges, or "closed" (an empty list)."""
        items: list[tuple[yaml.Node, str]]
        if isinstance(node, yaml.ScalarNode) and not is_null(node):
            if node.value == "closed":
                return []
            items = [(node, node.value)]
        elif isinstance(node, yaml.SequenceNode):
            items = self.r.strings(node, what)
        else:
            self.r.error(node, f"{what} must be {HOURS_SHAPE}", "type")
            return None
        out: Spans = []
        for item, text in items:
            span = self.time_range(item, text, what)
            if span is not None:
                out.append((item, span))
        return out

    def overlaps(self, by_day: Mapping[str, Spans], what: str, name_days: bool = True) -> None:
        """Report ranges that overlap on a day, once per pair of ranges, naming the days."""
        clashes: dict[tuple[int, int], tuple[yaml.Node, TimeRange, yaml.Node, TimeRange, list[str]]] = {}
        for label, spans in by_day.items():
            ordered = sorted(spans, key=lambda item: _position(item[0]))
            for j, (later, b) in enumerate(ordered):
                for earlier, a in ordered[:j]:
                    if a[0] < b[1] and b[0] < a[1]:
                        key = (id(later), id(earlier))
                        clashes.setdefault(key, (later, b, earlier, a, []))[4].append(label)
        for later, b, earlier, a, labels in clashes.values():
            days = f' on {", ".join(labels)}' if name_days else ""
            self.r.error(later, f'"{_range_text(b)}" overlaps "{_range_text(a)}" (line {_line(earlier)}){days} '
                                f'in {what}', "overlapping-hours")

    # -- the file ----------------------------------------------------------------------
    def teams_file(self, root: yaml.Node, path: str, text: str) -> Teams | None:
        top = self.r.mapping(root, "the teams file")
        if top is None:
            return None
        self.r.check_keys(top, TOP_KEYS, "the teams file")
        for required in ("timezone", "teams"):
            if required not in top:
                self.r.error(root, f'missing "{required}"', "missing-key")
        zone = self.timezone(top["timezone"][1]) if "timezone" in top else None
        calendar = self.calendar(top["calendar"][1], zone or DEFAULT_TIMEZONE) if "calendar" in top \
            else Calendar(timezone=zone or DEFAULT_TIMEZONE)
        teams = self.teams(top["teams"][1]) if "teams" in top else {}
        if zone is None or any(p.is_error for p in self.r.problems):
            return None
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return Teams(path=path, version=version, calendar=calendar, teams=MappingProxyType(teams), source=text)

    def timezone(self, node: yaml.Node) -> str | None:
        name = self.r.string(node, "timezone")
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.r.error(node, f'unknown time zone "{name}"; use an IANA name such as America/Los_Angeles',
                         "unknown-timezone")
            return None
        return name

    def calendar(self, node: yaml.Node, zone: str) -> Calendar:
        entries = self.r.mapping(node, "calendar") or {}
        self.r.check_keys(entries, CALENDAR_KEYS, "calendar")
        base = Calendar(timezone=zone)
        if "holidays" in entries:
            base = self.holidays(entries["holidays"][1], base)
        closed = self.closed(entries["closed"][1], base) if "closed" in entries else {}
        special = self.special(entries["special_hours"][1], closed, base) if "special_hours" in entries else {}
        return Calendar(timezone=zone, holidays=base.holidays, closed=frozenset(closed),
                        special=MappingProxyType(special))

    def holidays(self, node: yaml.Node, base: Calendar) -> Calendar:
        """The holiday source; the calendar is returned unchanged if it cannot be used."""
        what = "calendar.holidays"
        entries = self.r.mapping(node, what)
        if entries is None:
            return base
        self.r.check_keys(entries, HOLIDAY_KEYS, what)
        if "country" not in entries:
            self.r.error(node, f'{what} needs "country", e.g. US', "missing-key")
        country = self.r.string(entries["country"][1], f"{what}.country") if "country" in entries else None
        subdivision = (self.r.string(entries["subdivision"][1], f"{what}.subdivision")
                       if "subdivision" in entries else None)
        excepted = self.r.strings(entries["except"][1], f"{what}.except") if "except" in entries else []
        if country is None:
            return base
        supported = holidays.list_supported_countries()
        if country not in supported:
            self.r.error(entries["country"][1], f'the holidays package has no country "{country}"; use a '
                                                'two-letter ISO code such as US', "unknown-country")
            return base
        if subdivision is not None and subdivision not in supported[country]:
            self.r.error(entries["subdivision"][1],
                         f'the holidays package has no subdivision "{subdivision}" of {country}; '
                         f'known: {", ".join(supported[country])}', "unknown-subdivision")
            return base
        if "subdivision" in entries and subdivision is None:
            return base
        known: set[str] = set()
        for year in NAME_CHECK_YEARS if excepted else ():
            for names in _holidays_of_year(country, subdivision, year).values():
                known.update(_base_name(name) for name in names)
        where = f"{country}-{subdivision}" if subdivision else country
        for item, name in excepted:
            if _base_name(name) not in known:
                self.r.warn(item, f'"{name}" in {what}.except is not a holiday of {where} in '
                                  f'{NAME_CHECK_YEARS[0]}-{NAME_CHECK_YEARS[-1]}', "unknown-holiday",
                            f'names: {", ".join(sorted(known))}')
        book = PublicHolidays(country, subdivision, frozenset(_base_name(name) for _, name in excepted))
        return Calendar(timezone=base.timezone, holidays=book)

    def closed(self, node: yaml.Node, base: Calendar) -> dict[date, yaml.Node]:
        out: dict[date, yaml.Node] = {}
        for item in self.r.sequence(node, "calendar.closed") or []:
            day = self.day(item, "closed date")
            if day is None:
                continue
            if day in out:
                self.r.error(item, f"closed date {day} is listed twice; first at line {_line(out[day])}",
                             "duplicate-date")
                continue
            out[day] = item
            names = base.holiday_names(day)
            if names:
                self.r.warn(item, f'closed date {day} is a holiday anyway ({"; ".join(names)})',
                            "redundant-closure", "remove it")
        return out

    def special(self, node: yaml.Node, closed: Mapping[date, yaml.Node],
                base: Calendar) -> dict[date, tuple[TimeRange, ...]]:
        out: dict[date, tuple[TimeRange, ...]] = {}
        for _, (key_node, value_node) in (self.r.mapping(node, "calendar.special_hours") or {}).items():
            day = self.day(key_node, "special hours date")
            spans = self.spans(value_node, f"special hours on {key_node.value}")
            if day is None or spans is None:
                continue
            if day in closed:
                self.r.error(key_node, f"special hours on {day}, which is also a closed date "
                                       f"(line {_line(closed[day])}); keep one", "conflicting-date")
                continue
            if not spans and base.is_holiday(day):
                self.r.warn(value_node, f'special hours close {day}, a holiday anyway '
                                        f'({"; ".join(base.holiday_names(day))})', "redundant-closure", "remove it")
            self.overlaps({str(day): spans}, f"special hours on {day}", name_days=False)
            out[day] = tuple(sorted(span for _, span in spans))
        return out

    def teams(self, node: yaml.Node) -> dict[str, Team]:
        entries = self.r.mapping(node, "teams")
        if entries is None:
            return {}
        if not entries:
            self.r.error(node, "teams lists no team", "missing-key")
        out = {}
        for team_id, (key_node, value_node) in entries.items():
            if not ID_RE.match(team_id):
                self.r.error(key_node, f'team name "{team_id}" must be letters, digits, - and _', "bad-name")
                continue
            team = self.team(team_id, key_node, value_node)
            if team is not None:
                out[team_id] = team
        return out

    def team(self, team_id: str, key_node: yaml.Node, node: yaml.Node) -> Team | None:
        what = f'team "{team_id}"'
        if isinstance(node, yaml.SequenceNode):
            self.r.error(node, f"{what} must be a mapping with members; a plain list of numbers is how a flow "
                               "declares a team inline", "type")
            return None
        entries = self.r.mapping(node, what)
        if entries is None:
            return None
        self.r.check_keys(entries, TEAM_KEYS, what)
        strategy = "ring_all"
        if "strategy" in entries:
            value = self.r.string(entries["strategy"][1], f"strategy of {what}")
            if value is not None and value not in STRATEGIES:
                self.r.error(entries["strategy"][1], f'strategy "{value}" of {what} is not one of '
                                                     f'{", ".join(STRATEGIES)}', "bad-value")
            strategy = value if value in STRATEGIES else strategy
        ring_seconds = DEFAULT_RING_SECONDS
        if "ring_seconds" in entries:
            ring_seconds = self.r.integer(entries["ring_seconds"][1], f"ring_seconds of {what}",
                                          *RING_SECONDS) or DEFAULT_RING_SECONDS
        hours = self.hours(entries["hours"], team_id) if "hours" in entries else None
        if "members" not in entries:
            self.r.error(key_node, f'{what} needs "members"', "missing-key")
        before = len(self.r.problems)
        members = self.members(entries["members"][1], team_id) if "members" in entries else []
        if "members" in entries and len(self.r.problems) == before and not any(m.active for m in members):
            self.r.warn(key_node, f"{what} has no active member, so a transfer to it rings nobody",
                        "no-active-member", "add one or mark one active: true")
        title, notify, every = self.notifying(entries, what)
        return Team(id=team_id, strategy=strategy, ring_seconds=ring_seconds, members=tuple(members),
                    hours=hours, line=_line(key_node), col=key_node.start_mark.column + 1, title=title,
                    notify=notify, notify_minutes=every)

    def notifying(self, entries: Mapping[str, tuple[yaml.Node, yaml.Node]],
                  what: str) -> tuple[str, tuple[str, ...], int]:
        """The team's title, the numbers texted when a message arrives, and how often at most."""
        title = ""
        if "title" in entries:
            title = (self.r.string(entries["title"][1], f"title of {what}") or "").strip()
            if not title:
                self.r.error(entries["title"][1], f"title of {what} is empty", "type")
        numbers: list[str] = []
        if "notify" in entries:
            for item, _ in self.r.strings(entries["notify"][1], f"notify of {what}"):
                number = self.phone(item, f"notify of {what}")
                if number is not None and number not in numbers:
                    numbers.append(number)
        every = DEFAULT_NOTIFY_MINUTES
        if "notify_minutes" in entries:
            every = self.r.integer(entries["notify_minutes"][1], f"notify_minutes of {what}",
                                   *NOTIFY_MINUTES) or DEFAULT_NOTIFY_MINUTES
        return title, tuple(numbers), every

    def day_keys(self, node: yaml.Node, key: str, what: str) -> list[int] | None:
        """The weekdays a key such as "sat" or "mon-fri" stands for."""
        parts = key.split("-")
        if len(parts) > 2 or any(part not in DAYS for part in parts):
            self.r.error(node, f'"{key}" in {what} is not a day; use {" ".join(DAYS)} or a range such as mon-fri',
                         "bad-day")
            return None
        first, last = DAYS.index(parts[0]), DAYS.index(parts[-1])
        if len(parts) == 2 and first >= last:
            self.r.error(node, f'day range "{key}" in {what} must run from an earlier to a later day '
                               '(mon first, sun last)', "bad-day")
            return None
        return list(range(first, last + 1))

    def hours(self, item: tuple[yaml.Node, yaml.Node], team_id: str) -> Mapping[int, tuple[TimeRange, ...]] | None:
        what = f'hours of team "{team_id}"'
        before = len(self.r.problems)
        entries = self.r.mapping(item[1], what)
        if entries is None:
            return None
        by_day: dict[int, Spans] = {day: [] for day in range(7)}
        listed: dict[int, yaml.Node] = {}  # weekday -> the key that listed it first
        for key, (key_node, value_node) in entries.items():
            days = self.day_keys(key_node, key, what)
            spans = self.spans(value_node, f"{what} ({key})")
            if days is None:
                continue
            again: dict[int, tuple[yaml.Node, list[str]]] = {}  # first key's id -> (first key, days)
            for day in days:
                if day in listed:
                    again.setdefault(id(listed[day]), (listed[day], []))[1].append(DAYS[day])
                else:
                    listed[day] = key_node
                by_day[day].extend(spans or [])
            for first, names in again.values():
                self.r.error(key_node, f'{", ".join(names)} already listed under "{first.value}" '
                                       f"(line {_line(first)}) in {what}; list each day once", "duplicate-day")
        self.overlaps({DAYS[day]: spans for day, spans in by_day.items()}, what)
        if len(self.r.problems) == before and not any(by_day.values()):
            self.r.warn(item[0], f'team "{team_id}" is never open: its hours close every day', "never-open",
                        "give it hours, or drop hours to keep it always open")
        return MappingProxyType({day: tuple(sorted(span for _, span in spans)) for day, spans in by_day.items()})

    def members(self, node: yaml.Node, team_id: str) -> list[Member]:
        out = []
        names: dict[str, yaml.Node] = {}
        phones: dict[str, tuple[yaml.Node, str]] = {}
        for index, item in enumerate(self.r.sequence(node, f'members of team "{team_id}"') or [], start=1):
            member, name, phone = self.member(item, team_id, index)
            if name is not None:
                if name[1] in names:
                    self.r.error(name[0], f'team "{team_id}" lists "{name[1]}" twice; first at line '
                                          f"{_line(names[name[1]])}", "duplicate-member")
                    member = None
                else:
                    names[name[1]] = name[0]
            if phone is not None:
                who = f'"{name[1]}"' if name is not None else f"member {index}"
                if phone[1] in phones:
                    first_node, first_who = phones[phone[1]]
                    self.r.error(phone[0], f"{phone[1]} of {who} is also the phone of {first_who} "
                                           f'(line {_line(first_node)}) in team "{team_id}"', "duplicate-member")
                    member = None
                else:
                    phones[phone[1]] = (phone[0], who)
            if member is not None:
                out.append(member)
        return out

    def member(self, node: yaml.Node, team_id: str, index: int) -> tuple[Member | None, tuple | None, tuple | None]:
        """A member (None if it has errors), and its name and phone with their nodes where they read well."""
        entries = self.r.mapping(node, f'member {index} of team "{team_id}"')
        if entries is None:
            return None, None, None
        name = self.r.string(entries["name"][1], f'name of member {index} of team "{team_id}"') \
            if "name" in entries else None
        if name is not None and not name.strip():
            self.r.error(entries["name"][1], f'member {index} of team "{team_id}" has an empty name', "type")
            name = None
        what = f'member "{name}" of team "{team_id}"' if name else f'member {index} of team "{team_id}"'
        self.r.check_keys(entries, MEMBER_KEYS, what)
        for required in ("name", "phone"):
            if required not in entries:
                self.r.error(node, f'{what} needs "{required}"', "missing-key")
        phone = self.phone(entries["phone"][1], what) if "phone" in entries else None
        languages = self.languages(entries["languages"][1], what) if "languages" in entries else DEFAULT_LANGUAGES
        active = self.r.boolean(entries["active"][1], f"active of {what}") if "active" in entries else True
        named = (entries["name"][1], name) if name is not None else None
        dialled = (entries["phone"][1], phone) if phone is not None else None
        if name is None or phone is None or languages is None or active is None:
            return None, named, dialled
        return Member(name=name, phone=phone, languages=languages, active=active), named, dialled

    def phone(self, node: yaml.Node, what: str) -> str | None:
        text = self.r.string(node, f"phone of {what}")
        if text is None:
            return None
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            self.r.error(node, f'"{text}" of {what} is not a valid phone number; write + and the country code, '
                               'e.g. +16266696777', "bad-phone")
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def languages(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        items = self.r.strings(node, f"languages of {what}")
        if isinstance(node, yaml.SequenceNode) and not node.value:
            self.r.error(node, f"languages of {what} is empty; list at least one, e.g. [en]", "bad-language")
            return None
        bad = [(item, code) for item, code in items if not LANGUAGE_RE.match(code)]
        for item, code in bad:
            self.r.error(item, f'"{code}" in languages of {what} is not a language code (2 or 3 lowercase '
                               'letters, e.g. en, es)', "bad-language")
        unknown = [(item, code) for item, code in items if len(code) == 2 and LANGUAGE_RE.match(code)
                   and code not in ISO_639_1]
        for item, code in unknown:
            meant = f'; did you mean "{LIKELY_MEANT[code]}"?' if code in LIKELY_MEANT else \
                "; use an ISO 639-1 code, e.g. en, es, zh, vi, ko, tl, hy, ru, fa"
            self.r.error(item, f'"{code}" in languages of {what} is not a language code{meant}', "unknown-language")
        bad += unknown
        if bad or not items:
            return None
        return tuple(dict.fromkeys(code for _, code in items))


# -- entry points -------------------------------------------------------------------------
def lint_teams_text(text: str, path: str) -> tuple[Teams | None, list[Problem]]:
    """Read teams from text: the teams (None if there are errors) and every problem, sorted."""
    reader = Reader(path)
    root = reader.compose(text)
    teams = None
    if root is not None:
        teams = _Reading(reader).teams_file(root, path, text)
    elif not reader.problems:
        reader.problems.append(Problem(path, 1, 1, "the teams file is empty", "missing-key"))
    return teams, sorted(set(reader.problems))


def lint_teams_file(path: str | Path) -> tuple[Teams | None, list[Problem]]:
    """Read a teams file: the teams (None if there are errors) and every problem, sorted."""
    text, problems = read_file(path)
    return lint_teams_text(text, str(path)) if text is not None else (None, problems)


def load_teams(path: str | Path) -> Teams:
    """Load a teams file or raise FlowError with every error in it."""
    teams, problems = lint_teams_file(path)
    if teams is None:
        raise FlowError([p for p in problems if p.is_error])
    return teams
