"""The flow and engine layers stay pure: no web, telephony, store or clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = sorted(f"{path.parent.name}/{path.stem}" for package in ("flows", "engine")
              for path in (ROOT / "ivr" / package).glob("*.py"))
FORBIDDEN = {"flask", "werkzeug", "twilio", "redis", "sqlite3", "time", "socket", "requests", "urllib", "http"}
CLOCK_CALLS = {"now", "today", "utcnow", "time", "monotonic", "perf_counter"}


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_nothing_with_io_or_a_clock(module):
    tree = ast.parse((ROOT / "ivr" / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported & FORBIDDEN == set()
    calls = {node.func.attr for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert calls & CLOCK_CALLS == set()


def test_importing_the_engine_loads_no_web_telephony_or_store_library():
    names = ", ".join(repr(name) for name in sorted(FORBIDDEN - {"time", "socket", "urllib", "http"}))
    code = ("import sys, ivr.engine.step, ivr.flows.loader; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {{{names}}}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
