"""`ivr records ...`: the voicemails, call-back and ride requests callers left."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile

import click

from ivr import records as rec
from ivr.console import audit
from ivr.stores.protocols import Store
from ivr.cli import common
from ivr.cli.common import with_store

KIND_CHOICE = click.Choice(sorted(rec.KINDS))


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
    zone = common.line_zone()
    rows = [(common.local(r.created_at, zone), r.kind, r.team, r.language, _status(store, r.id), common.short(r.summary), r.id)
            for r in found]
    for line in common.table(("TIME", "KIND", "TEAM", "LANG", "STATUS", "SUMMARY", "ID"), rows):
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
    zone = common.line_zone()
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
    writer.writerows(rec.to_csv_rows(found, common.line_zone()))
    audit.record(store, common.now(), common.login(), "cli", audit.EXPORTED, detail=f"{len(found)} record(s) as CSV")
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


def register(main: click.Group) -> None:
    """Attach the records commands to the `ivr` group."""
    main.add_command(records_group)
