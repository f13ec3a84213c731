"""The suite passes at any hour: the tests that touch hours, holidays and dates run again under
libfaketime at moments chosen to break a test that reads the wall clock.

Each moment runs those test files in a subprocess whose wall clock (datetime.now, time.time)
starts at it; the monotonic clock stays real, so timeouts and deadlines behave. `scripts/test`
installs Debian's faketime when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# In UTC: each is given in the line's time (Los Angeles) in its id.
MOMENTS = {
    "christmas-3am": "2026-12-25 11:00:00",
    "sunday-10-30pm": "2026-11-30 06:30:00",
    "new-years-eve-11-59pm": "2027-01-01 07:59:30",
}
FILES = ["test_web.py", "test_transfer.py", "test_faults.py", "test_cli.py", "test_flow_scripts.py",
         "test_records.py", "test_outbox.py", "test_engine.py", "test_teams.py", "test_flow_registry.py"]


@pytest.mark.slow
@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
def test_the_time_sensitive_tests_pass_at_this_moment(moment):
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.fail("faketime is not installed (scripts/test installs Debian's package)")
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "any_hour"), os.environ.get("PYTHONPATH", "")])}
    check = subprocess.run([faketime, "-f", f"@{moment}", sys.executable, "-c",
                            "import datetime; print(datetime.datetime.now(datetime.UTC).isoformat())"],
                           env=env, capture_output=True, text=True, timeout=30, check=True)
    assert check.stdout.startswith(moment.replace(" ", "T")[:16])  # the clock really is at the moment
    result = subprocess.run([faketime, "-f", f"@{moment}", sys.executable, "-m", "pytest", "-q", "-x",
                             "-p", "no:cacheprovider", "-m", "not slow", *(f"tests/{name}" for name in FILES)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
