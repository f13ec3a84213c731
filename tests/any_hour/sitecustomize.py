"""Loaded only by the any-hour test's subprocesses, which run under libfaketime with the real
monotonic clock: libfaketime 0.9 makes `time.sleep` fail with EINVAL there, so sleeps go
through select(), which it leaves alone. Nothing else changes."""

import select
import time


def _sleep(seconds: float) -> None:
    select.select([], [], [], max(0.0, seconds))


time.sleep = _sleep
