"""Limits the linters keep: a file too large is refused before it is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flows import yaml_reader
from ivr.flows.loader import lint_file, lint_text
from ivr.flows.teams_loader import lint_teams_file


@pytest.mark.parametrize("lint, name", [(lint_file, "big.yaml"), (lint_teams_file, "teams.yaml")])
def test_a_file_over_the_limit_is_refused_unread(tmp_path, monkeypatch, lint, name):
    path = tmp_path / name
    path.write_bytes(b"# " + b"x" * yaml_reader.MAX_FILE_BYTES)

    def never(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_text", never)
    loaded, problems = lint(path)
    assert loaded is None
    assert [p.rule for p in problems] == ["too-large"]
    assert str(problems[0]) == (f"{path}:1:1: error: the file is {yaml_reader.MAX_FILE_BYTES + 2:,} bytes; flow and teams "
                                f"files may be at most {yaml_reader.MAX_FILE_BYTES:,} [too-large]")


def test_text_over_the_limit_is_refused_unparsed():
    flow, problems = lint_text("#" * (yaml_reader.MAX_FILE_BYTES + 1), "big.yaml")
    assert flow is None and [p.rule for p in problems] == ["too-large"]


def test_a_file_at_the_limit_is_read(tmp_path):
    path = tmp_path / "flow.yaml"
    text = "flow: demo\nstart: bye\nsettings: {keys: {operator: null}}\nnodes:\n  bye: {hangup: Goodbye.}\n"
    path.write_text(text + "#" * (yaml_reader.MAX_FILE_BYTES - len(text)))
    flow, problems = lint_file(path)
    assert flow is not None, problems
