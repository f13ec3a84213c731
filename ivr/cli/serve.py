"""`ivr serve`: the web service under uvicorn, after checking it can start.

The check builds the app once, as each worker will: settings, the store, the flows (or the
last good versions kept in the store). When that fails, the reason is one line on stderr
and the exit status 1, instead of workers failing to boot one after another.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from ivr.flows.problems import FlowError
from ivr.stores.protocols import StoreUnavailable
from ivr.web.asgi import server_command
from ivr.web.app import create_app


def register(main: click.Group) -> None:
    main.add_command(serve)


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT") or 5000), show_default="$PORT or 5000",
              help="Port to listen on.")
@click.option("--workers", type=click.IntRange(min=1), show_default="$WEB_CONCURRENCY or 2",
              default=lambda: int(os.environ.get("WEB_CONCURRENCY") or 2), help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the web service (the Procfile's web process); with two or more workers, one that
    dies is replaced."""
    logging.getLogger("ivr").setLevel(logging.WARNING)  # the check's own log lines would repeat the workers'
    try:
        app = create_app()
    except FlowError as exc:
        first = exc.problems[0] if exc.problems else "no flows"
        more = f" (and {len(exc.problems) - 1} more problem(s): run ivr lint)" if len(exc.problems) > 1 else ""
        raise click.ClickException(f"no good version of the flows has ever been served: {first}{more}") from None
    except (RuntimeError, ValueError, OSError, StoreUnavailable) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    app.extensions["ivr"].store.close()
    command = server_command("ivr.web.asgi:create_service", host, port, workers)
    sys.stdout.flush()
    os.execv(command[0], command)
