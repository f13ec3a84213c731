"""The web process as deployed: `ivr serve` (uvicorn, two workers) on a real port.

It starts only when it can serve, replaces a worker that dies, survives a broken flow file
through worker and full restarts, and keeps answering signed turns while many clients trickle
their headers or bodies a byte a second.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from twilio_sim import FLOWS, TOKEN, form, new_sid, signed_headers

pytestmark = pytest.mark.slow

START_SECONDS = 30.0
TYPO = ('"3": coordinator\n', '"3": coordinatr\n')


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """`ivr serve` in a subprocess, on the embedded store of its own instance folder."""

    def __init__(self, tmp_path: Path, flows: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"serve-{self.port}.log"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("IVR_", "TWILIO_", "RIDES_"))}
        env.pop("REDIS_URL", None)
        env.update(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL=self.base, IVR_FLOWS_DIR=str(flows),
                   IVR_INSTANCE_PATH=str(tmp_path / "instance"), IVR_FALLBACK_NUMBER="+16266696777")
        self.env = env

    def start(self) -> subprocess.CompletedProcess | None:
        """Start serving; the finished process if it refused to start."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "serve", "--host", "127.0.0.1",
                                          "--port", str(self.port), "--workers", "2"], env=self.env,
                                         stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, "", self.log.read_text())
            if self.started() >= 2 and self.healthy():
                return None
            time.sleep(0.1)
        raise AssertionError(f"not serving after {START_SECONDS} s:\n{self.log.read_text()}")

    def started(self) -> int:
        """How many workers have said they are up (respawned ones count again)."""
        return self.log.read_text(errors="replace").count("Started server process")

    def workers(self) -> list[int]:
        """The worker processes (not the supervisor's other children, such as multiprocessing's tracker)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(pid) for pid in children if b"spawn_main" in _cmdline(int(pid))]

    def healthy(self) -> bool:
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str, float]:
        """A signed webhook: status, body, seconds taken."""
        body = urlencode(data)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(self.base + path, data)}
        began = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode(), time.monotonic() - began
        finally:
            conn.close()

    def call(self) -> float:
        """A call's first two turns (language, main menu); the slower turn's seconds."""
        sid = new_sid()
        status, body, first = self.post("/voice", form(CallSid=sid))
        assert status == 200 and "For English, press 1." in body, body
        status, body, second = self.post("/voice/turn?t=0", form(CallSid=sid, Digits="1"))
        assert status == 200 and "Thank you for calling CareLine's care coordination line." in body, body
        return max(first, second)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def flows_copy(tmp_path):
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder, ignore=shutil.ignore_patterns("tests"))
    return folder


@pytest.fixture
def served(tmp_path, flows_copy):
    servers: list[Served] = []

    def serve() -> Served:
        server = Served(tmp_path, flows_copy)
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


def break_flow(folder: Path) -> None:
    path = folder / "support-line.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(*TYPO), encoding="utf-8")


def test_serve_refuses_with_one_line_when_no_good_flow_ever_existed(served, flows_copy):
    break_flow(flows_copy)
    refused = served().start()
    assert refused is not None and refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: no good version of the flows has ever been served: ")
    assert "[unknown-target]" in lines[0] and "Traceback" not in refused.stderr


def test_a_killed_worker_is_replaced_and_a_broken_file_survives_worker_and_full_restarts(served, flows_copy):
    server = served()
    assert server.start() is None
    assert server.call() < 1.0
    break_flow(flows_copy)  # an admin's typo, left on disk
    first_workers = server.workers()
    os.kill(first_workers[0], signal.SIGKILL)  # an out-of-memory kill
    try:  # the other worker answers meanwhile (a connection the killed one had queued is reset)
        server.call()
    except ConnectionError:
        assert server.call() < 1.0
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and server.started() < 3:
        time.sleep(0.1)
    assert server.started() == 3 and len(server.workers()) == 2 and first_workers[0] not in server.workers()
    assert f"Child process [{first_workers[0]}] died" in server.log.read_text()
    for _ in range(6):  # both workers, the new one included, answer on the last good version
        assert server.call() < 1.0
    server.stop()

    again = served()  # a full restart (a deploy), the typo still on disk
    assert again.start() is None
    assert again.call() < 1.0
    status, body = again.get("/healthz")
    assert status == 200 and b"unknown-target" in body


def _trickle(port: int, request: bytes, stop: threading.Event) -> None:
    """Send a request a byte a second until told to stop (or the server hangs up)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for byte in request:
                if stop.wait(1.0):
                    return
                sock.sendall(bytes([byte]))
    except OSError:
        return


def test_clients_trickling_headers_or_bodies_do_not_hold_up_signed_turns(served):
    server = served()
    assert server.start() is None
    data = form(CallSid=new_sid())
    body = urlencode(data).encode()
    slow_headers = (f"POST /voice HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n").encode() * 20
    slow_body_head = (f"POST /voice HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    stop = threading.Event()
    threads = []
    for index in range(40):
        if index % 2:  # the headers a byte a second
            target = (server.port, slow_headers, stop)
        else:  # the headers at once, then the body a byte a second
            target = (server.port, body, stop)
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(slow_body_head)
            threads.append(threading.Thread(target=_hold, args=(sock, body, stop), daemon=True))
            continue
        threads.append(threading.Thread(target=_trickle, args=target, daemon=True))
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)  # let every slow client get going
        seconds = [server.call() for _ in range(10)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert max(seconds) < 0.5, seconds


def _hold(sock: socket.socket, body: bytes, stop: threading.Event) -> None:
    with sock:
        try:
            for byte in body:
                if stop.wait(1.0):
                    return
                sock.sendall(bytes([byte]))
        except OSError:
            return
