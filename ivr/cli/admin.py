"""`ivr records ...` and `ivr coordinators ...`: what the line's staff look at and change.

These open the store the server uses: the one REDIS_URL names, else the SQLite file
in the instance folder (IVR_INSTANCE_PATH, else Flask's instance folder for the app);
`--store URL` overrides both. Times are shown in the line's zone: the `timezone` of the
teams file among the flows (IVR_FLOWS_DIR, else `flows`), America/Los_Angeles without one.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import getpass
import io
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import click

from ivr import records as rec
from ivr.console import audit
from ivr.flows.loader import TEAMS_FILE, teams_in
from ivr.flows.problems import quoted
from ivr.flows.teams import DEFAULT_TIMEZONE, Teams, is_open
from ivr.stores import from_url
from ivr.stores.protocols import Availability, Store, StoreUnavailable

SUMMARY_WIDTH = 40


def _now() -> float:
    return time.time()


def instance_path() -> str:
    """The folder the server keeps its SQLite store in."""
    configured = os.environ.get("IVR_INSTANCE_PATH")
    if configured:
        return configured
    from flask import Flask  # only for the default: where Flask puts the web app's instance folder

    return Flask("ivr.web").instance_path


def line_zone() -> tzinfo:
    """The line's time zone, as the server judges it: the teams file's."""
    folder = os.environ.get("IVR_FLOWS_DIR") or "flows"
    teams, problems = teams_in(folder)
    if teams is None and problems:
        raise click.ClickException(f"{problems[0]}\n(the line's time zone comes from {folder}/{TEAMS_FILE}; "
                                   f"run ivr lint {folder})")
    return ZoneInfo(teams.calendar.timezone if teams is not None else DEFAULT_TIMEZONE)


def _open_store(url: str | None) -> Store:
    try:
        return from_url(url or os.environ.get("REDIS_URL"), instance_path())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def with_store(command: Callable) -> Callable:
    """Give a command a --store option, and the opened store as its `store` argument."""

    @click.option("--store", "store_url", metavar="URL",
                  help="The store to use: redis://, rediss:// or sqlite:/// "
                       "[default: $REDIS_URL, else SQLite in the instance folder].")
    @functools.wraps(command)
    def wrapper(store_url: str | None, **kwargs):
        store = _open_store(store_url)
        try:
            return command(store=store, **kwargs)
        except StoreUnavailable as exc:
            raise click.ClickException(f"the store is unavailable ({store.describe()}): {exc}") from None
        except rec.RecordError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            store.close()

    return wrapper


KIND_CHOICE = click.Choice(sorted(rec.KINDS))


def _short(text: str, width: int = SUMMARY_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _table(header: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _local(epoch: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M %Z")


@click.group("records")
def records_group() -> None:
    """Voicemails, callback and ride requests callers left."""


@records_group.command("list")
@click.option("--kind", type=KIND_CHOICE, help="Only records of this kind.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many, newest first.")
@with_store
def records_list(store: Store, kind: str | None, limit: int) -> None:
    """The newest records, newest first."""
    found = rec.load_all(store, kind, limit=limit)
    if not found:
        click.echo("no records" + (f" of kind {kind}" if kind else ""))
        return
    zone = line_zone()
    rows = [(_local(r.created_at, zone), r.kind, r.team, r.language, _status(store, r.id), _short(r.summary), r.id)
            for r in found]
    for line in _table(("TIME", "KIND", "TEAM", "LANG", "STATUS", "SUMMARY", "ID"), rows):
        click.echo(line)


def _status(store: Store, record_id: str) -> str:
    """A record's status on the worklist, and who has it."""
    item = store.work_item(record_id)
    if item is None:
        return "new"
    return item.state + (f" ({item.by})" if item.by and item.state != "new" else "")


@records_group.command("show")
@click.argument("record_id", metavar="ID")
@with_store
def records_show(store: Store, record_id: str) -> None:
    """Every field of one record (a full id, or a unique start of one), then its status."""
    record = rec.load(store, record_id)
    if record is None:
        try:
            record = rec.load(store, rec.find(store, record_id).id)
        except rec.WorkError as exc:
            raise click.ClickException(str(exc)) from None
    if record is None:
        raise click.ClickException(f"no record {record_id!r}")
    zone = line_zone()
    for name, value in record.to_dict().items():
        if name == "created_at":
            value = f"{record.when(zone).isoformat(timespec='seconds')} ({value!r})"
        if isinstance(value, dict):
            click.echo(f"{name}:" + ("" if value else " (none)"))
            for key, item in value.items():
                click.echo(f"  {key}: {item}")
        else:
            click.echo(f"{name}: {value}")
    item = store.work_item(record.id)
    if item is not None:
        click.echo(f"status: {_status(store, record.id)}" + (f", {item.attempts} attempt(s)" if item.attempts else ""))
        if item.note:
            click.echo(f"note: {item.note}")


@records_group.command("export")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV (the only format for now).")
@click.option("--kind", type=KIND_CHOICE, help="Only records of this kind.")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE (created or replaced, readable by you alone: records hold member ids and "
                   "dates of birth) [default: standard output].")
@with_store
def records_export(store: Store, as_csv: bool, kind: str | None, output: str | None) -> None:
    """Every record (newest first), with a header row."""
    if not as_csv:
        raise click.UsageError("choose a format: --csv")
    found = rec.load_all(store, kind, limit=None)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=rec.CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rec.to_csv_rows(found, line_zone()))
    audit.record(store, _now(), _login(), "cli", audit.EXPORTED, detail=f"{len(found)} record(s) as CSV")
    if output is None:
        click.echo(out.getvalue(), nl=False)
        return
    try:
        write_private(output, out.getvalue().encode("utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"{len(found)} record{'' if len(found) == 1 else 's'} written to {output}", err=True)


def write_private(path: str, data: bytes) -> None:
    """Write a file only its owner can read: a new file (mode 0600) in the same folder that then takes
    the name, so neither a file already there with a wider mode nor a half-written export is ever read."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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
    at = _now()
    store.set_availability(name, available, at)
    now_available, since = store.availability()[name]
    state = "available" if now_available else "away"
    already = "already " if since != at else ""
    click.echo(f"{name} is {already}{state} since {_local(since, line_zone())}")
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
    zone = line_zone()
    teams = _teams_file()
    if teams is None:
        if not states:
            click.echo("no coordinator has been marked available or away yet")
            return
        marked: list[tuple[str, ...]] = [
            (name, "available" if available else "away", _local(at, zone))
            for name, (available, at) in sorted(states.items(), key=lambda item: item[0].casefold())]
        for line in _table(("NAME", "STATE", "SINCE"), marked):
            click.echo(line)
        return
    now = datetime.fromtimestamp(_now(), UTC)
    rows: list[tuple[str, ...]] = []
    listed = set()
    for team_id, team in sorted(teams.teams.items()):
        open_now = "yes" if is_open(teams.calendar, team, now) else "no"
        for member in team.members:
            available, at = states.get(member.name, (True, None))
            rows.append((team_id, member.name, "yes" if member.active else "no",
                         "available" if available else "away", _local(at, zone) if at is not None else "-", open_now))
            listed.add(member.name)
    for name, (available, at) in sorted(states.items(), key=lambda item: item[0].casefold()):
        if name not in listed:
            rows.append(("-", f"{name} (not in {TEAMS_FILE})", "-", "available" if available else "away",
                         _local(at, zone), "-"))
    for line in _table(("TEAM", "NAME", "ACTIVE", "STATE", "SINCE", "TEAM OPEN"), rows):
        click.echo(line)


def register(main: click.Group) -> None:
    """Attach the records and coordinators commands to the `ivr` group."""
    main.add_command(records_group)
    main.add_command(coordinators_group)
