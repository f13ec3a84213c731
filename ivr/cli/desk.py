"""`ivr users ...`, `ivr audit list`, and the worklist's commands under `ivr records`.

They open the store the server uses, as the other admin commands do. Everything they change is
written to the audit log under the name given with `--as` (else the login name), in the role
"cli": the shell of the server is an account too.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from datetime import datetime

import click

from ivr import records as rec
from ivr.cli import common
from ivr.cli.common import line_zone, with_store
from ivr.cli.records import records_group
from ivr.console import audit
from ivr.console.accounts import (AccountError, check_password, did_you_mean, disabled, new_account, require,
                                  with_password)
from ivr.flows.loader import teams_in
from ivr.stores.protocols import ROLES, Store, WorkItem

DAY = 86400.0
CLI_ROLE = "cli"


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _at_terminal() -> bool:
    """Whether standard input is a terminal (someone to ask), not a pipe or a file."""
    return sys.stdin.isatty()


def _password(prompt: str) -> str:
    """From a prompt at a terminal, hidden, asked again until it keeps the rules and is typed
    the same twice; else the first line of standard input (refused if it breaks the rules)."""
    if _at_terminal():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True, value_proc=_kept_rules)
    line = sys.stdin.readline()
    return check_password(line.rstrip("\r\n"))


def _kept_rules(password: str) -> str:
    """The password if it keeps the rules; else the reason, for the prompt to say before asking again."""
    try:
        return check_password(password)
    except AccountError as exc:
        raise click.UsageError(str(exc)) from None


def _known_teams() -> dict[str, list[str]]:
    """Team -> member names, from the teams file of the line's flows ({} without one)."""
    folder = os.environ.get("IVR_FLOWS_DIR") or "flows"
    teams, _ = teams_in(folder)
    if teams is None:
        return {}
    return {team_id: [member.name for member in team.members] for team_id, team in teams.teams.items()}


def _guarded(command: Callable) -> Callable:
    """Account and worklist errors become plain messages, not tracebacks."""
    def run(**kwargs):
        try:
            return command(**kwargs)
        except (AccountError, rec.WorkError) as exc:
            raise click.ClickException(str(exc)) from None

    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run


# --- users ---------------------------------------------------------------------------------

@click.group("users")
def users_group() -> None:
    """Who may sign in to the desk, and as what."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES),
              help="coordinator (the worklist of their teams), admin (users), auditor (the audit log); repeatable.")
@click.option("--team", "teams", multiple=True, help="A team whose worklist a coordinator sees; repeatable.")
@click.option("--member", default="", help="Their name in the teams file, for availability [default: NAME "
              "when it is one].")
@with_store
@_guarded
def users_add(store: Store, name: str, roles: tuple[str, ...], teams: tuple[str, ...], member: str) -> None:
    """Add an account; the password comes from a prompt, or from standard input when it is not a terminal."""
    known = _known_teams()
    for team in teams:
        if known and team not in known:
            raise AccountError(f'no team "{team}" in the teams file{did_you_mean(team, known)}')
    members = sorted({person for people in known.values() for person in people})
    if member and known and member not in members:
        raise AccountError(f'no member "{member}" in the teams file{did_you_mean(member, members)}')
    if not member:
        member = next((person for person in members if person.casefold() == name.casefold()), "")
    if "coordinator" in roles and not teams and member:
        teams = tuple(team for team, people in known.items() if member in people)
    if store.get_account(name) is not None:
        raise AccountError(f'an account "{name}" exists already')
    account = new_account(name, _password("Password"), roles, teams=teams, member=member, at=common.now())
    if not store.add_account(account):
        raise AccountError(f'an account "{name}" exists already')
    audit.record(store, common.now(), _operator(), CLI_ROLE, audit.USER_ADDED, detail=f"{name}: {', '.join(roles)}")
    click.echo(f"added {name} ({', '.join(account.roles)}" + (f"; teams {', '.join(account.teams)}" if account.teams
                                                              else "") + ")")


@users_group.command("list")
@with_store
def users_list(store: Store) -> None:
    """Every account, with its roles, teams and state."""
    accounts = store.accounts()
    if not accounts:
        click.echo("no accounts yet: ivr users add NAME --role admin")
        return
    rows = [(a.name, ",".join(a.roles), ",".join(a.teams) or "-", a.member or "-",
             "disabled" if a.disabled else "active") for a in accounts]
    for line in common.table(("NAME", "ROLES", "TEAMS", "MEMBER", "STATE"), rows):
        click.echo(line)


@users_group.command("disable")
@click.argument("name")
@with_store
@_guarded
def users_disable(store: Store, name: str) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    account = require(store, name)
    store.put_account(disabled(account))
    audit.record(store, common.now(), _operator(), CLI_ROLE, audit.USER_DISABLED, detail=name)
    click.echo(f"disabled {name}")


@users_group.command("enable")
@click.argument("name")
@with_store
@_guarded
def users_enable(store: Store, name: str) -> None:
    """Let a disabled account sign in again."""
    account = require(store, name)
    store.put_account(disabled(account, False))
    audit.record(store, common.now(), _operator(), CLI_ROLE, audit.USER_ENABLED, detail=name)
    click.echo(f"enabled {name}")


@users_group.command("password")
@click.argument("name")
@with_store
@_guarded
def users_password(store: Store, name: str) -> None:
    """Set an account's password (from a prompt, or standard input); its sessions end."""
    account = require(store, name)
    store.put_account(with_password(account, _password("New password")))
    audit.record(store, common.now(), _operator(), CLI_ROLE, audit.PASSWORD_SET, detail=name)
    click.echo(f"password set for {name}")


# --- the audit log ------------------------------------------------------------------------

@click.group("audit")
def audit_group() -> None:
    """The audit log: who signed in, looked at, played, revealed or changed what."""


def _since(_ctx, _param, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("a date (2026-11-25) or a date and time (2026-11-25T10:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=line_zone())
    return moment.timestamp()


@audit_group.command("list")
@click.option("--since", callback=_since, help="Only events at or after this date (and time), in the line's zone.")
@click.option("--user", help="Only this user's events.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many.")
@with_store
def audit_list(store: Store, since: float | None, user: str | None, limit: int) -> None:
    """Events, newest first."""
    events = store.audit_events(since=since, user=user, limit=limit)
    if not events:
        click.echo("no audit events")
        return
    zone = line_zone()
    rows = [(datetime.fromtimestamp(e.at, zone).strftime("%Y-%m-%d %H:%M:%S"), e.user, e.role, e.action,
             e.record or "-", e.address or "-", e.detail) for e in events]
    for line in common.table(("TIME", "USER", "ROLE", "ACTION", "RECORD", "ADDRESS", "DETAIL"), rows):
        click.echo(line)


# --- the worklist under `ivr records` ---------------------------------------------------------

def _as_option(command: Callable) -> Callable:
    return click.option("--as", "who", default=None, metavar="NAME",
                        help="Whose name the change goes under [default: your login name].")(command)


Change = Callable[[Store, WorkItem, str, float], WorkItem]  # (store, item, by, at) -> the item changed


def _change(store: Store, given: str, who: str | None, change: Change, action: str) -> None:
    """Change the record a full id or unique start of one names, audit it, and say how it stands."""
    item = rec.find(store, given)
    by = who or _operator()
    at = common.now()
    new = change(store, item, by, at)
    audit.record(store, at, by, CLI_ROLE, action, record=new.id)
    extra = f", {new.attempts} attempt(s)" if new.attempts else ""
    click.echo(f"{new.id}: {new.state}" + (f" by {new.by}" if new.by else "") + extra)


def _status_command(name: str, change: Change, action: str, help_text: str) -> None:
    """`ivr records NAME ID [--as WHO]`: a change that takes a record and nothing more."""
    @records_group.command(name, help=help_text)
    @click.argument("record_id", metavar="ID")
    @_as_option
    @with_store
    @_guarded
    def command(store: Store, record_id: str, who: str | None) -> None:
        _change(store, record_id, who, change, action)


_status_command("claim", rec.claim, audit.CLAIMED,
                "Take a record (a full id or a unique start of one): the team sees it is yours.")
_status_command("release", rec.release, audit.RELEASED, "Give a record you claimed back to the team.")
_status_command("tried", rec.tried, audit.TRIED,
                "The caller was tried and did not answer: counts an attempt, stays open.")


@records_group.command("done")
@click.argument("record_id", metavar="ID")
@click.option("--note", required=True, help="How it ended, in a few words.")
@_as_option
@with_store
@_guarded
def records_done(store: Store, record_id: str, who: str | None, note: str) -> None:
    """Close a record with a short note."""
    _change(store, record_id, who, lambda store, item, by, at: rec.close(store, item, by, at, note), audit.CLOSED)


@records_group.command("purge")
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True, metavar="DAYS",
              help="Delete done records whose call is older than this many days.")
@with_store
def records_purge(store: Store, days: float) -> None:
    """Delete old done records (never open ones, never the audit log)."""
    now = common.now()
    purged = rec.purge(store, now - days * DAY)
    for item in purged:
        audit.record(store, now, _operator(), CLI_ROLE, audit.PURGED, record=item.id)
    click.echo(f"purged {len(purged)} done record(s) older than {days:g} day(s)")


@records_group.command("reindex")
@with_store
def records_reindex(store: Store) -> None:
    """Put records kept before the worklist existed on it, as new."""
    click.echo(f"{rec.reindex(store)} record(s) put on the worklist")


def status_of(store: Store, record_id: str) -> str:
    """A record's status for listings: the state, and who has it."""
    item = store.work_item(record_id)
    if item is None:
        return "new"
    return item.state + (f":{item.by}" if item.by and item.state != "new" else "")


def register(main: click.Group) -> None:
    """Attach `users` and `audit` to the `ivr` group (the worklist commands join `records` on import)."""
    main.add_command(users_group)
    main.add_command(audit_group)

