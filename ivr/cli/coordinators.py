"""`ivr coordinators ...`: who transfers may ring, switched without editing files."""

from __future__ import annotations

import difflib
import os
from datetime import UTC, datetime

import click

from ivr.flows.loader import TEAMS_FILE, teams_in
from ivr.flows.problems import quoted
from ivr.flows.teams import Teams, is_open
from ivr.stores.protocols import Availability, Store
from ivr.cli import common
from ivr.cli.common import with_store

@click.group("coordinators")
def coordinators_group() -> None:
    """Who is available to take the line's requests: the members of the teams file."""


def _name(_ctx, _param, value: str) -> str:
    name = value.strip()
    if not name:
        raise click.BadParameter("a name cannot be empty")
    return name


def _teams_file() -> Teams | None:
    """The teams file among the flows (None when there is none: then any name is taken as typed)."""
    folder = os.environ.get("IVR_FLOWS_DIR") or "flows"
    teams, problems = teams_in(folder)
    if teams is None and problems:
        raise click.ClickException(f"{problems[0]}\n(the coordinators are those of {folder}/{TEAMS_FILE}; "
                                   f"run ivr lint {folder})")
    return teams


def _member_name(name: str) -> str:
    """A coordinator's name as the teams file spells it (any case); an error naming the closest ones otherwise."""
    teams = _teams_file()
    if teams is None:
        return name
    names = {member.name.casefold(): member.name for team in teams.teams.values() for member in team.members}
    if name.casefold() in names:
        return names[name.casefold()]
    close = [names[n] for n in difflib.get_close_matches(name.casefold(), sorted(names), n=3, cutoff=0.6)]
    hint = f"; did you mean {quoted(close)}?" if close else f"; coordinators: {quoted(sorted(names.values()))}"
    raise click.ClickException(f'no coordinator "{name}" in {teams.path}{hint}')


def _set(store: Store, name: str, available: bool) -> None:
    name = _member_name(name)
    at = common.now()
    store.set_availability(name, available, at)
    now_available, since = store.availability()[name]
    state = "available" if now_available else "away"
    already = "already " if since != at else ""
    click.echo(f"{name} is {already}{state} since {common.local(since, common.line_zone())}")
    click.echo(f"(store: {store.describe()})", err=True)


@coordinators_group.command("available")
@click.argument("name", callback=_name)
@with_store
def coordinators_available(store: Store, name: str) -> None:
    """Mark a coordinator available (a name of the teams file, in any case)."""
    _set(store, name, True)


@coordinators_group.command("away")
@click.argument("name", callback=_name)
@with_store
def coordinators_away(store: Store, name: str) -> None:
    """Mark a coordinator away: transfers do not ring them (a name of the teams file, in any case)."""
    _set(store, name, False)


@coordinators_group.command("list")
@with_store
def coordinators_list(store: Availability) -> None:
    """Every member of every team, with their state and whether their team is open now; then any other
    name ever marked. Without a teams file: every name ever marked."""
    states = store.availability()
    zone = common.line_zone()
    teams = _teams_file()
    if teams is None:
        if not states:
            click.echo("no coordinator has been marked available or away yet")
            return
        marked: list[tuple[str, ...]] = [
            (name, "available" if available else "away", common.local(at, zone))
            for name, (available, at) in sorted(states.items(), key=lambda item: item[0].casefold())]
        for line in common.table(("NAME", "STATE", "SINCE"), marked):
            click.echo(line)
        return
    moment = datetime.fromtimestamp(common.now(), UTC)
    rows: list[tuple[str, ...]] = []
    listed = set()
    for team_id, team in sorted(teams.teams.items()):
        open_now = "yes" if is_open(teams.calendar, team, moment) else "no"
        for member in team.members:
            available, at = states.get(member.name, (True, None))
            rows.append((team_id, member.name, "yes" if member.active else "no",
                         "available" if available else "away", common.local(at, zone) if at is not None else "-", open_now))
            listed.add(member.name)
    for name, (available, at) in sorted(states.items(), key=lambda item: item[0].casefold()):
        if name not in listed:
            rows.append(("-", f"{name} (not in {TEAMS_FILE})", "-", "available" if available else "away",
                         common.local(at, zone), "-"))
    for line in common.table(("TEAM", "NAME", "ACTIVE", "STATE", "SINCE", "TEAM OPEN"), rows):
        click.echo(line)


def register(main: click.Group) -> None:
    """Attach the coordinators commands to the `ivr` group."""
    main.add_command(coordinators_group)
