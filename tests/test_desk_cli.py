"""`ivr users`, `ivr audit list`, the worklist's `ivr records` commands, and coordinators' names."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr import records as rec
from ivr.cli import common as cli_common
from ivr.cli import desk as cli_desk
from ivr.cli import main
from ivr.console import accounts
from ivr.stores.sqlite import SqliteStore

FLOWS = Path(__file__).resolve().parent.parent / "flows"
T0 = 1_764_093_600.0  # 2025-11-25 10:00 in Los Angeles


@pytest.fixture(autouse=True)
def instance(tmp_path, monkeypatch, fast_hashing) -> Path:
    monkeypatch.setenv("IVR_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("IVR_FLOWS_DIR", str(FLOWS))
    monkeypatch.setattr(cli_common, "now", lambda: T0)
    monkeypatch.setattr(cli_desk, "_operator", lambda: "ops")
    return tmp_path / "instance"


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def store(instance: Path) -> SqliteStore:
    return SqliteStore(str(instance / "ivr.sqlite3"))


def test_users_add_list_disable_and_password(instance):
    result = run("users", "add", "ana", "--role", "coordinator", "--member", "Ana Rivera",
                 stdin="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "added ana (coordinator; teams coordinators, transportation)\n"
    assert run("users", "add", "root", "--role", "admin", stdin="another long secret\n").exit_code == 0
    assert run("users", "list").stdout.splitlines() == [
        "NAME  ROLES        TEAMS                        MEMBER      STATE",
        "ana   coordinator  coordinators,transportation  Ana Rivera  active",
        "root  admin        -                            -           active",
    ]
    s = store(instance)
    assert accounts.verify(s.get_account("ana"), "correct horse battery")
    assert "correct horse" not in s.get_account("ana").password_hash
    assert run("users", "disable", "ana").stdout == "disabled ana\n"
    assert s.get_account("ana").disabled and s.get_account("ana").epoch == 1
    assert run("users", "password", "root", stdin="a brand new secret\n").exit_code == 0
    assert accounts.verify(s.get_account("root"), "a brand new secret")
    assert [(e.user, e.role, e.action, e.detail) for e in reversed(s.audit_events())] == [
        ("ops", "cli", "user-added", "ana: coordinator"), ("ops", "cli", "user-added", "root: admin"),
        ("ops", "cli", "user-disabled", "ana"), ("ops", "cli", "password-set", "root")]
    s.close()


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["users", "add", "bo", "--role", "admin"], "short\n", "at least 12"),
    (["users", "add", "Bo Smith", "--role", "admin"], "long enough secret\n", "cannot be a sign-in name"),
    (["users", "add", "bo", "--role", "coordinator"], "long enough secret\n", "needs a team"),
    (["users", "add", "bo", "--role", "coordinator", "--team", "coordinater"], "long enough secret\n",
     'no team "coordinater" in the teams file (did you mean "coordinators"?)'),
    (["users", "add", "bo", "--role", "coordinator", "--member", "Ana Riviera"], "long enough secret\n",
     'did you mean "Ana Rivera"?'),
    (["users", "disable", "nobody"], None, 'no account "nobody"'),
])
def test_users_refuse_what_cannot_be(args, stdin, message):
    result = run(*args, stdin=stdin)
    assert result.exit_code != 0
    assert message in result.output


def test_audit_list_by_user_and_since(instance):
    s = store(instance)
    from ivr.console import audit

    audit.record(s, T0 - 86400, "ana", "coordinator", audit.SIGNED_IN, address="10.0.0.1")
    audit.record(s, T0, "ana", "coordinator", audit.VIEWED, record="CA1:vm")
    audit.record(s, T0 + 5, "bo", "admin", audit.SIGNED_IN)
    s.close()
    lines = run("audit", "list").stdout.splitlines()
    assert lines[0].split() == ["TIME", "USER", "ROLE", "ACTION", "RECORD", "ADDRESS", "DETAIL"]
    assert [line.split()[2] for line in lines[1:]] == ["bo", "ana", "ana"]
    assert len(run("audit", "list", "--user", "ana").stdout.splitlines()) == 3
    since = run("audit", "list", "--since", "2025-11-25").stdout.splitlines()
    assert [line.split()[4] for line in since[1:]] == ["signed-in", "viewed-record"]
    assert run("audit", "list", "--user", "zed").stdout == "no audit events\n"


def test_records_status_commands_take_prefixes_and_are_audited(instance):
    s = store(instance)
    rec.save(s, rec.Voicemail(id="CA1234:vm", created_at=T0, team="coordinators", recording_url="u"))
    rec.save(s, rec.CallbackRequest(id="CA1299:cb", created_at=T0 + 1, team="coordinators", number="+16265550100"))
    s.close()
    assert "several records" in run("records", "claim", "CA12").output
    assert run("records", "claim", "CA1234", "--as", "ana").stdout == "CA1234:vm: claimed by ana\n"
    assert "already claimed by ana" in run("records", "claim", "CA1234", "--as", "bo").output
    assert run("records", "tried", "CA1234", "--as", "ana").stdout == "CA1234:vm: tried by ana, 1 attempt(s)\n"
    assert run("records", "done", "CA1234:vm", "--note", "Called back").stdout == "CA1234:vm: done by ops, " \
                                                                                   "1 attempt(s)\n"
    assert "no record 'CA9'" in run("records", "release", "CA9").output
    assert run("records", "claim", "CA1299", "--as", "bo").stdout == "CA1299:cb: claimed by bo\n"
    assert run("records", "release", "CA1299", "--as", "bo").stdout == "CA1299:cb: new\n"
    listed = run("records", "list").stdout.splitlines()
    assert listed[0].split()[4] == "STATUS" and "done (ops)" in listed[2] and " new " in listed[1]
    shown = run("records", "show", "CA1234").stdout.splitlines()
    assert shown[-2:] == ["status: done (ops), 1 attempt(s)", "note: Called back"]
    s = store(instance)
    assert [(e.user, e.action, e.record) for e in reversed(s.audit_events())] == [
        ("ana", "claimed", "CA1234:vm"), ("ana", "tried-no-answer", "CA1234:vm"), ("ops", "closed", "CA1234:vm"),
        ("bo", "claimed", "CA1299:cb"), ("bo", "released", "CA1299:cb")]
    s.close()


def test_records_purge_removes_old_done_records_only_and_keeps_the_audit_log(instance, monkeypatch):
    s = store(instance)
    for i, state in enumerate(("done", "new")):
        record = rec.Voicemail(id=f"CA{i}:vm", created_at=T0 - 40 * 86400, team="coordinators", recording_url="u")
        rec.save(s, record)
        if state == "done":
            rec.close(s, s.work_item(record.id), "ana", T0, "done")
    rec.save(s, rec.Voicemail(id="CA7:vm", created_at=T0, team="coordinators", recording_url="u"))
    rec.close(s, s.work_item("CA7:vm"), "ana", T0, "done")
    s.close()
    assert run("records", "purge", "--older-than", "30").stdout == "purged 1 done record(s) older than 30 day(s)\n"
    s = store(instance)
    assert [r.id for r in rec.load_all(s)] == ["CA7:vm", "CA1:vm"]
    assert [(e.action, e.record) for e in s.audit_events()] == [("purged", "CA0:vm")]
    s.close()


def test_records_export_is_audited(instance):
    assert run("records", "export", "--csv").exit_code == 0
    s = store(instance)
    assert [(e.user, e.action) for e in s.audit_events()][0][1] == "exported"
    s.close()


def test_reindex_puts_older_records_on_the_worklist(instance):
    s = store(instance)
    s.add_record("CAold:vm", "voicemail", T0, rec.Voicemail(id="CAold:vm", created_at=T0, recording_url="u",
                                                           team="coordinators").to_json())
    s.close()
    assert run("records", "reindex").stdout == "1 record(s) put on the worklist\n"
    assert run("records", "reindex").stdout == "0 record(s) put on the worklist\n"


def test_coordinator_names_come_from_the_teams_file(instance):
    result = run("coordinators", "away", "Ana Riviera")
    assert result.exit_code == 1
    assert 'no coordinator "Ana Riviera" in ' in result.output and 'did you mean "Ana Rivera"' in result.output
    assert run("coordinators", "away", "Ana Rivera").exit_code == 0


# --- the password prompt at a terminal -------------------------------------------------------

@pytest.fixture
def terminal(monkeypatch):
    """Standard input is a terminal: the commands ask for the password rather than read a line."""
    monkeypatch.setattr(cli_desk, "_at_terminal", lambda: True)


def prompts(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()]


def test_users_add_asks_twice_at_a_terminal_and_keeps_only_an_argon2_hash(instance, terminal):
    result = run("users", "add", "root", "--role", "admin", stdin="correct horse battery\ncorrect horse battery\n")
    assert result.exit_code == 0, result.output
    assert prompts(result.output) == ["Password:", "Repeat for confirmation:", "added root (admin)"]
    assert "correct horse" not in result.output  # hidden as it is typed
    s = store(instance)
    account = s.get_account("root")
    assert account.password_hash.startswith("$argon2id$") and "correct horse" not in account.password_hash
    assert accounts.verify(account, "correct horse battery") and not accounts.verify(account, "correct horse")
    assert all("correct horse" not in f"{e.detail} {e.record}" for e in s.audit_events())
    s.close()


def test_a_confirmation_that_differs_asks_for_the_password_again(instance, terminal):
    typed = "correct horse battery\ncorrect horse batery\nanother long secret\nanother long secret\n"
    result = run("users", "add", "root", "--role", "admin", stdin=typed)
    assert result.exit_code == 0, result.output
    assert prompts(result.output) == ["Password:", "Repeat for confirmation:",
                                      "Error: The two entered values do not match.",
                                      "Password:", "Repeat for confirmation:", "added root (admin)"]
    s = store(instance)
    assert accounts.verify(s.get_account("root"), "another long secret")
    assert not accounts.verify(s.get_account("root"), "correct horse battery")
    s.close()


@pytest.mark.parametrize(("bad", "reason"), [
    ("short", "a password needs at least 12 characters"),
    ("eleven char", "a password needs at least 12 characters"),
    ("x" * 257, "a password may have at most 256 characters"),
])
def test_a_password_that_breaks_the_rules_is_refused_at_once_and_asked_again(instance, terminal, bad, reason):
    result = run("users", "add", "root", "--role", "admin", stdin=f"{bad}\ntwelve chars\ntwelve chars\n")
    assert result.exit_code == 0, result.output
    assert prompts(result.output) == ["Password:", f"Error: {reason}", "Password:", "Repeat for confirmation:",
                                      "added root (admin)"]
    assert bad not in result.output
    s = store(instance)
    assert accounts.verify(s.get_account("root"), "twelve chars")
    s.close()


def test_a_terminal_closed_before_a_good_password_adds_no_one(instance, terminal):
    result = run("users", "add", "root", "--role", "admin", stdin="short\n")
    assert result.exit_code == 1 and "Aborted!" in result.output
    s = store(instance)
    assert s.get_account("root") is None and s.audit_events() == []
    s.close()


def test_users_password_asks_twice_at_a_terminal_and_ends_the_sessions(instance, terminal):
    assert run("users", "add", "root", "--role", "admin", stdin="correct horse battery\n" * 2).exit_code == 0
    typed = "too short\nbrand new secret\nbrand new secrets\nbrand new secret\nbrand new secret\n"
    result = run("users", "password", "root", stdin=typed)
    assert result.exit_code == 0, result.output
    assert prompts(result.output) == ["New password:", "Error: a password needs at least 12 characters",
                                      "New password:", "Repeat for confirmation:",
                                      "Error: The two entered values do not match.",
                                      "New password:", "Repeat for confirmation:", "password set for root"]
    s = store(instance)
    account = s.get_account("root")
    assert accounts.verify(account, "brand new secret") and account.epoch == 1
    assert account.password_hash.startswith("$argon2id$") and "brand new" not in account.password_hash
    s.close()
