"""The `ivr` command: lint, simulate, test and draw flows."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import click

from ivr.tools import callscripts
from ivr.cli.coordinators import register as register_coordinators
from ivr.cli.records import register as register_records
from ivr.cli.outbox import register as register_outbox
from ivr.cli.serve import register as register_serve
from ivr.cli.desk import register as register_desk
from ivr.flows.loader import TEAMS_FILE, flow_files, is_teams_file, lint_file, load_flow
from ivr.flows.mermaid import mermaid
from ivr.tools.http_phone import CallFailed, HttpPhone, scripted
from ivr.tools.phone import Phone, entry_problem, parse_entry
from ivr.flows.teams_loader import lint_teams_file
from ivr.flows.problems import FlowError


@click.group()
def main() -> None:
    """Phone menus as plain YAML files."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def lint(paths) -> None:
    """Check flow files and the teams file (folders: every *.yaml in them). Exit 1 on errors."""
    paths = paths or ["flows"]
    files = flow_files(paths)
    teams_files = [Path(p) / TEAMS_FILE for p in paths if (Path(p) / TEAMS_FILE).is_file()]
    teams_files += [p for p in files if is_teams_file(p)]
    errors = warnings = 0
    for path in sorted(set(teams_files)) + [p for p in files if not is_teams_file(p)]:
        _, problems = lint_teams_file(path) if is_teams_file(path) else lint_file(path)
        for problem in problems:
            click.echo(str(problem))
            errors += problem.is_error
            warnings += not problem.is_error
    count = len(set(teams_files)) + sum(not is_teams_file(p) for p in files)
    click.echo(f"{count} file(s): {errors} error(s), {warnings} warning(s)", err=True)
    sys.exit(1 if errors else 0)


def _load_or_exit(path: str):
    try:
        return load_flow(path)
    except FlowError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)


def _keys_script(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]


@main.command()
@click.argument("flow_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--lang", help="Start the call in this language, as a line of that language would (the language "
              "menu is skipped).")
@click.option("--keys", help="Comma-separated inputs: digits, 'silence', 'dial:no-answer', 'record:20'.")
@click.option("--at", "at", help="When the call is placed, e.g. 2026-11-25T21:00:00-08:00 (hours, holidays, "
              "dates) [default: now].")
def simulate(flow_path: str, lang: str | None, keys: str | None, at: str | None) -> None:
    """Call a flow in the terminal: shows what the caller hears, takes keys."""
    flow = _load_or_exit(flow_path)
    if lang is not None and lang not in flow.languages:
        raise click.BadParameter(f"the flow speaks {', '.join(flow.languages)}", param_hint="--lang")
    when = _moment(at)
    phone = Phone(flow, now=when or datetime.now(UTC))  # judged in the line's zone, as the server does
    _show(phone.start(lang))
    inputs = _keys_script(keys) if keys is not None else None
    while phone.waiting is not None:
        if inputs is not None:
            if not inputs:
                break
            entry = inputs.pop(0)
            click.echo(click.style(f"> {entry}", fg="cyan"))
            problem = entry_problem(entry, phone.waiting_for() or "keys")
            if problem is not None:
                raise click.ClickException(problem)
        else:
            typed = _ask(phone)
            if typed is None:
                break
            entry = typed
        _show(phone.enter(entry))
    click.echo(click.style(f"-- call is at: {phone.where()}", bold=True))
    for effect in phone.effects:
        click.echo(f"-- requested: {effect.action} {effect.params_dict()}")


def _moment(at: str | None) -> datetime | None:
    """--at: an ISO date and time with its offset."""
    try:
        when = datetime.fromisoformat(at) if at else None
    except ValueError:
        raise click.BadParameter("an ISO date and time with its offset", param_hint="--at") from None
    if when is not None and when.tzinfo is None:
        raise click.BadParameter("give the offset too, e.g. -08:00", param_hint="--at")
    return when


def _ask(phone: Phone) -> str | None:
    return _ask_kind(phone.waiting_for() or "keys")


def _ask_kind(kind: str) -> str | None:
    """Ask the person at the terminal for the next input of a kind, until it is one; None to hang up."""
    prompt = {"dial": "transfer outcome (completed, no-answer, busy, failed)",
              "record": "seconds recorded (0 = nothing)"}.get(kind, "keys (Enter alone = silence, q = hang up)")
    while True:
        try:
            entry = click.prompt(click.style(prompt, fg="cyan"), default="", show_default=False)
        except (click.Abort, EOFError):
            return None
        entry = entry.strip()
        if entry.lower() == "q":
            return None
        if kind == "dial":
            entry = f"dial:{entry or 'completed'}"
        elif kind == "record":
            entry = f"record:{entry or '10'}"
        else:
            entry = entry or "silence"
        problem = entry_problem(entry, kind)
        if problem is None:
            return entry
        click.echo(problem, err=True)


def _show(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"  {line}")


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def test_scripts(paths) -> None:
    """Run call scripts (folders: their tests/*.yaml). Exit 1 on any failure."""
    cache: dict = {}
    passed = failed = 0
    for path in callscripts.script_files(paths or ["flows"]):
        cases, problems = callscripts.load_script(path, cache)
        for problem in problems:
            click.echo(str(problem))
        failed += sum(p.is_error for p in problems)
        for case in cases:
            failures = callscripts.run_case(case)
            for failure in failures:
                click.echo(failure)
            passed += not failures
            failed += bool(failures)
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


@main.command("call")
@click.argument("url", default="http://127.0.0.1:5000/voice", metavar="[URL]")
@click.option("--keys", help="Comma-separated inputs: digits, 'silence', 'dial:no-answer', 'record:20'.")
@click.option("--token", envvar="TWILIO_AUTH_TOKEN", help="Sign requests with this auth token "
              "[default: $TWILIO_AUTH_TOKEN; none for a development server].")
@click.option("--from", "caller", default="+15555550100", show_default=True, help="The caller's number.")
@click.option("--at", "at", help="When the call happens, e.g. 2026-11-25T21:00:00-08:00 (hours, holidays, dates); "
              "a development server (IVR_DEV, no token) honours it, any other ignores it [default: now].")
def call(url: str, keys: str | None, token: str | None, caller: str, at: str | None) -> None:
    """Call a running server the way Twilio does, and hear it in the terminal.

    URL is the server's voice webhook [default: http://127.0.0.1:5000/voice, what scripts/serve listens on].
    """
    phone = HttpPhone(url, token=token, caller=caller, say=lambda line: click.echo(f"  {line}"), at=_moment(at))
    if keys is not None:
        inner = scripted(_keys_script(keys))

        def answer(kind: str) -> str | None:  # each input echoed, as ivr simulate does
            entry = inner(kind)
            if entry is not None:
                click.echo(click.style(f"> {entry}" if entry else "> silence", fg="cyan"))
            return entry
    else:
        def answer(kind: str) -> str | None:
            entry = _ask_kind(kind)
            return None if entry is None else parse_entry(entry)[1]
    try:
        ended = phone.call(answer)
    except CallFailed as exc:
        hint = ""
        if " 403" in str(exc):
            hint = " (the server checks signatures: pass --token or set TWILIO_AUTH_TOKEN to its auth token)"
        raise click.ClickException(f"{exc}{hint}") from None
    except OSError as exc:
        raise click.ClickException(f"{exc} (is the server running at {url}? start it with scripts/serve, "
                                   "or pass its URL)") from None
    click.echo(click.style(f"-- call ended: {ended}", bold=True))


@main.command()
@click.argument("flow_path", type=click.Path(exists=True, dir_okay=False))
def graph(flow_path: str) -> None:
    """Print a flow as a Mermaid flowchart.

    To see it, paste it into a ```mermaid block of a Markdown file (GitHub and GitLab draw those) or into
    the Mermaid Live Editor.
    """
    click.echo(mermaid(_load_or_exit(flow_path)), nl=False)


@main.command()
@click.argument("which", type=click.Choice(["flow", "teams"]), default="flow")
@click.option("--path", "show_path", is_flag=True, help="Print where the installed schema file is instead.")
def schema(which: str, show_path: bool) -> None:
    """Print the JSON Schema of flow files (or of teams.yaml), for an editor's YAML support."""
    resource = resources.files("ivr.flows") / f"{which}.schema.json"
    click.echo(str(resource) if show_path else resource.read_text(encoding="utf-8"), nl=show_path)


register_records(main)
register_coordinators(main)
register_outbox(main)
register_serve(main)
register_desk(main)
