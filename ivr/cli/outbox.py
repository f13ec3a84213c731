"""`ivr outbox run` (the worker that sends texts and hands rides over), `ivr outbox list`, and
`ivr outbox requeue` and `ivr outbox purge` for what was given up or is long done.

All open the store the server uses, as `ivr records` does: REDIS_URL, else the SQLite
file in the instance folder (IVR_INSTANCE_PATH), or `--store URL`. The worker reads its
settings (RIDES_WEBHOOK_URL, RIDES_WEBHOOK_SECRET, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
TWILIO_SMS_FROM) from the environment, logs one JSON line per delivery (ids, statuses,
never a phone number or a message), and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading
import time

import click

from ivr.outbox import worker
from ivr.cli.common import line_zone, local, short, table, with_store
from ivr.stores.protocols import DEAD, DONE, OUTBOX_STATES, Outbox, Store

DAY = 86400.0
PURGE_LIMIT = 10000


def _now() -> float:
    """The time now, in seconds since the epoch."""
    return time.time()


class _EchoHandler(logging.Handler):
    """Log records as bare lines on standard error, through click (so CliRunner sees them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(record.getMessage(), err=True)
        except Exception:
            self.handleError(record)


@click.group("outbox")
def outbox_group() -> None:
    """Texts and ride hand-offs waiting to leave, sent, or given up."""


@outbox_group.command("run")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between looks for due items when there is nothing to do.")
@click.option("--limit", type=click.IntRange(min=1), default=worker.BATCH, show_default=True,
              help="Items claimed at a time.")
@click.option("--lease", type=click.FloatRange(min=60), default=worker.LEASE_SECONDS, show_default=True,
              help="Seconds an item stays with this worker before another may claim it.")
@with_store
def outbox_run(store: Store, once: bool, interval: float, limit: int, lease: float) -> None:
    """The worker: deliver due items, retrying failures with backoff."""
    handler = _EchoHandler()
    logger = worker.log
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        deliverer = worker.Deliverer()
        stop = threading.Event()
        restore = (lambda: None) if once else _stop_on_signals(stop)
        try:
            logger.info(json.dumps({"event": "OutboxWorkerStarted", "store": store.describe(), "once": once,
                                    "problems": deliverer.problems()}, separators=(",", ":")))
            if once:
                counts = worker.run_once(store, deliverer, lease_seconds=lease, limit=limit)
            else:
                counts = worker.run(store, deliverer, stop, interval, lease_seconds=lease, limit=limit)
            logger.info(json.dumps({"event": "OutboxWorkerStopped", **counts}, separators=(",", ":")))
        finally:
            restore()
            deliverer.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _stop_on_signals(stop: threading.Event):
    """Set `stop` on SIGTERM/SIGINT (only possible from the main thread); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


@outbox_group.command("list")
@click.option("--state", type=click.Choice(OUTBOX_STATES), help="Only items in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many, soonest due first.")
@with_store
def outbox_list(store: Outbox, state: str | None, limit: int) -> None:
    """Items by due time: id, kind, state, attempts, due, and the note or last error."""
    items = store.outbox(state, limit)
    if not items:
        click.echo("no outbox items" + (f" {state}" if state else ""))
        return
    zone = line_zone()
    rows = [(item.id, item.kind, item.state, str(item.attempts), local(item.due_at, zone),
             short(item.note if item.state == "done" else item.last_error)) for item in items]
    for line in table(("ID", "KIND", "STATE", "TRIES", "DUE", "NOTE/ERROR"), rows):
        click.echo(line)


def _item_ids(_ctx, _param, value: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse an empty id."""
    if any(not item_id for item_id in value):
        raise click.BadParameter("an id cannot be empty")
    return value


@outbox_group.command("requeue")
@click.argument("item_ids", metavar="ID...", nargs=-1, required=True, callback=_item_ids)
@with_store
def outbox_requeue(store: Outbox, item_ids: tuple[str, ...]) -> None:
    """Give dead items another go: pending again, due now, tries counted from 0. Exit 1 if any
    id was not dead."""
    now = _now()
    missed = 0
    for item_id in item_ids:
        if store.requeue(item_id, now):
            click.echo(f"requeued {item_id}")
        else:
            click.echo(f"not dead: {item_id}")
            missed += 1
    if missed:
        sys.exit(1)


def _days(_ctx, _param, value: float) -> float:
    """Refuse a number of days that is not positive, or too large to count back from now."""
    if not (value > 0 and math.isfinite(value * DAY)):
        raise click.BadParameter(f"{value!r} is not a positive number of days")
    return value


@outbox_group.command("purge")
@click.option("--state", type=click.Choice((DONE, DEAD)), default=DONE, show_default=True,
              help="Which items to delete.")
@click.option("--older-than", "days", type=float, required=True, metavar="DAYS", callback=_days,
              help="Delete only items due more than this many days ago.")
@click.option("--limit", type=click.IntRange(min=1), default=PURGE_LIMIT, show_default=True,
              help="Delete at most this many, oldest first.")
@with_store
def outbox_purge(store: Outbox, state: str, days: float, limit: int) -> None:
    """Delete done (or dead) items due more than DAYS days ago, oldest first."""
    count = store.purge(state, _now() - days * DAY, limit)
    shown = int(days) if days.is_integer() else days
    click.echo(f"purged {count} {state} items older than {shown} days")


def register(main: click.Group) -> None:
    """Attach the outbox commands to the `ivr` group."""
    main.add_command(outbox_group)
