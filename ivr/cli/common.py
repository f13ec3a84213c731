"""What the staff's commands share: the store the server uses, the line's time zone, tables.

The commands open the store the server uses: the one REDIS_URL names, else the SQLite file in
the instance folder (IVR_INSTANCE_PATH, else Flask's instance folder for the app); `--store URL`
overrides both. Times are shown in the line's zone: the `timezone` of the teams file among the
flows (IVR_FLOWS_DIR, else `flows`), America/Los_Angeles without one.
"""

from __future__ import annotations

import functools
import getpass
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import click

from ivr import records as rec
from ivr.flows.loader import TEAMS_FILE, teams_in
from ivr.flows.teams import DEFAULT_TIMEZONE
from ivr.stores import from_url
from ivr.stores.protocols import Store, StoreUnavailable

SUMMARY_WIDTH = 40


def now() -> float:
    """The wall clock, in epoch seconds: the one place the commands read it (tests replace it)."""
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


def open_store(url: str | None) -> Store:
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
        store = open_store(store_url)
        try:
            return command(store=store, **kwargs)
        except StoreUnavailable as exc:
            raise click.ClickException(f"the store is unavailable ({store.describe()}): {exc}") from None
        except rec.RecordError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            store.close()

    return wrapper




def short(text: str, width: int = SUMMARY_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def table(header: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def local(epoch: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M %Z")


def login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
