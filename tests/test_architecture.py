"""The layers keep their order, and the flow language and the engine stay pure.

The layer contract and the forbidden imports are import-linter's (`[tool.importlinter]` in
pyproject.toml); this module runs it and checks what it cannot: clock calls, and what
importing the engine drags in at run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = sorted(path.relative_to(ROOT).as_posix() for package in ("flows", "engine")
              for path in (ROOT / "ivr" / package).glob("*.py"))
CLOCK_CALLS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}


def test_import_contracts_are_kept():
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_type_checker_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_unused_import_undefined_name_or_dead_variable():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F", "ivr", "bench",
                             "tests"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", PURE)
def test_pure_module_reads_no_clock(path):
    tree = ast.parse((ROOT / path).read_text())
    calls = {node.func.attr for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert calls & CLOCK_CALLS == set()


def test_importing_the_engine_loads_no_file_format_calendar_or_io_library():
    heavy = {"yaml", "holidays", "phonenumbers", "flask", "werkzeug", "twilio", "redis", "sqlite3", "requests"}
    code = ("import sys, ivr.engine.step; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(heavy)!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_importing_the_loader_loads_no_web_telephony_or_store_library():
    io = {"flask", "werkzeug", "twilio", "redis", "sqlite3", "requests"}
    code = ("import sys, ivr.flows.loader; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(io)!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
