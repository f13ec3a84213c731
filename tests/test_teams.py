"""Teams and opening hours: the linter, the shipped file, and the time questions."""

from __future__ import annotations

import hashlib
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from ivr.flows import teams as teams_module
from ivr.flows import teams_loader
from ivr.flows.problems import FlowError
from ivr.flows.teams import Calendar, Member, Team, candidates, inline_team, is_open, next_opening
from ivr.flows.teams_loader import PublicHolidays, lint_teams_file, lint_teams_text, load_teams

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "teams"
SHIPPED = ROOT / "flows" / "teams.yaml"
LA = ZoneInfo("America/Los_Angeles")
NEW_YORK = ZoneInfo("America/New_York")


# -- the linter (its golden files, and the rules they cover, are checked in test_lint_golden.py) ---
def _lint(monkeypatch, path: Path):
    monkeypatch.chdir(ROOT)
    return lint_teams_file(path.relative_to(ROOT).as_posix())


def test_problems_come_sorted_and_all_at_once(monkeypatch) -> None:
    _, problems = _lint(monkeypatch, CASES / "bad_hours.yaml")
    assert problems == sorted(problems)
    assert len({p.line for p in problems}) > 5


def test_load_teams_raises_with_only_the_errors(tmp_path: Path) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text((CASES / "bad_members.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(FlowError) as failure:
        load_teams(path)
    assert failure.value.problems and all(p.is_error for p in failure.value.problems)
    assert "no-active-member" not in str(failure.value)


def test_a_missing_file_is_one_io_problem(tmp_path: Path) -> None:
    loaded, problems = lint_teams_file(tmp_path / "nope.yaml")
    assert loaded is None
    assert [p.rule for p in problems] == ["io"]


# -- the shipped file --------------------------------------------------------------------
def test_the_shipped_teams_file_lints_clean() -> None:
    loaded, problems = lint_teams_file(SHIPPED)
    assert [str(p) for p in problems] == []
    assert loaded is not None
    assert set(loaded.teams) == {"coordinators", "transportation"}
    assert loaded.calendar.timezone == "America/Los_Angeles"
    phones = {m.phone for team in loaded.teams.values() for m in team.members}
    assert "+16265550131" in phones and all("55501" in phone for phone in phones)  # example numbers only
    coordinators = loaded.teams["coordinators"]
    assert any(not m.active for m in coordinators.members)
    assert any(m.languages == ("en",) for m in coordinators.members)
    assert any({"en", "es"} <= set(m.languages) for m in coordinators.members)
    calendar = loaded.calendar
    # Optional observances are not office holidays; the special hours open the Day After Thanksgiving.
    assert not calendar.is_holiday(date(2026, 2, 15)) and not calendar.is_holiday(date(2027, 10, 29))
    assert calendar.is_holiday(date(2026, 11, 26))
    assert calendar.hours_on(coordinators, date(2026, 11, 27)) == ((_t(9), _t(13)),)
    assert calendar.hours_on(loaded.teams["transportation"], date(2026, 12, 31)) == ()


def test_the_version_is_a_hash_of_the_text() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    loaded, _ = lint_teams_text(text, "flows/teams.yaml")
    assert loaded is not None
    assert loaded.version == hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    assert loaded.path == "flows/teams.yaml"


def test_loaded_teams_are_immutable() -> None:
    loaded = load_teams(SHIPPED)
    team = loaded.teams["coordinators"]
    with pytest.raises(TypeError):
        loaded.teams["other"] = team  # type: ignore[index]
    with pytest.raises(TypeError):
        team.hours[6] = ()  # type: ignore[index]
    with pytest.raises(TypeError):
        loaded.calendar.special[date(2027, 1, 2)] = ()  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        setattr(team, "ring_seconds", 99)
    assert isinstance(team.members, tuple) and isinstance(loaded.calendar.closed, frozenset)


# -- time ----------------------------------------------------------------------------------
CALENDAR_TEXT = """\
timezone: America/Los_Angeles
calendar:
  holidays: {country: US, subdivision: CA, except: ["Susan B. Anthony Day", "Diwali"]}
  closed: ["2026-12-24"]
  special_hours: {"2026-11-27": "09:00-13:00", "2026-12-26": closed}
teams:
  coordinators:
    hours: {mon-fri: "08:00-18:00", sat: "09:00-13:00"}
    members: [{name: Ana Rivera, phone: "+16266696777"}]
  late:
    hours: {mon-fri: ["06:00-10:00", "16:00-24:00"]}
    members: [{name: Marcus Chen, phone: "+16265550142"}]
  closed_all_week:
    hours: {mon-sun: closed}
    members: [{name: Rosa Delgado, phone: "+16265550163"}]
"""


@pytest.fixture(scope="module")
def loaded():
    result, problems = lint_teams_text(CALENDAR_TEXT, "teams.yaml")
    assert result is not None and [p.rule for p in problems] == ["never-open"]
    return result


def _t(hour: int, minute: int = 0) -> time:
    return time(hour, minute)


def la(year, month, day, hour, minute=0, second=0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LA)


def utc(year, month, day, hour, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize("team_id, now, expected", [
    # a weekday: 08:00 opens, 18:00 closes
    ("coordinators", la(2026, 11, 18, 10), True),
    ("coordinators", la(2026, 11, 18, 7, 59), False),
    ("coordinators", la(2026, 11, 18, 8), True),
    ("coordinators", la(2026, 11, 18, 17, 59), True),
    ("coordinators", la(2026, 11, 18, 18), False),
    # the weekend: Saturday mornings only
    ("coordinators", la(2026, 11, 21, 9, 30), True),
    ("coordinators", la(2026, 11, 21, 13), False),
    ("coordinators", la(2026, 11, 22, 12), False),
    # holidays: Thanksgiving, Cesar Chavez Day; an excepted one (Diwali 2027) stays open
    ("coordinators", la(2026, 11, 26, 10), False),
    ("coordinators", la(2026, 3, 31, 10), False),
    ("coordinators", la(2027, 10, 29, 10), True),
    # special hours on the Day After Thanksgiving (a California holiday)
    ("coordinators", la(2026, 11, 27, 10), True),
    ("coordinators", la(2026, 11, 27, 8, 30), False),
    ("coordinators", la(2026, 11, 27, 13, 30), False),
    # a closure, and a special "closed" on what would be a Saturday morning
    ("coordinators", la(2026, 12, 24, 10), False),
    ("coordinators", la(2026, 12, 26, 10), False),
    # from UTC: 16:00 UTC is 08:00 PST in November, 08:00 PDT is 15:00 UTC in July
    ("coordinators", utc(2026, 11, 18, 16), True),
    ("coordinators", utc(2026, 11, 18, 15, 59), False),
    ("coordinators", utc(2026, 7, 15, 15), True),
    ("coordinators", utc(2026, 7, 15, 14, 59), False),
    # the UTC date is Thanksgiving, the local one still the Wednesday before
    ("coordinators", utc(2026, 11, 26, 1), True),
    # from another zone
    ("coordinators", datetime(2026, 11, 18, 11, 0, tzinfo=NEW_YORK), True),
    ("coordinators", datetime(2026, 11, 18, 10, 59, tzinfo=NEW_YORK), False),
    # DST: the same 15:30 UTC is 07:30 PST before March 8 2026 and 08:30 PDT after; back again after November 1
    ("coordinators", utc(2026, 3, 6, 15, 30), False),
    ("coordinators", utc(2026, 3, 9, 15, 30), True),
    ("coordinators", utc(2026, 10, 30, 15, 30), True),
    ("coordinators", utc(2026, 11, 2, 15, 30), False),
    # two ranges a day, the second until midnight
    ("late", la(2026, 11, 16, 9, 59), True),
    ("late", la(2026, 11, 16, 12), False),
    ("late", la(2026, 11, 17, 23, 59, 59), True),
    ("late", la(2026, 11, 18, 0), False),
    ("closed_all_week", la(2026, 11, 18, 10), False),
])
def test_is_open(loaded, team_id, now, expected) -> None:
    assert is_open(loaded.calendar, loaded.teams[team_id], now) is expected


@pytest.mark.parametrize("team_id, now, expected", [
    ("coordinators", la(2026, 11, 18, 10), la(2026, 11, 18, 10)),  # open now: now
    ("coordinators", la(2026, 11, 18, 7), la(2026, 11, 18, 8)),
    ("coordinators", la(2026, 11, 25, 19), la(2026, 11, 27, 9)),  # skips Thanksgiving, special hours on Friday
    ("coordinators", la(2026, 11, 27, 14), la(2026, 11, 28, 9)),
    ("coordinators", la(2026, 11, 28, 13), la(2026, 11, 30, 8)),
    ("coordinators", la(2026, 12, 23, 18), la(2026, 12, 28, 8)),  # closure, Christmas, special closed Saturday
    ("coordinators", utc(2026, 11, 19, 2, 30), la(2026, 11, 19, 8)),  # Wednesday 18:30 local
    ("coordinators", la(2026, 3, 7, 14), la(2026, 3, 9, 8)),  # across the spring DST change
    ("late", la(2026, 11, 16, 11), la(2026, 11, 16, 16)),
    ("late", la(2026, 11, 20, 23, 59), la(2026, 11, 20, 23, 59)),
    ("closed_all_week", la(2026, 12, 1, 10), None),
    # the calendar's special hours replace every team's weekly hours, even a team closed all week
    ("closed_all_week", la(2026, 11, 18, 10), la(2026, 11, 27, 9)),
])
def test_next_opening(loaded, team_id, now, expected) -> None:
    found = next_opening(loaded.calendar, loaded.teams[team_id], now)
    assert found == expected
    if found is not None:
        assert found.tzinfo == LA


def test_next_opening_counts_real_hours_across_dst(loaded) -> None:
    found = next_opening(loaded.calendar, loaded.teams["coordinators"], la(2026, 3, 7, 14))
    assert found is not None and found.astimezone(UTC) == utc(2026, 3, 9, 15)


def test_next_opening_looks_14_days_ahead_at_most() -> None:
    calendar = Calendar(timezone="America/Los_Angeles",
                        closed=frozenset(date(2026, 11, d) for d in range(1, 31)))
    team = Team(id="t", members=(Member("A", "+16266696777"),),
                hours={day: ((_t(8), _t(18)),) for day in range(7)})
    assert next_opening(calendar, team, la(2026, 11, 10, 12)) is None
    assert next_opening(calendar, team, la(2026, 11, 20, 12)) == la(2026, 12, 1, 8)


def test_a_naive_moment_is_refused(loaded) -> None:
    with pytest.raises(ValueError):
        is_open(loaded.calendar, loaded.teams["coordinators"], datetime(2026, 11, 18, 10))


@pytest.mark.parametrize("start, end, expected", [
    (date(2026, 11, 20), date(2026, 11, 23), 1),  # Friday to Monday: the weekend does not count
    (date(2026, 11, 16), date(2026, 11, 20), 4),
    (date(2026, 11, 20), date(2026, 11, 20), 0),
    (date(2026, 11, 23), date(2026, 11, 20), 0),
    (date(2026, 1, 16), date(2026, 1, 20), 1),  # Martin Luther King Jr. Day
    (date(2026, 11, 25), date(2026, 11, 30), 2),  # Thanksgiving out; special hours keep Friday a business day
    (date(2026, 12, 23), date(2026, 12, 28), 1),  # a closure and Christmas
    (date(2026, 12, 30), date(2027, 1, 4), 2),  # across the year, New Year's Day out
])
def test_business_days_after(loaded, start, end, expected) -> None:
    assert loaded.calendar.business_days_after(start, end) == expected


def test_business_days_without_special_hours() -> None:
    calendar = Calendar(timezone="America/Los_Angeles", holidays=PublicHolidays("US", "CA"))
    assert calendar.business_days_after(date(2026, 11, 25), date(2026, 11, 30)) == 1
    assert not calendar.is_business_day(date(2026, 11, 27))
    assert calendar.is_business_day(date(2026, 11, 30))


def test_holiday_exceptions() -> None:
    every = Calendar(timezone="America/Los_Angeles", holidays=PublicHolidays("US", "CA"))
    excepted = frozenset({"Susan B. Anthony Day", "Diwali", "Independence Day"})
    fewer = Calendar(timezone="America/Los_Angeles", holidays=PublicHolidays("US", "CA", excepted))
    assert every.is_holiday(date(2027, 10, 29)) and not fewer.is_holiday(date(2027, 10, 29))
    # 2027-02-15 is also Presidents' Day, which stays
    assert fewer.holiday_names(date(2027, 2, 15)) == ("Presidents' Day",)
    # excepting a holiday also drops its observed day
    assert every.is_holiday(date(2026, 7, 3)) and not fewer.is_holiday(date(2026, 7, 3))
    assert not Calendar().is_holiday(date(2026, 12, 25))


def test_holiday_years_are_built_once(monkeypatch) -> None:
    calls = []
    build = holidays.country_holidays

    def counting(*args, **kwargs):
        calls.append(args)
        return build(*args, **kwargs)

    monkeypatch.setattr(teams_loader.holidays, "country_holidays", counting)
    teams_loader._holidays_of_year.cache_clear()
    calendar = Calendar(timezone="America/Los_Angeles", holidays=PublicHolidays("US", "CA"))
    for _ in range(3):
        assert calendar.is_holiday(date(2031, 7, 4))
        assert not calendar.is_holiday(date(2031, 7, 8))
    assert len(calls) == 1
    calendar.is_holiday(date(2032, 1, 1))
    assert len(calls) == 2


# -- who to ring -------------------------------------------------------------------------
ANA = Member("Ana Rivera", "+16266696777", ("en", "es"))
MARCUS = Member("Marcus Chen", "+16265550142", ("en",))
DANA = Member("Dana Whitfield", "+16265550119", ("es",), active=False)
LUCIA = Member("Lucia Ortega", "+16265550187", ("es",))
KEVIN = Member("Kevin Park", "+16265550175", ("en", "es"))
DESK = Team(id="desk", members=(ANA, MARCUS, DANA, LUCIA, KEVIN))


@pytest.mark.parametrize("lang, away, tried, expected", [
    ("es", frozenset(), (), (ANA, LUCIA, KEVIN, MARCUS)),
    ("en", frozenset(), (), (ANA, MARCUS, KEVIN, LUCIA)),
    ("fr", frozenset(), (), (ANA, MARCUS, LUCIA, KEVIN)),  # nobody speaks it: file order
    ("es", frozenset({LUCIA.phone}), (), (ANA, KEVIN, MARCUS)),
    ("es", frozenset({"Ana Rivera"}), (), (LUCIA, KEVIN, MARCUS)),  # away by name
    ("es", frozenset(), (ANA.phone,), (LUCIA, KEVIN, MARCUS)),
    ("en", frozenset({MARCUS.phone}), (ANA.phone, KEVIN.phone), (LUCIA,)),
    ("es", frozenset({DANA.phone}), (), (ANA, LUCIA, KEVIN, MARCUS)),  # inactive either way
    ("en", frozenset({m.phone for m in DESK.members}), (), ()),
])
def test_candidates(lang, away, tried, expected) -> None:
    assert candidates(DESK, lang, away, tried) == expected


def test_inline_team_is_always_open_and_rings_everyone(loaded) -> None:
    team = inline_team("coordinators", ["+16266696777", "+16265550142", "+16266696777"])
    assert team.id == "coordinators" and team.strategy == "ring_all" and team.hours is None
    assert [m.phone for m in team.members] == ["+16266696777", "+16265550142"]
    assert all(m.active for m in team.members)
    christmas_night = la(2026, 12, 25, 3)
    assert is_open(loaded.calendar, team, christmas_night)
    assert next_opening(loaded.calendar, team, christmas_night) == christmas_night
    assert loaded.calendar.hours_on(team, date(2026, 12, 25)) == teams_module.ALL_DAY
    assert candidates(team, "es", frozenset()) == team.members
    assert inline_team("desk", ["+16266696777"], ring_seconds=30).ring_seconds == 30
