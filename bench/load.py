"""The webhook server under load: signed Twilio calls against several servers, next to two baselines.

Run from the project root (a Redis server must answer on 127.0.0.1:6379; db 14 is
flushed at the start and at the end):

    .venv/bin/python -m bench.load            # the full run (about 4 minutes on 2 cores)
    .venv/bin/python -m bench.load --quick    # a short run (about a minute)
    .venv/bin/python -m bench.load --json     # the figures as JSON on stdout
    .venv/bin/python -m bench.load --profile  # where a turn's time goes, in process
    .venv/bin/python -m bench.load --compare ../other-checkout   # that checkout's IVR beside this one

Each app runs under each server of --servers (default gunicorn, uvicorn, granian), two
workers each: uvicorn as `ivr serve` (the Procfile's web process) runs it, gunicorn with sync
workers as the Procfile used to, granian's ASGI interface with the settings it would need.
The apps: the IVR on the Redis store; `bench.static_app`, answering one fixed Gather/Redirect
document; and `bench.floor_app`, which does only what any signed, stateful webhook must (read
the form, check the signature, one Redis load and one compare-and-set save) before answering
the same document. Driver processes, one per connection, each play calls one after another:
a new CallSid, POST /voice, then follow the TwiML (Gather action, Redirect, Dial, Record)
with the inputs of a case of flows/tests/*.yaml, every request carrying the ~28 fields Twilio
posts and signed as Twilio signs it, and a status callback when the call ends.

1. Closed loop (each connection sends its next request when the answer arrives), every
   server in turn, twice: turns/s, p50/p90/p99 latency, and the CPU per request of the
   server, of Redis and of the driver (from /proc and INFO cpu).
2. Poisson arrivals at half the IVR's closed-loop rate, under the Procfile's server:
   latency when the workers are not saturated (timed from when each request was due).
3. N calls driven to the middle of their scripts and left live: Redis used_memory
   per call (growth, and the drop when they are deleted) and MEMORY USAGE of a sample.

PASS/FAIL against the goals: under the Procfile's server, p99 <= 10 ms at 8 connections,
turns/s >= 1.5x the IVR under gunicorn and >= 0.75x the floor app; < 1 KB of Redis per
live call.

On a small machine every other job skews the figures: the run waits (up to
--wait-idle seconds) for the CPUs to be under 20% busy, and each table shows how
busy the machine was and how much of that was other jobs ("others").
"""

from __future__ import annotations

import argparse
import base64
import functools
import gc
import hashlib
import hmac
import http.client
import json
import math
import multiprocessing as mp
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode
from xml.sax.saxutils import unescape

import redis
import yaml
from twilio.request_validator import RequestValidator

from ivr.flows.messages import BUILT_IN
from ivr.web.asgi import server_command as procfile_command

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS_DIR = ROOT / "flows" / "tests"
TOKEN = "bench-auth-token-5f0e9c2d7a41b3e6"
REDIS_DB = 14
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
CALL_KEYS = "ivr:{CA*}:call"

GOAL_P99_MS = 10.0
GOAL_VS_GUNICORN = 1.5  # turns/s of the IVR under the Procfile's server over gunicorn sync's
GOAL_VS_FLOOR = 0.75  # turns/s of the IVR over the floor app's, both under the Procfile's server
GOAL_BYTES_PER_CALL = 1024

MAX_DOCUMENTS_PER_CALL = 100
APOLOGY_MARK = BUILT_IN["apology"]["en"][:40]
VERB_RE = re.compile(r"<(Gather|Redirect|Dial|Record|Hangup)\b([^>]*?)(/?)>")
ACTION_RE = re.compile(r'\baction="([^"]*)"')
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- What callers do -------------------------------------------------------------------------


def call_scripts(folder: Path = SCRIPTS_DIR) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """(case name, inputs) for every case of the call scripts; an input is (kind, value)."""
    scripts = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for case in data.get("cases") or []:
            inputs = []
            for step in case.get("steps") or []:
                if step == "silence":
                    inputs.append(("keys", ""))
                    continue
                if not isinstance(step, dict):
                    continue
                for kind, value in step.items():
                    if kind == "press":
                        inputs.append(("keys", str(value)))
                    elif kind == "silence":
                        inputs.append(("keys", ""))
                    elif kind in ("dial", "record"):
                        inputs.append((kind, str(value)))
            if inputs:
                scripts.append((str(case.get("name", path.stem)), tuple(inputs)))
    if not scripts:
        raise SystemExit(f"no call scripts with inputs in {folder}")
    return scripts


CALLED = "+16266696777"
# What Twilio posts with every voice webhook of an inbound call, but the per-call fields.
FIXED_FIELDS = {
    "AccountSid": "AC" + "5" * 32, "ApiVersion": "2010-04-01", "CallStatus": "in-progress", "Called": CALLED,
    "CalledCity": "PASADENA", "CalledCountry": "US", "CalledState": "CA", "CalledZip": "91101",
    "CallerCity": "LOS ANGELES", "CallerCountry": "US", "CallerState": "CA", "CallerZip": "90012",
    "Direction": "inbound", "FromCity": "LOS ANGELES", "FromCountry": "US", "FromState": "CA", "FromZip": "90012",
    "To": CALLED, "ToCity": "PASADENA", "ToCountry": "US", "ToState": "CA", "ToZip": "91101",
}
FIXED_ENCODED = urlencode(FIXED_FIELDS)
COMPLETED_FIELDS = {**FIXED_FIELDS, "CallStatus": "completed", "CallDuration": "95"}
COMPLETED_ENCODED = urlencode(COMPLETED_FIELDS)


def twilio_form(call_sid: str, caller: str, completed: bool = False) -> tuple[dict[str, str], str]:
    """The fields Twilio posts with a webhook of this call (or its final status callback), url-encoded too."""
    own = {"CallSid": call_sid, "Caller": caller, "From": caller}
    if completed:
        return {**COMPLETED_FIELDS, **own}, COMPLETED_ENCODED + "&" + urlencode(own)
    return {**FIXED_FIELDS, **own}, FIXED_ENCODED + "&" + urlencode(own)


@functools.lru_cache(maxsize=256)
def encoded_input(kind: str, value: str) -> str:
    return urlencode(input_form(kind, value))


def input_form(kind: str, value: str) -> dict[str, str]:
    """The extra fields Twilio posts to an action URL for one caller input."""
    if kind == "dial":
        return {"DialCallStatus": value, "DialCallSid": "CA" + "1" * 32, "DialCallDuration": "42"}
    if kind == "record":
        return {"RecordingUrl": "https://api.twilio.com/recording/RE" + "2" * 32, "RecordingSid": "RE" + "2" * 32,
                "RecordingDuration": value, "Digits": "#"}
    return {"Digits": value, "FinishedOnKey": "", "msg": "Gather End"}


class Signer:
    """X-Twilio-Signature for single-valued forms, as RequestValidator.compute_signature makes it.

    The library's version costs ~120 us for Twilio's ~28 fields on a slow core, which on a
    2-core box would make the driver compete with the server it measures; this one costs
    ~10 us. Every driver process checks its first `verify` signatures against the library.
    """

    def __init__(self, token: str, verify: int = 25):
        self.key = token.encode("utf-8")
        self.validator = RequestValidator(token)
        self.verify = verify

    def sign(self, url: str, form: dict[str, str]) -> str:
        text = url + "".join(name + form[name] for name in sorted(form))
        signature = base64.b64encode(hmac.new(self.key, text.encode("utf-8"), hashlib.sha1).digest()).decode()
        if self.verify > 0:
            self.verify -= 1
            expected = self.validator.compute_signature(url, form)
            if signature != expected:
                raise RuntimeError(f"signature mismatch for {url}: {signature} != {expected}")
        return signature


# --- HTTP over one socket ---------------------------------------------------------------------


class Closed(Exception):
    """The server closed the connection before a whole response arrived."""


class Connection:
    """A minimal HTTP/1.1 client: keep-alive when the server allows it, reconnect when it closes."""

    def __init__(self, port: int):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.sock: socket.socket | None = None
        self.connects = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _connect(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1

    def request_bytes(self, path: str, body: bytes, signature: str) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: TwilioProxy/1.1\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body

    def exchange(self, data: bytes) -> tuple[int, bytes]:
        """Send one request, return (status, body). A kept-alive socket the server dropped is retried once."""
        fresh = self.sock is None
        if fresh:
            self._connect()
        try:
            self.sock.sendall(data)
            return self._read()
        except (Closed, ConnectionResetError, BrokenPipeError):
            self.close()
            if fresh:
                raise
            self._connect()
            self.sock.sendall(data)
            return self._read()

    def _read(self) -> tuple[int, bytes]:
        sock = self.sock
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                raise Closed()
            buf += chunk
        lines = buf[:end].decode("latin-1").split("\r\n")
        rest = buf[end + 4:]
        status = int(lines[0].split(" ", 2)[1])
        close = lines[0].startswith("HTTP/1.0")
        length = 0 if status in (204, 304) or status < 200 else None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding" and "chunked" in value.lower():
                raise RuntimeError("chunked responses are not expected here")
        if length is None:  # the body runs to the end of the connection
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            length, close = len(rest), True
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise Closed()
            rest += chunk
        if close:
            self.close()
        return status, rest[:length]


# --- One virtual caller -----------------------------------------------------------------------


@dataclass
class Tally:
    """What one driver process saw."""

    turn_ms: list[float] = field(default_factory=list)  # /voice and /voice/turn, inside the window
    status_ms: list[float] = field(default_factory=list)  # status callbacks, inside the window
    turns_done: int = 0  # turn responses completed inside the window
    status_done: int = 0
    requests: int = 0  # all requests, window or not
    calls: int = 0  # calls finished (all inputs played or hung up)
    bad_status: int = 0
    apologies: int = 0
    connects: int = 0
    cpu_s: float = 0.0


class Caller:
    """Plays calls over one connection, one after another, following the TwiML it gets."""

    def __init__(self, port: int, rng: random.Random, tally: Tally, window: tuple[float, float],
                 interval: float | None = None):
        self.conn = Connection(port)
        self.interval = interval  # paced: mean seconds between this connection's requests
        self.cpu_mark: float | None = None  # this process's CPU seconds when the window opened
        self.next_at = time.monotonic()
        self.base = f"http://127.0.0.1:{port}"
        self.signer = Signer(TOKEN)
        self.rng = rng
        self.tally = tally
        self.window = window

    def post(self, base: dict[str, str], encoded: str, extra: tuple[str, str] | None, path: str,
             is_turn: bool) -> tuple[int, bytes]:
        """POST the call's fields (`base`, already url-encoded as `encoded`) plus an input's, signed."""
        if extra:
            form = {**base, **input_form(*extra)}
            body = (encoded + "&" + encoded_input(*extra)).encode()
        else:
            form, body = base, encoded.encode()
        data = self.conn.request_bytes(path, body, self.signer.sign(self.base + path, form))
        began = time.monotonic()
        if self.interval is not None:
            # Poisson arrivals; a request held up by a slow answer before it is timed from when it was due
            # (no coordinated omission).
            self.next_at = max(self.next_at, began - 1.0) + self.rng.expovariate(1.0 / self.interval)
            if self.next_at > began:
                time.sleep(self.next_at - began)
                began = time.monotonic()
            else:
                began = self.next_at
        status, answer = self.conn.exchange(data)
        ended = time.monotonic()
        tally = self.tally
        tally.requests += 1
        start, stop = self.window
        if self.cpu_mark is None and began >= start:
            self.cpu_mark = sum(os.times()[:2])
        if start <= ended <= stop:
            if is_turn:
                tally.turns_done += 1
            else:
                tally.status_done += 1
            if began >= start:
                (tally.turn_ms if is_turn else tally.status_ms).append((ended - began) * 1000.0)
        if status != (200 if is_turn else 204):
            tally.bad_status += 1
        elif is_turn and APOLOGY_MARK.encode() in answer:
            tally.apologies += 1
        return status, answer

    def play(self, inputs, deadline: float, hang_up: bool = True) -> bool:
        """One call; False when the deadline stopped it before its end."""
        rng = self.rng
        call_sid = f"CA{rng.getrandbits(128):032x}"
        caller = f"+1555{rng.randrange(10**7):07d}"
        base, encoded = twilio_form(call_sid, caller)
        queue = list(inputs)
        path, extra = "/voice", None
        for _ in range(MAX_DOCUMENTS_PER_CALL):
            if time.monotonic() >= deadline:
                return False
            status, body = self.post(base, encoded, extra, path, True)
            if status != 200:
                break
            path, extra = follow(body.decode("utf-8"), path, queue)
            if path is None:
                break
        self.tally.calls += 1
        if hang_up and time.monotonic() < deadline:
            self.post(*twilio_form(call_sid, caller, completed=True), None, "/voice/status", False)
        return True


def follow(doc: str, path: str, queue: list[tuple[str, str]]) -> tuple[str | None, tuple[str, str] | None]:
    """Play one TwiML document like Twilio would: the next request (path, input posted), or (None, None)."""
    for match in VERB_RE.finditer(doc):
        verb, attrs = match.group(1), match.group(2)
        action = ACTION_RE.search(attrs)
        target = unescape(action.group(1)) if action else path
        if verb == "Redirect":
            end = doc.find("</Redirect>", match.end())
            return unescape(doc[match.end():end].strip()) or path, None
        if verb == "Hangup":
            return None, None
        if not queue:
            return None, None  # the script is over: the caller hangs up here
        kind, value = queue.pop(0)
        if verb == "Gather":
            if kind == "keys" and not value:
                continue  # silence: Twilio goes on to the next verb (the Redirect)
            return target, (kind, value)
        if verb == "Dial":
            if action is None:
                if value in ("completed", "answered"):
                    return None, None
                continue
            return target, ("dial", value if kind == "dial" else "completed")
        if verb == "Record":
            if kind == "record" and value in ("", "0"):
                continue
            return target, ("record", value if kind == "record" else "10")
    return None, None


def drive(port: int, scripts, seed: int, begin: float, window: tuple[float, float], deadline: float,
          calls: int | None, middle: bool, hang_up: bool, interval: float | None, results) -> None:
    """A driver process: calls until the deadline (or `calls` calls), then its Tally on `results`."""
    rng = random.Random(seed)
    tally = Tally()
    caller = Caller(port, rng, tally, window, interval)
    order = list(range(len(scripts)))
    rng.shuffle(order)
    try:
        while time.monotonic() < begin:
            time.sleep(min(0.01, max(0.0, begin - time.monotonic())))
        cpu0 = sum(os.times()[:2])
        caller.next_at = time.monotonic()
        done = 0
        while time.monotonic() < deadline and (calls is None or done < calls):
            inputs = scripts[order[done % len(order)]][1]
            if middle:
                inputs = inputs[:max(1, (len(inputs) + 1) // 2)]
            if not caller.play(inputs, deadline, hang_up):
                break
            done += 1
        tally.cpu_s = sum(os.times()[:2]) - (cpu0 if caller.cpu_mark is None else caller.cpu_mark)
        tally.connects = caller.conn.connects
        caller.conn.close()
        results.put(("ok", tally))
    except BaseException as exc:  # report, never hang the parent
        results.put(("error", f"{type(exc).__name__}: {exc}"))


# --- Servers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: str

    def pids(self) -> list[int]:
        """The master and its workers."""
        pids = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return pids

    def cpu_s(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return total / CLK_TCK


# The apps measured: (WSGI spec for gunicorn, ASGI factory for granian and uvicorn, health path).
APPS = {
    "ivr": ("ivr.web:create_app()", "ivr.web.asgi:create_service", "/healthz"),
    "static": ("bench.static_app:app", "bench.static_app:asgi_app", "/"),
    "floor": ("bench.floor_app:app", "bench.floor_app:asgi_app", "/"),
}
SERVER_KINDS = ("gunicorn", "granian", "uvicorn")


# granian's ASGI interface with the settings it would need to serve the line: workers replaced
# when they die, headers read within 5 s, no access log.
GRANIAN_FLAGS = ("--interface", "asgi", "--loop", "asyncio", "--factory", "--respawn-failed-workers",
                 "--http1-header-read-timeout", "5000", "--no-access-log")


def procfile_kind() -> str:
    """Which server the Procfile's web process runs: `ivr serve` runs uvicorn."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return "uvicorn" if line.split()[1:3] == ["ivr", "serve"] else line.split()[1]


def server_command(kind: str, app: str, port: int, workers: int, threads: int, log_path: str) -> list[str]:
    wsgi, asgi, _ = APPS[app]
    if kind == "gunicorn":  # the settings the Procfile had: sync workers, no access log, on loopback
        cmd = [sys.executable, "-m", "gunicorn", wsgi, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
               "--forwarded-allow-ips", "*", "--error-logfile", log_path]
        return cmd + (["--threads", str(threads)] if threads > 1 else [])
    if kind == "uvicorn":  # what `ivr serve` (the Procfile's web process) runs, on loopback
        return procfile_command(asgi, "127.0.0.1", port, workers)
    if kind == "granian":
        return [sys.executable, "-m", "granian", *GRANIAN_FLAGS, "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), asgi]
    raise ValueError(f"unknown server {kind!r}")


def start_server(name: str, app: str, workers: int, threads: int, workdir: str, flows: str = "flows",
                 tree: Path = ROOT, kind: str = "gunicorn") -> Server:
    port = free_port()
    log_path = os.path.join(workdir, f"{name}-{port}.log")
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "IVR_FLOWS_DIR": flows,
           "IVR_FALLBACK_NUMBER": "+16266696777", "IVR_INSTANCE_PATH": os.path.join(workdir, "instance"),
           "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    for name_ in ("IVR_FLOW", "IVR_DEV", "WEB_CONCURRENCY"):
        env.pop(name_, None)
    if tree != ROOT:  # the app's package comes from that checkout, ahead of the installed one
        env["PYTHONPATH"] = str(tree)
    cmd = server_command(kind, app, port, workers, threads, log_path)
    output = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                            start_new_session=True)
    output.close()
    server = Server(name, port, proc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {log_path}:\n{tail(log_path)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", APPS[app][2])
            status = conn.getresponse().status
            conn.close()
            if status == 200 and len(server.pids()) > workers:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"{name} did not answer within 30 s; see {log_path}")


def tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=5)


# --- Measuring --------------------------------------------------------------------------------


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


QUIET = 0.2


def wait_for_quiet(limit: float) -> float:
    """Wait (up to `limit` s) until the machine's CPUs are under QUIET busy over a second; the last share seen."""
    deadline = time.monotonic() + limit
    while True:
        before = machine_cpu()
        time.sleep(1.0)
        after = machine_cpu()
        busy = (after[0] - before[0]) / max(1, after[1] - before[1])
        if busy < QUIET or time.monotonic() >= deadline:
            return busy
        log(f"the machine is {busy:.0%} busy (other jobs); waiting for it to calm down ...")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def run_drivers(server: Server, scripts, conns: int, seed: int, *, warmup: float = 0.0, duration: float = 0.0,
                calls: int | None = None, middle: bool = False, hang_up: bool = True, rate: float | None = None,
                time_limit: float = 120.0, client: redis.Redis | None = None) -> dict:
    """Run `conns` driver processes against a server; their merged tallies plus CPU use in the window."""
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    begin = time.monotonic() + 0.3
    if calls is None:
        window = (begin + warmup, begin + warmup + duration)
        deadline = window[1]
        per_proc = [None] * conns
    else:
        window = (begin, begin + time_limit)
        deadline = window[1]
        per_proc = [calls // conns + (1 if i < calls % conns else 0) for i in range(conns)]
    procs = [ctx.Process(target=drive, args=(server.port, scripts, seed * 1000 + i, begin, window, deadline,
                                             per_proc[i], middle, hang_up, conns / rate if rate else None,
                                             results), daemon=True)
             for i in range(conns)]
    for proc in procs:
        proc.start()
    cpu = {}
    if calls is None:  # CPU used by the server, Redis and the whole machine during the window
        time.sleep(max(0.0, window[0] - time.monotonic()))
        cpu0 = (server.cpu_s(), redis_cpu(client) if client else 0.0, machine_cpu())
        time.sleep(max(0.0, window[1] - time.monotonic()))
        cpu1 = (server.cpu_s(), redis_cpu(client) if client else 0.0, machine_cpu())
        total = cpu1[2][1] - cpu0[2][1]
        cpu = {"server_cpu_s": cpu1[0] - cpu0[0], "redis_cpu_s": cpu1[1] - cpu0[1],
               "machine_busy": (cpu1[2][0] - cpu0[2][0]) / total if total else float("nan"),
               "machine_cpu_s": (cpu1[2][0] - cpu0[2][0]) / CLK_TCK}
    tallies, errors = [], []
    for _ in procs:
        try:
            kind, value = results.get(timeout=max(5.0, deadline - time.monotonic() + 15))
        except Exception:
            errors.append("a driver process did not report")
            break
        (tallies if kind == "ok" else errors).append(value)
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join()
    if errors:
        raise RuntimeError("driver failed: " + "; ".join(errors))
    merged = Tally()
    for t in tallies:
        merged.turn_ms += t.turn_ms
        merged.status_ms += t.status_ms
        for name in ("turns_done", "status_done", "requests", "calls", "bad_status", "apologies", "connects"):
            setattr(merged, name, getattr(merged, name) + getattr(t, name))
        merged.cpu_s += t.cpu_s
    return {"tally": merged, "window_s": window[1] - window[0], "cpu": cpu}


def summarise(label: str, runs: list[dict]) -> dict:
    """Figures of one server over one or more measured runs (samples pooled, rates averaged)."""
    turn_ms = sorted(x for r in runs for x in r["tally"].turn_ms)
    status_ms = sorted(x for r in runs for x in r["tally"].status_ms)
    window = sum(r["window_s"] for r in runs)
    turns = sum(r["tally"].turns_done for r in runs)
    statuses = sum(r["tally"].status_done for r in runs)
    server_cpu = sum(r["cpu"].get("server_cpu_s", 0.0) for r in runs)
    redis_s = sum(r["cpu"].get("redis_cpu_s", 0.0) for r in runs)
    driver_cpu = sum(r["tally"].cpu_s for r in runs)
    machine = sum(r["cpu"].get("machine_cpu_s", 0.0) for r in runs)
    # CPU the machine spent on anything but this server, Redis and the driver (other jobs on the box),
    # as a share of all its CPUs over the window.
    others = max(0.0, machine - server_cpu - redis_s - driver_cpu) / (window * (os.cpu_count() or 1))
    handled = turns + statuses
    return {
        "label": label,
        "turns_per_s": turns / window,
        "requests_per_s": handled / window,
        "p50_ms": percentile(turn_ms, 50),
        "p90_ms": percentile(turn_ms, 90),
        "p99_ms": percentile(turn_ms, 99),
        "max_ms": turn_ms[-1] if turn_ms else float("nan"),
        "status_p50_ms": percentile(status_ms, 50),
        "status_p99_ms": percentile(status_ms, 99),
        "turn_samples": len(turn_ms),
        "rounds_turns_per_s": [r["tally"].turns_done / r["window_s"] for r in runs],
        "rounds_p99_ms": [percentile(sorted(r["tally"].turn_ms), 99) for r in runs],
        "server_cpu_ms_per_request": 1000 * server_cpu / handled if handled else float("nan"),
        "redis_cpu_ms_per_request": 1000 * redis_s / handled if handled else float("nan"),
        "driver_cpu_ms_per_request": 1000 * driver_cpu / handled if handled else float("nan"),
        "machine_busy": sum(r["cpu"].get("machine_busy", 0.0) for r in runs) / len(runs),
        "others_busy": others,
        "calls": sum(r["tally"].calls for r in runs),
        "bad_status": sum(r["tally"].bad_status for r in runs),
        "apologies": sum(r["tally"].apologies for r in runs),
        "connections_opened": sum(r["tally"].connects for r in runs),
    }


def call_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match=CALL_KEYS, count=1000))


def delete_call_keys(client: redis.Redis) -> int:
    keys = call_keys(client)
    for i in range(0, len(keys), 500):
        client.unlink(*keys[i:i + 500])
    return len(keys)


def key_sizes(client: redis.Redis, keys: list[bytes], sample: int, rng: random.Random) -> dict:
    """MEMORY USAGE and value length over a sample of keys."""
    chosen = rng.sample(keys, min(sample, len(keys)))
    pipe = client.pipeline(transaction=False)
    for key in chosen:
        pipe.memory_usage(key, samples=0)
        pipe.strlen(key)
        pipe.pttl(key)
    replies = pipe.execute()
    usage = sorted(replies[0::3])
    lengths = sorted(replies[1::3])
    ttls = replies[2::3]
    return {
        "sampled": len(chosen),
        "memory_usage_mean": sum(usage) / len(usage) if usage else float("nan"),
        "memory_usage_p50": percentile(usage, 50),
        "memory_usage_max": usage[-1] if usage else float("nan"),
        "value_bytes_mean": sum(lengths) / len(lengths) if lengths else float("nan"),
        "value_bytes_max": lengths[-1] if lengths else float("nan"),
        "share_over_goal": sum(1 for u in usage if u >= GOAL_BYTES_PER_CALL) / len(usage) if usage else float("nan"),
        "ttl_s_min": min(ttls) / 1000 if ttls else float("nan"),
    }


def memory_phase(server: Server, scripts, client: redis.Redis, calls: int, conns: int, seed: int,
                 time_limit: float = 25.0) -> dict:
    """Drive `calls` calls (at most `time_limit` s) to the middle of their scripts, leave them live, measure Redis."""
    delete_call_keys(client)
    time.sleep(0.2)
    before = client.info("memory")["used_memory"]
    result = run_drivers(server, scripts, conns, seed, calls=calls, middle=True, hang_up=False,
                         time_limit=time_limit)
    time.sleep(0.2)
    after = client.info("memory")["used_memory"]
    keys = call_keys(client)
    sizes = key_sizes(client, keys, 300, random.Random(seed))
    # Redis is shared: other clients' keys can come and go during the drive, so also take the drop
    # when our keys go, which takes milliseconds.
    full = client.info("memory")["used_memory"]
    delete_call_keys(client)
    emptied = client.info("memory")["used_memory"]
    tally = result["tally"]
    return {
        "calls": calls,
        "live_keys": len(keys),
        "used_memory_delta": after - before,
        "used_memory_drop": full - emptied,
        "bytes_per_call": (after - before) / len(keys) if keys else float("nan"),
        "bytes_per_call_drop": (full - emptied) / len(keys) if keys else float("nan"),
        "bad_status": tally.bad_status,
        "apologies": tally.apologies,
        **sizes,
    }


# --- Where a turn's time goes, in process -----------------------------------------------------


class Timers:
    """Wall and CPU time per name, from wrappers put around the functions of one turn."""

    def __init__(self):
        self.totals: dict[str, list] = {}

    def wrap(self, name: str, fn):
        acc = self.totals.setdefault(name, [0.0, 0.0, 0])
        wall, cpu = time.perf_counter, time.thread_time

        def timed(*args, **kwargs):
            began, began_cpu = wall(), cpu()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[1] += cpu() - began_cpu
                acc[0] += wall() - began
                acc[2] += 1

        return timed

    def us(self, name: str, per: int, index: int = 0) -> float:
        """Microseconds of wall (index 0) or CPU (1) time per `per` turns."""
        return self.totals.get(name, [0.0, 0.0, 0])[index] / per * 1e6


def wsgi_post(app, host: str, path: str, body: bytes, signature: str) -> tuple[int, bytes]:
    """One POST straight into a WSGI app, as gunicorn would hand it over."""
    import io

    script_path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": script_path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": host.rsplit(":", 1)[1], "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": host, "HTTP_USER_AGENT": "TwilioProxy/1.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_TWILIO_SIGNATURE": signature, "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    status = []
    result = app(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        data = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(status[0].split(" ", 1)[0]), data


def play_in_process(app, scripts, calls: int, rng: random.Random, hang_up: bool = False,
                    samples: list[float] | None = None) -> tuple[int, int, float]:
    """Play calls through the app's WSGI callable: (turn requests, status callbacks, their seconds).

    With `samples`, each turn's wall time in ms is appended to it."""
    host = "127.0.0.1:8000"
    signer = Signer(TOKEN, verify=5)
    turns = statuses = 0
    status_s = 0.0
    for i in range(calls):
        call_sid = f"CA{rng.getrandbits(128):032x}"
        caller = f"+1555{rng.randrange(10**7):07d}"
        base, encoded = twilio_form(call_sid, caller)
        queue = list(scripts[i % len(scripts)][1])
        path, extra = "/voice", None
        for _ in range(MAX_DOCUMENTS_PER_CALL):
            form = {**base, **input_form(*extra)} if extra else base
            body = (encoded + "&" + encoded_input(*extra) if extra else encoded).encode()
            signature = signer.sign(f"http://{host}{path}", form)
            began = time.perf_counter()
            status, answer = wsgi_post(app, host, path, body, signature)
            if samples is not None:
                samples.append((time.perf_counter() - began) * 1000.0)
            turns += 1
            if status != 200 or APOLOGY_MARK.encode() in answer:
                raise RuntimeError(f"{path} answered {status}: {answer[:200]!r}")
            path, extra = follow(answer.decode("utf-8"), path, queue)
            if path is None:
                break
        if hang_up:
            form, encoded_end = twilio_form(call_sid, caller, completed=True)
            signature = signer.sign(f"http://{host}/voice/status", form)
            began = time.perf_counter()
            status, _ = wsgi_post(app, host, "/voice/status", encoded_end.encode(), signature)
            status_s += time.perf_counter() - began
            statuses += 1
    return turns, statuses, status_s


PARTS = (
    ("webhooks.body", "webhooks: read the body"),
    ("webhooks.pairs", "webhooks: parse the form (~30 fields)"),
    ("webhooks.Form", "webhooks: the Form the validator reads"),
    ("signature.public_url", "signature: rebuild the URL (signature.public_url)"),
    ("signature.check", "signature: RequestValidator.compute_signature (~30 fields, one HMAC)"),
    ("registry.check", "registry.check (flow folder scan, at most 1/s)"),
    ("store.load", "store.load (Redis GET)"),
    ("Record.unpack", "Record.unpack (zlib + json.loads + CallState)"),
    ("registry.get", "registry.get (flow lookup)"),
    ("engine.step", "engine.step"),
    ("twiml.render", "twiml.render (twilio VoiceResponse -> XML, cached per prompts)"),
    ("Record.pack", "Record.pack (json.dumps + zlib level 6)"),
    ("store.save", "store.save (Redis EVALSHA compare-and-set)"),
)


def profile_in_process(flows: str, calls: int, seed: int, top: int = 25) -> dict:
    """Time each part of a webhook turn inside one process (no gunicorn; Redis over loopback)."""
    import cProfile
    import io
    import pstats

    import ivr.telephony.signature
    import ivr.telephony.twiml
    import ivr.web.call_record
    import ivr.web.turns
    import ivr.web.webhooks
    from ivr.web.app import create_app

    workdir = tempfile.mkdtemp(prefix="ivr-bench-profile-")
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "REDIS_URL": REDIS_URL, "IVR_FLOWS_DIR": flows,
                      "IVR_FALLBACK_NUMBER": "+16266696777", "IVR_INSTANCE_PATH": workdir,
                      "PUBLIC_URL": "http://127.0.0.1:8000"})
    scripts = call_scripts()
    rng = random.Random(seed)
    play_in_process(app, scripts, len(scripts), rng)  # warm-up: every script once

    timers = Timers()
    service = app.extensions["ivr"]
    record = ivr.web.call_record.CallRecord
    targets = [
        (app, "wsgi_app", "request"), (ivr.web.webhooks, "_body", "webhooks.body"),
        (ivr.web.webhooks, "_pairs", "webhooks.pairs"), (ivr.web.webhooks, "Form", "webhooks.Form"),
        (ivr.telephony.signature, "public_url", "signature.public_url"), (ivr.telephony.signature, "check", "signature.check"),
        (service.registry, "check", "registry.check"), (service, "_turn", "_turn"), (service, "_serve", "_serve"),
        (service.store, "load", "store.load"), (service.store, "save", "store.save"),
        (service, "_flow", "registry.get"), (ivr.web.turns, "step", "engine.step"),
        (ivr.telephony.twiml, "render", "twiml.render"), (record, "pack", "Record.pack"),
    ]
    # The code may have moved on: time what is there.
    targets = [(owner, attr, name) for owner, attr, name in targets if hasattr(owner, attr)]
    originals = [(owner, attr, attr in vars(owner), vars(owner).get(attr)) for owner, attr, _ in targets]
    wrapped = [timers.wrap(name, getattr(owner, attr)) for owner, attr, name in targets]
    unpack = record.__dict__["unpack"]
    timed_unpack = classmethod(timers.wrap("Record.unpack", unpack.__func__))

    def apply() -> None:
        for (owner, attr, _), wrapper in zip(targets, wrapped):
            setattr(owner, attr, wrapper)
        record.unpack = timed_unpack

    def remove() -> None:
        record.unpack = unpack
        for owner, attr, had, value in reversed(originals):
            if had:
                setattr(owner, attr, value)
            elif attr in vars(owner):
                delattr(owner, attr)

    # Unpatched turns (wall time, garbage collector pauses) and turns with a timer around each part,
    # in alternating chunks so that a machine whose speed drifts affects both alike.
    pauses: list[float] = []
    gc_began = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            gc_began[0] = time.perf_counter()
        elif info.get("generation") == 2:
            pauses.append((time.perf_counter() - gc_began[0]) * 1000.0)

    samples: list[float] = []
    turns = 0
    chunks = 5
    try:
        for _ in range(chunks):
            gc.callbacks.append(on_gc)
            try:
                play_in_process(app, scripts, max(1, calls // chunks), rng, samples=samples)
            finally:
                gc.callbacks.remove(on_gc)
            apply()
            turns += play_in_process(app, scripts, max(1, calls // chunks), rng)[0]
            remove()
        _, statuses, status_s = play_in_process(app, scripts, max(20, calls // 4), rng, hang_up=True)
        profiler = cProfile.Profile()
        profiler.enable()
        play_in_process(app, scripts, max(20, calls // 4), rng)
        profiler.disable()
    finally:
        remove()
        delete_call_keys(redis.Redis.from_url(REDIS_URL))
    samples.sort()
    plain_us = sum(samples) / len(samples) * 1000.0

    def split(index: int) -> dict[str, float]:
        us = {name: timers.us(name, turns, index) for name in timers.totals}
        parts = {label: us.get(name, 0.0) for name, label in PARTS}
        parts["calls._serve: the rest (Record(), urls_for, effects)"] = us["_serve"] - sum(
            us[n] for n in ("store.load", "Record.unpack", "registry.get", "engine.step", "twiml.render",
                            "Record.pack", "store.save"))
        parts["calls._turn: the log line (fields, json.dumps, logger)"] = us["_turn"] - us["_serve"]
        parts["webhooks: the rest (Flask's __call__, routing, event, response)"] = us["request"] - sum(
            us.get(n, 0.0) for n in ("webhooks.body", "webhooks.pairs", "webhooks.Form", "signature.public_url",
                                     "signature.check", "registry.check", "_turn"))
        return parts

    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    return {
        "calls": calls, "turns": turns, "plain_turns": len(samples), "plain_us_per_turn": plain_us,
        "plain_p50_ms": percentile(samples, 50), "plain_p99_ms": percentile(samples, 99),
        "plain_max_ms": samples[-1], "gen2_collections": len(pauses), "gen2_max_ms": max(pauses, default=0.0),
        "timed_us_per_turn": timers.us("request", turns), "timed_cpu_us_per_turn": timers.us("request", turns, 1),
        "status_callback_us": status_s / statuses * 1e6 if statuses else float("nan"),
        "per_turn_wall_us": split(0), "per_turn_cpu_us": split(1), "cprofile": stream.getvalue(),
    }


def print_profile(result: dict) -> None:
    print(f"\nIn-process turn profile ({result['plain_turns']} plain and {result['turns']} timed turns, "
          f"{result['calls']} calls each, through the WSGI app; Redis on loopback, no gunicorn; "
          f"machine {result['busy_before']:.0%} busy before):")
    print(f"  {result['plain_us_per_turn']:.0f} us per turn plain; with the timers "
          f"{result['timed_us_per_turn']:.0f} us wall, {result['timed_cpu_us_per_turn']:.0f} us CPU; "
          f"a status callback {result['status_callback_us']:.0f} us wall")
    print(f"  unpatched turns: p50 {result['plain_p50_ms']:.2f} ms, p99 {result['plain_p99_ms']:.2f} ms, "
          f"max {result['plain_max_ms']:.1f} ms; {result['gen2_collections']} full GC collections "
          f"(longest {result['gen2_max_ms']:.1f} ms)")
    wall, cpu = result["per_turn_wall_us"], result["per_turn_cpu_us"]
    total_wall, total_cpu = sum(wall.values()), sum(cpu.values())
    plain = result["plain_us_per_turn"]
    print("  wall and CPU us as timed; '~plain us' is the wall share applied to the plain turn")
    print(f"  {'~plain us':>9} {'wall us':>8} {'share':>6} {'CPU us':>8} {'share':>6}  part of a turn")
    for label, value in sorted(wall.items(), key=lambda kv: -kv[1]):
        print(f"  {value / total_wall * plain:9.0f} {value:8.0f} {value / total_wall:6.1%} {cpu[label]:8.0f} "
              f"{cpu[label] / total_cpu:6.1%}  {label}")
    print("\ncProfile, top functions by own time (profiler overhead inflates small calls):")
    print(result["cprofile"])


# --- The run ----------------------------------------------------------------------------------


def measure_servers(servers: dict[str, Server], scripts, client, conns, warmup, duration, rounds, seed,
                 rate: float | None = None) -> dict:
    """Every server, in turn, `rounds` times: closed loop, or Poisson arrivals at `rate` requests/s."""
    runs = {name: [] for name in servers}
    how = f"paced at {rate:.0f} requests/s" if rate else "closed loop"
    for round_ in range(rounds):
        for index, name in enumerate(servers):
            log(f"  {name:6} round {round_ + 1}/{rounds}: {warmup:.1f} s warm-up + {duration:.1f} s, "
                f"{conns} connections, {how}")
            # Every server and round gets calls of its own: a CallSid seen before would be a replay.
            runs[name].append(run_drivers(servers[name], scripts, conns, seed + round_ * 100 + index,
                                          warmup=warmup, duration=duration, client=client, rate=rate))
    return {name: summarise(name, value) for name, value in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (one round, fewer calls, no gthread)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (the Procfile's default: 2)")
    parser.add_argument("--duration", type=float, help="measured seconds per server and round")
    parser.add_argument("--memory-calls", type=int, help="live calls for the memory measure")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per worker for a secondary gunicorn gthread run (default 0: skip it)")
    parser.add_argument("--servers", type=lambda text: [k for k in text.split(",") if k],
                        default=["gunicorn", "uvicorn", "granian"],
                        help=f"servers to measure the apps under, of {', '.join(SERVER_KINDS)} "
                             "(default: gunicorn,uvicorn,granian); the Procfile's must be among them")
    parser.add_argument("--paced-share", type=float, default=0.5,
                        help="the paced run offers this share of the IVR's closed-loop requests/s (default 0.5)")
    parser.add_argument("--flows", default="flows", help="IVR_FLOWS_DIR for the IVR server (default: flows)")
    parser.add_argument("--compare", type=Path, metavar="TREE",
                        help="also serve the IVR of another checkout (e.g. a git worktree of an earlier commit), "
                             "as server 'before', in the same rounds")
    parser.add_argument("--profile", action="store_true",
                        help="only time the parts of a turn in process (the WSGI app, Redis) and print a cProfile")
    parser.add_argument("--wait-idle", type=float, default=30.0,
                        help=f"wait up to this many seconds for the machine to be under {QUIET * 100:.0f}%% busy "
                             "(default 30)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rounds = 1 if args.quick else 2
    duration = args.duration or (3.0 if args.quick else 7.0)
    warmup = 1.0 if args.quick else 1.5
    memory_calls = args.memory_calls or (400 if args.quick else 2000)
    threads = 0 if args.quick else args.threads
    scripts = call_scripts()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        log(f"Redis does not answer at {REDIS_URL}: {exc}")
        return 2
    client.flushdb()
    busy_before = wait_for_quiet(args.wait_idle)
    if busy_before > QUIET:
        log(f"warning: the machine is {busy_before:.0%} busy before the run; other jobs will skew the figures")
    if args.profile:
        try:
            result = profile_in_process(args.flows, 60 if args.quick else 300, args.seed)
            result["busy_before"] = busy_before
        finally:
            client.flushdb()
            client.close()
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_profile(result)
        return 0
    began = time.monotonic()
    report: dict = {
        "code": code_version(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "redis": client.info("server")["redis_version"], "busy_before": busy_before},
        "settings": {"connections": args.connections, "workers": args.workers, "worker_class": "sync",
                     "rounds": rounds, "warmup_s": warmup, "duration_s": duration, "scripts": len(scripts),
                     "redis_url": REDIS_URL, "flows_dir": args.flows, "paced_share": args.paced_share},
    }
    servers: dict[str, Server] = {}
    workdir = tempfile.mkdtemp(prefix="ivr-bench-")
    kinds = args.servers
    primary = procfile_kind()
    report["settings"].update(servers=kinds, procfile=primary)
    try:
        log(f"starting {', '.join(kinds)}: ivr, floor and static on each ({args.workers} workers each) ...")
        for kind in kinds:
            for app in ("ivr", "floor", "static"):
                servers[f"{app}@{kind}"] = start_server(f"{app}@{kind}", app, args.workers, 1, workdir, args.flows,
                                                        kind=kind)
        if args.compare:  # the IVR of another checkout, under each server
            for kind in kinds:
                servers[f"before@{kind}"] = start_server(f"before@{kind}", "ivr", args.workers, 1, workdir,
                                                         args.flows, tree=args.compare.resolve(), kind=kind)
            report["settings"]["compare"] = str(args.compare)
        report["sync"] = measure_servers(servers, scripts, client, args.connections, warmup, duration, rounds,
                                      args.seed)
        for name in [name for name in servers if name not in (f"ivr@{primary}", f"static@{primary}")]:
            stop_server(servers.pop(name))
        rate = round(args.paced_share * report["sync"][f"ivr@{primary}"]["requests_per_s"])
        report["paced"] = measure_servers(servers, scripts, client, args.connections, 1.0, duration / 2, 1,
                                       args.seed + 30, rate=rate)
        report["paced"]["rate"] = rate
        log("  ended calls left by the load (kept until their TTL) ...")
        report["ended_call_keys"] = {"count": len(keys := call_keys(client)),
                                     **key_sizes(client, keys, 300, random.Random(args.seed))}
        log(f"  memory: {memory_calls} calls driven to mid-call and left live ...")
        report["memory"] = memory_phase(servers[f"ivr@{primary}"], scripts, client, memory_calls, args.connections,
                                        args.seed + 99)
        delete_call_keys(client)
        if threads > 1:
            for server in servers.values():
                stop_server(server)
            servers.clear()
            log(f"starting gunicorn x2 ({args.workers} gthread workers x {threads} threads each) ...")
            for app in ("ivr", "static"):
                servers[f"{app}@gthread"] = start_server(f"{app}@gthread", app, args.workers, threads, workdir,
                                                         args.flows)
            report["gthread"] = measure_servers(servers, scripts, client, args.connections, 1.0,
                                             max(3.0, duration * 5 / 7), 1, args.seed + 50)
            report["gthread"]["threads"] = threads
    except (RuntimeError, OSError) as exc:
        log(f"benchmark failed: {exc}")
        for server in servers.values():
            log(f"--- {server.name} log ---\n{tail(server.log_path)}")
        return 2
    finally:
        for server in servers.values():
            stop_server(server)
        client.flushdb()
        client.close()
    report["elapsed_s"] = round(time.monotonic() - began, 1)
    report["goals"] = goals(report)
    broken = any(block["bad_status"] or block["apologies"]
                 for k in ("sync", "paced", "gthread") if k in report
                 for block in report[k].values() if isinstance(block, dict))
    broken = broken or report["memory"]["bad_status"] or report["memory"]["apologies"]
    if args.json:
        print(json.dumps(finite(report), indent=2))
    else:
        print_report(report)
    return 2 if broken else 0


def code_version() -> dict:
    """The commit served, and how many files of the working tree differ from it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "changed_files": len(git("status", "--porcelain", "--untracked-files=no").splitlines())}


def finite(value):
    """The report with NaN as null, so that the JSON is strict."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def goals(report: dict) -> dict:
    sync, primary = report["sync"], report["settings"]["procfile"]
    ivr = sync[f"ivr@{primary}"]

    def ratio(top: str, bottom: str) -> float:
        return sync[top]["turns_per_s"] / sync[bottom]["turns_per_s"] if bottom in sync else float("nan")

    per_call = max(report["memory"]["bytes_per_call"], report["memory"]["bytes_per_call_drop"])
    usage = report["memory"]["memory_usage_mean"]
    vs_gunicorn = ratio(f"ivr@{primary}", "ivr@gunicorn")
    vs_floor = ratio(f"ivr@{primary}", f"floor@{primary}")
    return {
        "p99_ms": {"value": ivr["p99_ms"], "goal": f"<= {GOAL_P99_MS:g}", "pass": ivr["p99_ms"] <= GOAL_P99_MS},
        "vs_gunicorn": {"value": vs_gunicorn, "goal": f">= {GOAL_VS_GUNICORN:g}",
                        "pass": vs_gunicorn >= GOAL_VS_GUNICORN},
        "vs_floor": {"value": vs_floor, "goal": f">= {GOAL_VS_FLOOR:g}", "pass": vs_floor >= GOAL_VS_FLOOR},
        "bytes_per_live_call": {"value": per_call, "memory_usage": usage, "goal": f"< {GOAL_BYTES_PER_CALL}",
                                "pass": per_call < GOAL_BYTES_PER_CALL and usage < GOAL_BYTES_PER_CALL},
    }


def print_report(report: dict) -> None:
    s = report["settings"]
    print(f"IVR webhook load: {s['connections']} connections, {s['workers']} workers per server, "
          f"{s['scripts']} call scripts, {s['rounds']} round(s) of {s['duration_s']:g} s "
          f"({report['machine']['cpus']} CPUs, Python {report['machine']['python']}, "
          f"Redis {report['machine']['redis']}; machine {report['machine']['busy_before']:.0%} busy before; "
          f"code {report['code']['commit']} + {report['code']['changed_files']} changed files)")
    print("  srv/redis/drv ms: CPU per request of the gunicorn server, Redis, the driver; busy: whole machine;"
          " others: CPU of other jobs")

    def table(title: str, block: dict) -> None:
        print(f"\n{title}")
        print(f"  {'server':8}{'turns/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
              f"{'srv ms/req':>12}{'redis ms':>10}{'drv ms':>8}{'busy':>6}{'others':>7}  per-round turns/s | p99")
        for name in block:
            if not isinstance(block[name], dict):
                continue
            r = block[name]
            rounds = " ".join(f"{v:.0f}" for v in r["rounds_turns_per_s"])
            p99s = " ".join(f"{v:.1f}" for v in r["rounds_p99_ms"])
            print(f"  {name:8}{r['turns_per_s']:9.0f}{r['p50_ms']:9.2f}{r['p90_ms']:9.2f}{r['p99_ms']:9.2f}"
                  f"{r['max_ms']:9.1f}{r['server_cpu_ms_per_request']:12.2f}{r['redis_cpu_ms_per_request']:10.3f}"
                  f"{r['driver_cpu_ms_per_request']:8.2f}{r['machine_busy']:6.0%}{r['others_busy']:7.0%}"
                  f"  {rounds} | {p99s}")
        for name in block:
            if not isinstance(block[name], dict):
                continue
            r = block[name]
            print(f"  {name}: {r['calls']} calls, {r['turn_samples']} timed turns, status callbacks "
                  f"p50 {r['status_p50_ms']:.2f} / p99 {r['status_p99_ms']:.2f} ms; "
                  f"{r['bad_status']} unexpected HTTP statuses, {r['apologies']} apologies")
        ratios = []
        for name in block:
            app, _, kind = name.partition("@")
            if app == "ivr" and isinstance(block[name], dict):
                for other in (f"static@{kind}", f"floor@{kind}", "ivr@gunicorn", f"before@{kind}"):
                    if other in block and other != name:
                        ratios.append(f"{name}/{other} {block[name]['turns_per_s'] / block[other]['turns_per_s']:.2f}")
        print(f"  turns per second: {', '.join(ratios)}")

    table(f"Closed loop, every app under every server (the Procfile's: {s['procfile']}) - headline", report["sync"])
    table(f"Same servers, Poisson arrivals at {report['paced']['rate']} requests/s "
          f"({report['settings']['paced_share']:.0%} of the IVR's closed-loop rate)", report["paced"])
    if "gthread" in report:
        table(f"gthread workers, --threads {report['gthread']['threads']}", report["gthread"])
    m = report["memory"]
    print(f"\nRedis memory, {m['live_keys']} live calls at mid-script (of {m['calls']} driven):")
    print(f"  used_memory grew {m['used_memory_delta']:,} B = {m['bytes_per_call']:.0f} B per call, fell "
          f"{m['used_memory_drop']:,} B = {m['bytes_per_call_drop']:.0f} B per call when they were deleted;")
    print(f"  MEMORY USAGE mean {m['memory_usage_mean']:.0f} B, max {m['memory_usage_max']} B "
          f"(value {m['value_bytes_mean']:.0f} B mean, {m['value_bytes_max']} B max; TTL {m['ttl_s_min']:.0f} s); "
          f"{m['share_over_goal']:.1%} of {m['sampled']} sampled keys are {GOAL_BYTES_PER_CALL} B or more")
    e = report["ended_call_keys"]
    print(f"  ended calls from the load still in Redis: {e['count']} keys, MEMORY USAGE mean "
          f"{e['memory_usage_mean']:.0f} B, max {e['memory_usage_max']} B, {e['share_over_goal']:.1%} "
          f"at {GOAL_BYTES_PER_CALL} B or more (TTL {e['ttl_s_min']:.0f} s)")
    print("\nGoals:")
    g = report["goals"]
    print(f"  {'PASS' if g['p99_ms']['pass'] else 'FAIL'}  p99 of ivr@{s['procfile']} at {s['connections']} "
          f"connections: {g['p99_ms']['value']:.2f} ms (goal {g['p99_ms']['goal']} ms)")
    print(f"  {'PASS' if g['vs_gunicorn']['pass'] else 'FAIL'}  ivr@{s['procfile']}/ivr@gunicorn turns per second: "
          f"{g['vs_gunicorn']['value']:.2f} (goal {g['vs_gunicorn']['goal']})")
    print(f"  {'PASS' if g['vs_floor']['pass'] else 'FAIL'}  ivr@{s['procfile']}/floor@{s['procfile']} turns per "
          f"second: {g['vs_floor']['value']:.2f} (goal {g['vs_floor']['goal']})")
    print(f"  {'PASS' if g['bytes_per_live_call']['pass'] else 'FAIL'}  Redis per live call: "
          f"{g['bytes_per_live_call']['value']:.0f} B used_memory, {g['bytes_per_live_call']['memory_usage']:.0f} B "
          f"MEMORY USAGE (goal {g['bytes_per_live_call']['goal']} B)")
    print(f"\n({report['elapsed_s']} s)")


if __name__ == "__main__":
    sys.exit(main())
