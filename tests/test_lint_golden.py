"""Golden tests for the linters of flows and of the teams file.

Each `tests/flows/err/NAME.yaml` (a flow) and `tests/teams/NAME.yaml` (a teams file) is
linted under its repo-relative path and the problems, one `str(Problem)` a line, must
equal `NAME.out` exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows.loader import lint_file
from ivr.flows.teams_loader import lint_teams_file

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "flows" / "err"
TEAMS_CASES = ROOT / "tests" / "teams"
FLOW_FILES = sorted(CASES.glob("*.yaml")) + sorted(TEAMS_CASES.glob("*.yaml"))


def _lint(monkeypatch, flow_file: Path):
    monkeypatch.chdir(ROOT)
    lint = lint_teams_file if flow_file.parent.name == "teams" else lint_file
    return lint(flow_file.relative_to(ROOT).as_posix())


@pytest.mark.parametrize("flow_file", FLOW_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FLOW_FILES])
def test_lint_output_matches_golden_file(monkeypatch, flow_file: Path) -> None:
    flow, problems = _lint(monkeypatch, flow_file)
    actual = [str(problem) for problem in problems]
    expected_file = flow_file.with_suffix(".out")
    if not expected_file.is_file():
        pytest.fail(f"{expected_file.relative_to(ROOT)} is missing; linting gave:\n" + "\n".join(actual))
    expected = expected_file.read_text(encoding="utf-8").splitlines()
    assert actual == expected
    # A file with any error must not load; one with only warnings must.
    assert (flow is None) == any(problem.is_error for problem in problems)


@pytest.mark.parametrize("folder", [CASES, TEAMS_CASES], ids=["flows", "teams"])
def test_every_golden_file_reports_something(folder: Path) -> None:
    empty = [p.name for p in sorted(folder.glob("*.out")) if not p.read_text(encoding="utf-8").strip()]
    assert empty == []


@pytest.mark.parametrize("folder", [CASES, TEAMS_CASES], ids=["flows", "teams"])
def test_every_out_file_has_its_yaml(folder: Path) -> None:
    orphans = [p.name for p in sorted(folder.glob("*.out")) if not p.with_suffix(".yaml").is_file()]
    assert orphans == []


FLOW_RULES = {
    "yaml-syntax", "duplicate-key", "unknown-kind", "unknown-key", "unknown-target", "missing-start",
    "bad-key", "missing-language", "unknown-language", "template", "unknown-answer", "bad-value",
    "unknown-team", "bad-phone", "bad-voice", "unknown-action", "missing-key", "missing-operator",
    "unreachable", "dead-end", "long-menu", "long-prompt", "phi-in-whisper", "sensitive-in-whisper",
}
TEAMS_RULES = {
    "yaml-syntax", "duplicate-key", "unknown-key", "missing-key", "type", "range", "bad-value", "bad-name",
    "unknown-timezone", "bad-day", "bad-hours", "overlapping-hours", "duplicate-day", "bad-phone",
    "duplicate-member", "bad-language", "bad-date", "duplicate-date", "conflicting-date", "redundant-closure",
    "unknown-country", "unknown-subdivision", "unknown-holiday", "no-active-member", "never-open",
    "unknown-language",
}


@pytest.mark.parametrize("folder, rules", [(CASES, FLOW_RULES), (TEAMS_CASES, TEAMS_RULES)], ids=["flows", "teams"])
def test_the_golden_set_covers_the_rules(folder: Path, rules: set[str]) -> None:
    seen = {line.rsplit("[", 1)[1].rstrip("]")
            for out in folder.glob("*.out") for line in out.read_text(encoding="utf-8").splitlines()}
    assert seen >= rules


def test_lines_are_sorted_by_position(monkeypatch) -> None:
    _, problems = _lint(monkeypatch, CASES / "many_problems.yaml")
    positions = [(p.line, p.col) for p in problems]
    assert positions == sorted(positions)
    assert len(problems) == 10
    assert sum(p.is_error for p in problems) == 8


def test_missing_golden_file_fails_showing_the_output(monkeypatch, tmp_path: Path) -> None:
    # A flow with no .out next to it: the parametrized test must fail and show what lint said.
    flow = tmp_path / "new_case.yaml"
    flow.write_text("flow: demo\nnodes: {}\n", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    with pytest.raises(pytest.fail.Exception) as failure:
        test_lint_output_matches_golden_file(monkeypatch, flow)
    assert str(failure.value) == (
        'new_case.out is missing; linting gave:\nnew_case.yaml:1:1: error: missing "start" [missing-start]\n'
        'new_case.yaml:1:1: error: operator key "0" needs settings.operator (the node it leads to), '
        'or set keys.operator to null [missing-operator]'
    )
