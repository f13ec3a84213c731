"""The `ivr` command: lint, simulate, graph and test, driven through click's CliRunner."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from twilio_sim import OPEN_HOURS

from ivr.cli import outbox as cli_outbox
from ivr.cli import main
from ivr.stores.protocols import OutboxItem
from ivr.stores.sqlite import SqliteStore

HOURS = """\
flow: hours
start: main
languages: [en, es]
settings:
  operator: desk
teams:
  front: ["+16265550100"]
nodes:
  main:
    menu:
      en: "For our hours, press 1. To get a text, press 2. For a person, press 3."
      es: "Para el horario, oprima 1. Para un mensaje, oprima 2. Para una persona, oprima 3."
    options:
      "1": hours
      "2": text
      "3": desk
  hours:
    say: {en: "We are open nine to five.", es: "Abrimos de nueve a cinco."}
    next: bye
  text:
    action: send_text
    params: {body: "Open 9 to 5"}
    next: bye
  desk:
    transfer: front
    no_answer: bye
  bye:
    hangup: {en: "Goodbye.", es: "Adiós."}
"""

# Only warnings: a node nothing leads to, and a say after which the call just ends.
WARNINGS_ONLY = """\
flow: notes
start: main
settings:
  keys: {operator: null}
nodes:
  main:
    say: "Hello."
  old:
    hangup: "Goodbye."
"""

BROKEN = """\
flow: broken
start: main
settings:
  keys: {operator: null}
nodes:
  main:
    say: "Hello."
    next: bey
  bye:
    sya: "Goodbye."
"""

# A flow without an operator, so the chart has only the edges written in the file.
SMALL = """\
flow: small
start: main
settings:
  keys: {operator: null}
nodes:
  main:
    menu: "For hours, press 1. For the address, press 2. To hear this again, press star."
    options:
      "1": hours
      "2": {next: address, set: {topic: address}}
      "*": main
  hours:
    say: "We are open nine to five."
    next: check
  address:
    say: "We are at 1 Main Street."
    next: check
  check:
    decide:
      - when: "topic == 'address'"
        next: bye
    default: bye
  bye:
    hangup: "Goodbye."
"""

PASSING_SCRIPT = """\
flow: hours
cases:
  - name: hours then goodbye
    steps:
      - hear: "press 1"
      - press: "1"
      - hear: "nine to five"
    end: hangup
  - name: a text request ends the call
    steps:
      - press: "2"
      - not_hear: "Adiós"
    end: hangup
"""

FAILING_SCRIPT = """\
flow: hours
cases:
  - name: expects the wrong words
    steps:
      - press: "3"
      - hear: "we are closed"
    end: transfer front
  - name: expects the wrong end
    steps:
      - press: "1"
    end: transfer front
  - name: expects a saved answer
    steps:
      - press: "1"
    saved: {lang: es}
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch) -> Path:
    """A working folder holding the flows above, made the current directory."""
    for name, text in {"hours.yaml": HOURS, "small.yaml": SMALL}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- lint ---------------------------------------------------------------------------------

def test_lint_clean_flow(runner, folder):
    result = runner.invoke(main, ["lint", "hours.yaml"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "1 file(s): 0 error(s), 0 warning(s)\n"


def test_lint_warnings_only_exits_0(runner, folder):
    write(folder / "notes.yaml", WARNINGS_ONLY)
    result = runner.invoke(main, ["lint", "notes.yaml"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        'notes.yaml:6:3: warning: after "main" the call just ends; add next: or lead to a hangup node with a '
        "goodbye [dead-end]",
        'notes.yaml:8:3: warning: node "old" is unreachable from "main"; link to it or remove it [unreachable]',
    ]
    assert result.stderr == "1 file(s): 0 error(s), 2 warning(s)\n"


def test_lint_errors_exit_1(runner, folder):
    write(folder / "broken.yaml", BROKEN)
    result = runner.invoke(main, ["lint", "broken.yaml"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        'broken.yaml:8:11: error: next of "main" goes to unknown node "bey"; did you mean "bye"? [unknown-target]',
        'broken.yaml:10:5: error: unknown node kind "sya" in node "bye"; allowed: say, menu, ask, decide, transfer, '
        "record, action, hangup [unknown-kind]",
    ]
    assert result.stderr == "1 file(s): 2 error(s), 0 warning(s)\n"


def test_lint_folder_checks_every_flow_in_it(runner, folder):
    write(folder / "flows" / "a.yaml", HOURS)
    write(folder / "flows" / "b.yaml", BROKEN)
    write(folder / "flows" / "tests" / "calls.yaml", PASSING_SCRIPT)  # scripts are not flows
    result = runner.invoke(main, ["lint", "flows"])
    assert result.exit_code == 1
    assert [line.split(":", 1)[0] for line in result.stdout.splitlines()] == ["flows/b.yaml", "flows/b.yaml"]
    assert result.stderr == "2 file(s): 2 error(s), 0 warning(s)\n"


def test_lint_defaults_to_the_flows_folder(runner, folder):
    write(folder / "flows" / "a.yaml", HOURS)
    result = runner.invoke(main, ["lint"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "1 file(s): 0 error(s), 0 warning(s)\n")


def test_lint_missing_path_is_a_usage_error(runner, folder):
    result = runner.invoke(main, ["lint", "nowhere.yaml"])
    assert result.exit_code == 2
    assert "'nowhere.yaml' does not exist" in result.stderr


# -- simulate -----------------------------------------------------------------------------

MENU = "  For our hours, press 1. To get a text, press 2. For a person, press 3."
SORRY = "  Sorry, I didn't hear anything. Take your time."


def prompts_shortened(output: str) -> list[str]:
    """Output lines with each terminal prompt cut to `? what: answer` (its help text left out)."""
    lines = []
    for line in output.splitlines():
        match = re.fullmatch(r"([a-z ]+) \(.*\): (.*)", line)
        lines.append(f"? {match[1]}: {match[2]}" if match else line)
    return lines


# (arguments after the flow, what is typed at the terminal, the lines shown)
SIMULATIONS = {
    "keys: what is heard and where the call ends": (["--keys", "1"], None, [
        MENU, "> 1", "  We are open nine to five.", "  Goodbye.", "  [hang up]", "-- call is at: hangup",
    ]),
    "in spanish": (["--lang", "es", "--keys", "1"], None, [
        "  Para el horario, oprima 1. Para un mensaje, oprima 2. Para una persona, oprima 3.",
        "> 1", "  Abrimos de nueve a cinco.", "  Adiós.", "  [hang up]", "-- call is at: hangup",
    ]),
    "lists the requested actions": (["--keys", "2"], None, [
        MENU, "> 2", "  [request send_text]", "  Goodbye.", "  [hang up]", "-- call is at: hangup",
        "-- requested: send_text {'body': 'Open 9 to 5', 'lang': 'en'}",
    ]),
    "silence until the operator": (["--keys", "silence, silence,silence"], None, [
        MENU, "> silence", SORRY, MENU, "> silence", SORRY, MENU, "> silence",
        "  Sorry, I couldn't get an answer I can use.", "  [transfer to front: ringing 1 phone(s)]",
        "-- call is at: transfer front",
    ]),
    "a transfer nobody answers": (["--keys", "3,dial:no-answer"], None, [
        MENU, "> 3", "  [transfer to front: ringing 1 phone(s)]", "> dial:no-answer", "  Goodbye.", "  [hang up]",
        "-- call is at: hangup",
    ]),
    "stops where the keys run out": (["--keys", ""], None, [MENU, "-- call is at: waiting main"]),
    "reads keys from the terminal": ([], "1\n", [
        MENU, "? keys: 1", "  We are open nine to five.", "  Goodbye.", "  [hang up]", "-- call is at: hangup",
    ]),
    "asks for the outcome of a transfer": ([], "3\nno-answer\n", [
        MENU, "? keys: 3", "  [transfer to front: ringing 1 phone(s)]", "? transfer outcome: no-answer",
        "  Goodbye.", "  [hang up]", "-- call is at: hangup",
    ]),
    "quits on q": ([], "q\n", [MENU, "? keys: q", "-- call is at: waiting main"]),
}


@pytest.mark.parametrize("arguments, typed, expected", list(SIMULATIONS.values()), ids=list(SIMULATIONS))
def test_simulate(runner, folder, arguments, typed, expected):
    result = runner.invoke(main, ["simulate", "hours.yaml", "--at", OPEN_HOURS.isoformat(), *arguments],
                           input=typed)
    assert result.exit_code == 0
    assert prompts_shortened(result.stdout) == expected


def test_simulate_rejects_a_language_the_flow_lacks(runner, folder):
    result = runner.invoke(main, ["simulate", "hours.yaml", "--lang", "fr"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Invalid value for --lang: the flow speaks en, es"


def test_simulate_refuses_a_broken_flow(runner, folder):
    write(folder / "broken.yaml", BROKEN)
    result = runner.invoke(main, ["simulate", "broken.yaml", "--keys", "1"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'broken.yaml:8:11: error: next of "main" goes to unknown node "bey"; did you mean "bye"? [unknown-target]',
        'broken.yaml:10:5: error: unknown node kind "sya" in node "bye"; allowed: say, menu, ask, decide, transfer, '
        "record, action, hangup [unknown-kind]",
    ]


# -- graph --------------------------------------------------------------------------------

def test_graph_is_a_mermaid_flowchart(runner, folder):
    result = runner.invoke(main, ["graph", "small.yaml"])
    assert result.exit_code == 0
    assert result.stdout == (
        "flowchart TD\n"
        "    start((start)) --> n0\n"
        '    n0[/"main<br/>menu"/]\n'
        '    n1["hours<br/>say"]\n'
        '    n2["address<br/>say"]\n'
        '    n3{"check<br/>decide"}\n'
        '    n4(["bye<br/>hangup"])\n'
        '    n0 -->|"press 1"| n1\n'
        '    n0 -->|"press 2"| n2\n'
        '    n0 -->|"press *"| n0\n'
        "    n1 --> n3\n"
        "    n2 --> n3\n"
        """    n3 -->|"topic == 'address'"| n4\n"""
        '    n3 -->|"otherwise"| n4\n'
    )


def test_graph_has_an_edge_per_option(runner, folder):
    result = runner.invoke(main, ["graph", "hours.yaml"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert [line for line in lines if "press" in line] == [
        '    n0 -->|"press 1"| n1',
        '    n0 -->|"press 2"| n2',
        '    n0 -->|"press 3"| n3',
    ]
    assert '    n3[["desk<br/>transfer: front"]]' in lines
    assert '    n3 -->|"no answer"| n4' in lines


def test_graph_refuses_a_broken_flow(runner, folder):
    write(folder / "broken.yaml", BROKEN)
    result = runner.invoke(main, ["graph", "broken.yaml"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 2


# -- test ---------------------------------------------------------------------------------

def test_scripts_that_pass_exit_0(runner, folder):
    write(folder / "tests" / "calls.yaml", PASSING_SCRIPT)
    result = runner.invoke(main, ["test", "."])
    assert result.exit_code == 0
    assert result.stdout == "2 passed, 0 failed\n"


def test_a_failing_script_points_at_its_steps(runner, folder):
    write(folder / "tests" / "calls.yaml", PASSING_SCRIPT)
    write(folder / "tests" / "wrong.yaml", FAILING_SCRIPT)
    result = runner.invoke(main, ["test", "."])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        'tests/wrong.yaml:6:9: expects the wrong words: expected to hear "we are closed"; '
        "heard: [transfer to front: ringing 1 phone(s)]",
        "tests/wrong.yaml:11:10: expects the wrong end: expected the call to end at transfer front; it is at hangup",
        'tests/wrong.yaml:15:19: expects a saved answer: expected lang saved as "es"; got "en"',
        "2 passed, 3 failed",
    ]


def test_one_script_file_can_be_named(runner, folder):
    write(folder / "tests" / "calls.yaml", PASSING_SCRIPT)
    write(folder / "tests" / "wrong.yaml", FAILING_SCRIPT)
    result = runner.invoke(main, ["test", "tests/calls.yaml"])
    assert (result.exit_code, result.stdout) == (0, "2 passed, 0 failed\n")


def test_a_malformed_script_counts_as_failed(runner, folder):
    write(folder / "tests" / "bad.yaml", "flow: hours\ncases:\n  - name: x\n    steps:\n      - push: '1'\n")
    result = runner.invoke(main, ["test", "."])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        'tests/bad.yaml:5:9: error: unknown step "push"; allowed: hear, not_hear, press, silence, dial, record, at '
        "[bad-step]",
        "1 passed, 1 failed",
    ]


def test_a_script_for_an_unknown_flow_fails(runner, folder):
    write(folder / "tests" / "other.yaml", "flow: nothing\ncases:\n  - name: x\n    steps: [silence]\n")
    result = runner.invoke(main, ["test", "."])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        'tests/other.yaml:1:7: error: no valid flow "nothing" next to this script [unknown-flow]',
        "0 passed, 1 failed",
    ]


def test_no_scripts_at_all_is_a_failure(runner, folder):
    result = runner.invoke(main, ["test", "."])
    assert (result.exit_code, result.stdout) == (1, "0 passed, 0 failed\n")


# -- schema -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "title"), [([], "ivr flow"), (["teams"], "ivr teams file")])
def test_schema_prints_the_shipped_json_schema(runner, args, title):
    result = runner.invoke(main, ["schema", *args])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert (schema["title"], schema["$schema"]) == (title, "https://json-schema.org/draft/2020-12/schema")


def test_schema_path_names_the_installed_file(runner):
    result = runner.invoke(main, ["schema", "--path"])
    path = Path(result.stdout.strip())
    assert (result.exit_code, path.name, path.parent.name) == (0, "flow.schema.json", "flows")
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(runner.invoke(main, ["schema"]).stdout)


# -- outbox requeue and purge ---------------------------------------------------------------

NOW = 1_796_144_400.0
DAY = 86400.0


@pytest.fixture
def outbox_store(tmp_path: Path, monkeypatch) -> Iterator[SqliteStore]:
    """A SQLite store for the outbox commands, with the commands' clock at NOW."""
    monkeypatch.setattr(cli_outbox, "_now", lambda: NOW)
    store = SqliteStore(str(tmp_path / "ivr.sqlite3"))
    yield store
    store.close()


def store_url(store: SqliteStore) -> str:
    """The --store option's value for a SQLite store."""
    return f"sqlite:///{store.path}"


def test_outbox_requeue_gives_dead_items_another_go(runner, outbox_store):
    store = outbox_store
    for item_id in ("dead-1", "dead-2"):
        store.enqueue(item_id, "sms", b"", NOW - DAY)
        store.claim(NOW - DAY, 60, 1)
        store.give_up(item_id, "HTTP 500")
    result = runner.invoke(main, ["outbox", "requeue", "dead-1", "dead-2", "--store", store_url(store)])
    assert (result.exit_code, result.stdout) == (0, "requeued dead-1\nrequeued dead-2\n")
    assert store.outbox() == [OutboxItem("dead-1", "sms", b"", 0, "pending", NOW, "", "HTTP 500"),
                              OutboxItem("dead-2", "sms", b"", 0, "pending", NOW, "", "HTTP 500")]


def test_outbox_requeue_exits_1_when_an_id_was_not_dead(runner, outbox_store):
    store = outbox_store
    store.enqueue("dead", "sms", b"", NOW - DAY)
    store.give_up("dead", "HTTP 404")
    store.enqueue("done", "sms", b"", NOW - DAY)
    store.complete("done", "SM1")
    store.enqueue("pending", "sms", b"", NOW + 60)
    result = runner.invoke(main, ["outbox", "requeue", "pending", "dead", "done", "nothing",
                                  "--store", store_url(store)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["not dead: pending", "requeued dead", "not dead: done", "not dead: nothing"]
    assert [(item.id, item.state, item.due_at) for item in store.outbox()] == [
        ("done", "done", NOW - DAY), ("dead", "pending", NOW), ("pending", "pending", NOW + 60)]


@pytest.mark.parametrize("args", [[], [""]])
def test_outbox_requeue_needs_ids(runner, outbox_store, args):
    result = runner.invoke(main, ["outbox", "requeue", *args, "--store", store_url(outbox_store)])
    assert result.exit_code == 2
    assert "ID" in result.stderr


def _old_items(store: SqliteStore) -> None:
    """Done items 40, 31 and 10 days old, dead ones 40 and 31 days old, one pending 90 days old."""
    for item_id, days in [("done-40", 40), ("done-31", 31), ("done-10", 10)]:
        store.enqueue(item_id, "sms", b"", NOW - days * DAY)
        store.complete(item_id, "ok")
    for item_id, days in [("dead-40", 40), ("dead-31", 31)]:
        store.enqueue(item_id, "ride", b"{}", NOW - days * DAY)
        store.give_up(item_id, "HTTP 404")
    store.enqueue("pending-90", "sms", b"", NOW - 90 * DAY)


def test_outbox_purge_deletes_old_done_items_by_default(runner, outbox_store):
    store = outbox_store
    _old_items(store)
    result = runner.invoke(main, ["outbox", "purge", "--older-than", "30", "--store", store_url(store)])
    assert (result.exit_code, result.stdout) == (0, "purged 2 done items older than 30 days\n")
    assert [item.id for item in store.outbox()] == ["pending-90", "dead-40", "dead-31", "done-10"]
    result = runner.invoke(main, ["outbox", "purge", "--older-than", "30", "--store", store_url(store)])
    assert (result.exit_code, result.stdout) == (0, "purged 0 done items older than 30 days\n")


def test_outbox_purge_dead_items_with_a_limit(runner, outbox_store):
    store = outbox_store
    _old_items(store)
    args = ["outbox", "purge", "--state", "dead", "--older-than", "0.5", "--limit", "1", "--store", store_url(store)]
    result = runner.invoke(main, args)
    assert (result.exit_code, result.stdout) == (0, "purged 1 dead items older than 0.5 days\n")
    assert [item.id for item in store.outbox("dead")] == ["dead-31"]
    assert len(store.outbox("done")) == 3 and len(store.outbox("pending")) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--older-than", "0"], "positive number of days"), (["--older-than", "-3"], "positive number of days"),
     (["--older-than", "nan"], "positive number of days"), (["--older-than", "1e308"], "positive number of days"),
     (["--older-than", "a week"], "a week"), ([], "--older-than"),
     (["--older-than", "30", "--state", "pending"], "pending"), (["--older-than", "30", "--limit", "0"], "0")],
)
def test_outbox_purge_refuses_bad_options(runner, outbox_store, args, message):
    _old_items(outbox_store)
    result = runner.invoke(main, ["outbox", "purge", *args, "--store", store_url(outbox_store)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(outbox_store.outbox()) == 6


@pytest.mark.parametrize("keys, message", [
    ("3,dial:noanswer", '"noanswer" is not a transfer outcome'),
    ("3,dial:completd", '"completd" is not a transfer outcome'),
    ("banana", '"banana" is not phone keys'),
    ("dial:no-answer", "the call waits for keys"),
    ("3,record:20", "the call waits for dial:STATUS"),
])
def test_simulate_refuses_inputs_the_call_cannot_take(runner, folder, keys, message):
    result = runner.invoke(main, ["simulate", "hours.yaml", "--keys", keys])
    assert result.exit_code == 1 and message in result.stderr


def test_simulate_lang_starts_the_call_in_that_language_past_the_language_menu(runner):
    flows = Path(__file__).resolve().parent.parent / "flows"
    result = runner.invoke(main, ["simulate", str(flows / "support-line.yaml"), "--lang", "es",
                                  "--at", "2026-11-25T10:00:00-08:00", "--keys", ""])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("  Si tiene una emergencia médica") and "For English" not in result.stdout
    assert lines[-1] == "-- call is at: waiting main_menu"


def test_call_explains_a_server_that_is_not_there(runner):
    result = runner.invoke(main, ["call", "http://127.0.0.1:9/voice", "--keys", "1"])
    assert result.exit_code == 1 and "is the server running at http://127.0.0.1:9/voice?" in result.stderr


def test_graph_leaves_out_tries_where_nothing_waits_for_keys(runner, folder):
    lines = runner.invoke(main, ["graph", "hours.yaml"]).stdout.splitlines()
    tries = [line for line in lines if "too many tries" in line]
    assert tries == ['    n0 -->|"too many tries"| n3']  # the menu; not the read-out "hours", which never waits


def test_lint_does_not_echo_a_broken_teams_file_at_every_transfer(runner, folder):
    write(folder / "teams.yaml", "timezone: America/Los_Angeles\nteams:\n  front:\n    members:\n"
                                 "      - {name: Ana, phone: \"626-555-0142\"}\n")
    write(folder / "hours.yaml", HOURS.replace('teams:\n  front: ["+16265550100"]\n', ""))
    result = runner.invoke(main, ["lint", "hours.yaml", "teams.yaml"])
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert [line for line in lines if "unknown-team" in line] == []
    assert any("bad-phone" in line for line in lines) and any("teams-file" in line for line in lines)


def test_a_script_step_that_does_not_fit_the_call_fails_there(runner, folder):
    write(folder / "tests" / "misfit.yaml", """\
flow: hours
cases:
  - name: keys at a transfer
    steps:
      - press: "3"
      - press: "1"
""")
    result = runner.invoke(main, ["test", "tests/misfit.yaml"])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        'tests/misfit.yaml:6:9: keys at a transfer: the call waits for dial:STATUS (e.g. dial:no-answer), not "1"')
