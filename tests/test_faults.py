"""Faults while calls are live, through the HTTP layer with signed requests.

Redis going away and coming back, flow files broken and fixed under running calls,
two workers sharing one SQLite store, and call records the code cannot read. In
every case the caller gets valid TwiML with status 200: the call goes on, or hears
the apology and is put through to a person; it never hears an application error.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import zlib
from pathlib import Path

import pytest
from twilio_sim import (CALLER, FLOWS, MONOTONIC_START, OPEN_HOURS, Call, FakeClock, assert_apology, says, spoken,
                        record_at_the_end, stored, tags)

from ivr.web import turns
from ivr.web.call_record import CallRecord
from ivr.tools.phone import Phone

FLOW_FILE = "support-line.yaml"
TWILIO_DEADLINE = 15.0
QUICK = 3.0  # a turn during an outage must answer in well under Twilio's deadline

OLD_WELCOME = "Thank you for calling CareLine's care coordination line."
NEW_WELCOME = "Thank you for calling the family support line."
OLD_CONNECTING = "Connecting you with a care coordinator."
NEW_CONNECTING = "One moment while we find a care coordinator."
LANGUAGE_MENU = "For English, press 1. For other languages, press 3. To talk with a person, press 0."


def sid(n: int) -> str:
    return f"CA{n:032x}"


@pytest.fixture
def flows_copy(tmp_path) -> Path:
    """A private copy of flows/ that a test may edit."""
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder)
    return folder


def rewrite(path: Path, text: str, *apps) -> None:
    """Replace a flow file, moving its modification time past the one the app last saw; each app's
    watcher then looks (as its thread would within a second)."""
    before = path.stat().st_mtime
    path.write_text(text, encoding="utf-8")
    os.utime(path, (before + 10, before + 10))
    for app in apps:
        registry = app.extensions["ivr"].registry
        registry.check_every = 0
        registry.check()


def current_version(app) -> str:
    return app.extensions["ivr"].registry.current["support-line"].version


def heard(root) -> str:
    """Everything a document says, as one text."""
    return " ".join(says(root))


# -- 1. Redis goes away mid-call and comes back ----------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A private redis-server on a loopback port, with no persistence."""

    def __init__(self, executable: str, folder: Path, persistence: tuple[str, ...] = ("--appendonly", "no"),
                 port: int | None = None):
        self.executable = executable
        self.folder = folder
        self.port = port or _free_port()
        self.proc: subprocess.Popen | None = None
        self.persistence = persistence

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None
        log = self.folder / "redis.log"
        self.proc = subprocess.Popen(
            [self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *self.persistence,
             "--dir", str(self.folder), "--logfile", str(log), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace") if log.exists() else ""
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}:\n{text}")
            time.sleep(0.02)

    def pause(self) -> None:
        """Freeze the server: connections are accepted by the kernel but nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def crash(self) -> None:
        """Kill the server outright, as a power cut or an OOM kill would."""
        assert self.proc is not None
        proc, self.proc = self.proc, None
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused server would not act on SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def redis_server(tmp_path):
    """A stoppable redis-server of this test's own; skips locally, fails under CI, without one."""
    executable = shutil.which("redis-server")
    if executable is None:
        message = "redis-server is not installed"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(executable, folder)
    server.start()
    yield server
    server.stop()


def _assert_outage(client, call: Call, keys: str) -> None:
    """During an outage: the call's next turn and a new call get the apology, quickly; healthz 503."""
    assert_apology(call.press(keys))
    assert call.seconds < QUICK < TWILIO_DEADLINE
    newcomer = Call(client, sid(0xDEAD))
    assert_apology(newcomer.start())
    assert newcomer.seconds < QUICK
    began = time.perf_counter()
    assert newcomer.hang_up() == 204  # a status callback cannot save, and says nothing wrong to Twilio
    assert_apology(newcomer.send("/voice/fallback", ErrorCode="11200"))
    assert time.perf_counter() - began < 2 * QUICK
    began = time.perf_counter()
    health = client.get("/healthz")
    assert time.perf_counter() - began < QUICK
    assert health.status_code == 503
    assert health.get_json()["store"] == "not writable"


@pytest.mark.redis
@pytest.mark.slow
def test_redis_stopped_mid_call_gives_the_safe_route_and_recovers_when_it_returns(make_app, redis_server):
    app = make_app(REDIS_URL=redis_server.url)
    client = app.test_client()
    call = Call(client, sid(1))
    assert LANGUAGE_MENU in says(call.start())
    assert OLD_WELCOME in heard(call.press("1"))
    assert stored(app, call.call_sid).state.node == "main_menu"
    assert client.get("/healthz").status_code == 200

    redis_server.stop()
    _assert_outage(client, call, "3")

    redis_server.start()  # same port, empty: nothing was persisted
    after = Call(client, sid(2))
    root = after.start()
    assert LANGUAGE_MENU in says(root) and root.find("Gather") is not None
    assert OLD_WELCOME in heard(after.press("1"))
    assert stored(app, after.call_sid).state.node == "main_menu"
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["store"] == "ok"
    # The first call's state went down with the server: its next turn is the safe route, not an error.
    assert_apology(call.send("/voice/turn?t=1", Digits="3"))


@pytest.mark.redis
@pytest.mark.slow
def test_redis_hanging_mid_call_times_out_to_the_safe_route_and_the_call_survives(make_app, redis_server):
    seconds = FakeClock(MONOTONIC_START)
    app = make_app(REDIS_URL=redis_server.url, MONOTONIC=seconds)
    client = app.test_client()
    call = Call(client, sid(3))
    call.start()
    call.press("1")
    waiting_at = call.url

    redis_server.pause()
    try:
        _assert_outage(client, call, "3")
    finally:
        redis_server.resume()
    seconds.advance(turns.STORE_PAUSE_SECONDS)  # the service leaves a store that timed out alone for a moment

    # Nothing was written during the hang: the call still waits at the main menu, on the same turn.
    record = stored(app, call.call_sid)
    assert (record.state.node, record.state.turn) == ("main_menu", 1)
    root = call.send(waiting_at, Digits="3")
    assert OLD_CONNECTING in heard(root) and root.find("Dial") is not None
    assert client.get("/healthz").status_code == 200


@pytest.mark.redis
@pytest.mark.slow
def test_after_a_store_timeout_the_next_turns_get_the_apology_without_waiting(make_app, redis_server, monkeypatch):
    seconds = FakeClock(MONOTONIC_START)
    app = make_app(REDIS_URL=redis_server.url, MONOTONIC=seconds)
    client = app.test_client()
    store = app.extensions["ivr"].store
    loads = []
    real_load = store.load
    monkeypatch.setattr(store, "load", lambda sid: loads.append(sid) or real_load(sid))
    first, second = Call(client, sid(4)), Call(client, sid(5))
    first.start()

    redis_server.pause()
    try:
        assert_apology(first.press("1"))  # waits out the socket timeout once
        waited = first.seconds
        tried = len(loads)
        assert_apology(second.start())
        assert len(loads) == tried and second.seconds < waited / 2  # not asked again: no second wait
    finally:
        redis_server.resume()
    assert_apology(Call(client, sid(7)).start())  # still paused: the injected seconds have not moved
    seconds.advance(turns.STORE_PAUSE_SECONDS)
    assert LANGUAGE_MENU in says(Call(client, sid(6)).start())  # asked again, and it answers


# -- 2. Flow files broken and fixed under live calls ------------------------------------------

def test_flows_broken_then_fixed_while_calls_are_live(make_app, flows_copy, monkeypatch, caplog):
    path = flows_copy / FLOW_FILE
    good = path.read_text(encoding="utf-8")
    app = make_app(IVR_FLOWS_DIR=str(flows_copy))
    client = app.test_client()
    first_version = current_version(app)

    a = Call(client, sid(0xA))
    a.start()
    assert OLD_WELCOME in heard(a.press("1"))  # waiting at the main menu

    # A typo sends an option to a node that does not exist.
    assert good.count('"3": coordinator\n') == 1
    broken = good.replace('"3": coordinator\n', '"3": coordinatr\n')
    line_no = next(i for i, line in enumerate(broken.splitlines(), 1) if '"3": coordinatr' in line)
    col = broken.splitlines()[line_no - 1].index("coordinatr") + 1
    rewrite(path, broken, app)
    with caplog.at_level(logging.INFO, logger="ivr.flows"):
        assert "Common questions." in heard(a.press("4"))  # call A goes on
    errors = [r for r in caplog.records if r.name == "ivr.flows" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"{FLOW_FILE}:{line_no}:{col}:" in errors[0].getMessage()
    assert "[unknown-target]" in errors[0].getMessage()

    b = Call(client, sid(0xB))  # a new call gets the last good flow
    b.start()
    assert OLD_WELCOME in heard(b.press("1"))
    assert OLD_CONNECTING in heard(b.press("3"))
    assert stored(app, b.call_sid).state.flow_version == first_version

    health = client.get("/healthz")
    body = health.get_json()
    assert health.status_code == 200  # still serving the last good flows
    assert body["flows"] == {"support-line": first_version}
    assert len(body["flow_problems"]) == 1
    assert re.search(rf"{re.escape(FLOW_FILE)}:{line_no}:{col}: .*\[unknown-target\]$", body["flow_problems"][0])

    # Fixed, with a change a caller can hear.
    assert good.count(OLD_WELCOME) == 1 and good.count(OLD_CONNECTING) == 2
    rewrite(path, good.replace(OLD_WELCOME, NEW_WELCOME).replace(OLD_CONNECTING, NEW_CONNECTING), app)
    c = Call(client, sid(0xC))
    c.start()
    assert NEW_WELCOME in heard(c.press("1"))
    second_version = current_version(app)
    assert second_version != first_version
    assert stored(app, c.call_sid).state.flow_version == second_version
    assert client.get("/healthz").get_json()["flow_problems"] == []

    # Call A, begun before both edits, finishes on the version it started on.
    assert "To find out what kind of care help fits" in heard(a.press("9"))  # back to the main menu
    body = heard(a.press("3"))
    assert OLD_CONNECTING in body and NEW_CONNECTING not in body
    assert stored(app, a.call_sid).state.flow_version == first_version
    root = a.dial_done("completed")  # the coordinator took the call
    assert tags(root) == ["Hangup"] and a.url is None
    assert a.hang_up() == 204
    record = stored(app, a.call_sid)
    assert record.state.ended and record.state.flow_version == first_version
    # ...while C, on the new version, hears the new announcement.
    assert NEW_CONNECTING in heard(c.press("3"))


def test_a_call_whose_version_is_gone_hears_the_apology_and_reaches_a_person(make_app, flows_copy, caplog):
    path = flows_copy / FLOW_FILE
    good = path.read_text(encoding="utf-8")
    first = make_app(IVR_FLOWS_DIR=str(flows_copy))
    old_version = current_version(first)
    call = Call(first.test_client(), sid(0xD))
    call.start()
    call.press("1")
    assert "Medi-Cal covers rides" in heard(call.press("2"))
    assert stored(first, call.call_sid).state.node == "ride_menu"

    # The edit deletes the node the call waits at (and leads the main menu's option elsewhere).
    begin, end = good.index("  ride_menu:\n"), good.index("  ride_desk_urgent:\n")
    edited = (good[:begin] + good[end:]).replace("next: ride_menu\n", "next: ride_prepare\n")
    assert "ride_menu:" not in edited and ": ride_menu" not in edited
    rewrite(path, edited)
    second = make_app(IVR_FLOWS_DIR=str(flows_copy))  # another server process, same SQLite store
    assert current_version(second) != old_version
    # ...which cannot find the old version anywhere: its shared copy is gone (here: unreadable).
    store = second.extensions["ivr"].store
    assert store.get_value(f"flow:{old_version}") is not None
    store.put_value(f"flow:{old_version}", b"gone", 3600)

    client = second.test_client()
    with caplog.at_level(logging.INFO, logger="ivr.calls"):
        body = call.press("2", client)
    # Not on to the current version (where "2" might mean anything): the apology and a person.
    assert_apology(body)
    outcomes = [json.loads(r.getMessage()).get("outcome") for r in caplog.records if r.name == "ivr.calls"]
    assert outcomes[-1] == "flow-version-gone"
    assert stored(second, call.call_sid).state.node == "ride_menu"  # left where it was


# -- 3. Two workers sharing one SQLite store -----------------------------------------------

class TwoWorkers:
    """A test client that alternates requests between two apps, then retries each on the other."""

    def __init__(self, first, second):
        self.clients = (first.test_client(), second.test_client())
        self.served = [0, 0]
        self.requests = 0

    def post(self, path, data, headers):
        this, other = self.requests % 2, (self.requests + 1) % 2
        self.requests += 1
        response = self.clients[this].post(path, data=data, headers=headers)
        retried = self.clients[other].post(path, data=data, headers=headers)
        self.served[this] += 1
        assert retried.status_code == response.status_code
        assert retried.get_data(as_text=True) == response.get_data(as_text=True), f"retry of {path} differs"
        return response


def test_two_workers_on_one_sqlite_store_serve_alternate_turns_of_a_call(make_app, tmp_path):
    shared = str(tmp_path / "shared-instance")
    first, second = make_app(IVR_INSTANCE_PATH=shared), make_app(IVR_INSTANCE_PATH=shared)
    assert first.extensions["ivr"].store is not second.extensions["ivr"].store
    entries = ["1", "1", "2", "2", "2", "1", "2", "2", "2", "1", "1", "dial:completed"]

    expected = Phone(first.extensions["ivr"].registry.current["support-line"], now=OPEN_HOURS, caller=CALLER)
    expected.start()
    for entry in entries:
        expected.enter(entry)
    assert expected.waiting is None  # the script plays a whole call

    workers = TwoWorkers(first, second)
    phone = Call(workers)
    at_the_end = [record_at_the_end(phone, app) for app in (first, second)]
    phone.play(entries)
    assert workers.served[0] >= 6 and workers.served[1] >= 6
    assert spoken(phone.heard) == spoken(expected.heard)
    assert phone.documents_seen and all("We're sorry" not in body for body in phone.documents_seen)
    for kept in at_the_end:  # both workers read one record
        record = kept[0]
        assert record.state.ended
        assert record.state.answers == expected.state.answers
        assert record.state.answers["recommendation"] == "ecm"


# -- 4. A record the code cannot read -----------------------------------------------------

def _record_of_schema(version) -> bytes:
    """A record packed the way CallRecord.pack packs one, with the state's schema version set."""
    state = {"v": version, "f": "support-line", "fv": "0123456789ab", "l": "en", "n": "main_menu",
             "s": 0, "pe": None, "t": 0, "a": {}, "h": [], "tu": 1, "e": False, "c": "", "tr": []}
    head = json.dumps({"s": state, "a": 0}).encode()
    return zlib.compress(head + b"\0" + b"<Response><Hangup/></Response>")


def test_the_schema_record_helper_packs_as_the_service_does():
    record = CallRecord.unpack(_record_of_schema(1))
    assert (record.state.node, record.state.turn, record.twiml) == ("main_menu", 1, "<Response><Hangup/></Response>")


@pytest.mark.parametrize("blob, why", [
    pytest.param(_record_of_schema(99), "schema", id="newer-schema"),
    pytest.param(_record_of_schema(0), "schema", id="older-schema"),
    pytest.param(json.dumps({"state": {"node": "main_menu"}, "turn": 1}).encode(), "format", id="foreign-json"),
    pytest.param(b"\x00\xff garbage \xfe", "format", id="garbage"),
    pytest.param(b"", "format", id="empty"),
])
def test_an_unreadable_call_record_gets_the_apology(make_app, blob, why, caplog):
    app = make_app()
    client = app.test_client()
    call = Call(client, sid(0x99))
    call.start()
    store = app.extensions["ivr"].store
    _, version = store.load(call.call_sid)
    assert store.save(call.call_sid, blob, version, 3600)

    with caplog.at_level(logging.INFO, logger="ivr.calls"):
        assert_apology(call.send("/voice/turn?t=0", Digits="1"))
        assert_apology(call.send("/voice/turn?t=1", Digits="3"))
        assert_apology(call.start())  # the first webhook, retried
    assert call.hang_up() == 204
    assert store.load(call.call_sid)[0] == blob  # left as it was
    outcomes = [json.loads(r.getMessage()) for r in caplog.records
                if r.name == "ivr.calls" and r.levelno == logging.ERROR]
    assert [(line.get("outcome"), line.get("why")) for line in outcomes] == [("bad-record", why)] * 3


# -- 5. Records outlive a store restart ----------------------------------------------------

@pytest.mark.redis
@pytest.mark.slow
def test_records_survive_a_redis_crash_with_append_only_persistence(redis_server, tmp_path):
    from ivr.records import Voicemail, load, save
    from ivr.stores.redis import RedisStore

    redis_server.stop()
    durable = RedisServer(redis_server.executable, redis_server.folder,
                          ("--appendonly", "yes", "--appendfsync", "always"))
    durable.start()
    try:
        store = RedisStore.from_url(durable.url)
        record = Voicemail(id=f"{sid(1)}:support-line:voicemail:4:2", created_at=1_764_000_000.0,
                           team="coordinators", language="es", summary="Voice message",
                           recording_url="https://api.twilio.com/recording/RE1", duration=17)
        assert save(store, record)
        store.close()
        durable.crash()
        durable.start()
        store = RedisStore.from_url(durable.url)
        assert load(store, record.id) == record
        store.close()
    finally:
        durable.stop()


def test_records_survive_a_restart_of_the_embedded_store(make_app, tmp_path):
    from ivr.records import CallbackRequest, load, save

    first = make_app()
    record = CallbackRequest(id=f"{sid(2)}:support-line:callback:6:1", created_at=1_764_000_000.0,
                             team="coordinators", language="en", number="+16265550123")
    assert save(first.extensions["ivr"].store, record)
    first.extensions["ivr"].store.close()
    second = make_app()  # a new process would open the same file
    assert load(second.extensions["ivr"].store, record.id) == record


# -- 6. Redis Cluster ------------------------------------------------------------------------

def _cluster_port() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too."""
    for _ in range(200):
        port = random.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports for a cluster node")


@pytest.fixture
def redis_cluster(tmp_path):
    """Three private cluster nodes covering every slot; skips locally, fails under CI, without Redis."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        message = "redis-server and redis-cli are needed for a cluster"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    nodes = []
    try:
        for n in range(3):
            folder = tmp_path / f"node{n}"
            folder.mkdir()
            node = RedisServer(server, folder, ("--appendonly", "no", "--cluster-enabled", "yes",
                                                "--cluster-config-file", str(folder / "nodes.conf")),
                               port=_cluster_port())
            node.start()
            nodes.append(node)
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in nodes),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in subprocess.run([cli, "-p", str(nodes[0].port), "cluster", "info"],
                                                         capture_output=True, timeout=5).stdout:
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.1)
        yield f"redis-cluster://127.0.0.1:{nodes[0].port}/"
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.redis
@pytest.mark.slow
def test_calls_and_records_work_unchanged_on_redis_cluster(make_app, redis_cluster):
    from ivr.records import load_all

    app = make_app(REDIS_URL=redis_cluster)
    assert app.test_client().get("/healthz").status_code == 200
    for n in range(12):  # calls spread over the cluster's slots
        call = Call(app.test_client(), sid(0xC000 + n))
        assert "For English, press 1." in heard(call.start())
        assert "what kind of care help fits" in heard(call.press("1"))
    call = Call(app.test_client(), sid(0xCFFF))
    call.start()
    call.press("1")
    call.press("3")
    call.dial_done("no-answer")
    call.press("1")
    call.recorded(7, "https://api.twilio.com/recording/RE1")
    assert [r.duration for r in load_all(app.extensions["ivr"].store, "voicemail")] == [7]


@pytest.mark.redis
@pytest.mark.slow
def test_healthz_fails_when_any_cluster_primary_refuses_writes(make_app, redis_cluster):
    import redis

    app = make_app(REDIS_URL=redis_cluster)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    *_, last = app.extensions["ivr"].store.client.get_primaries()
    node = redis.Redis(host=last.host, port=last.port)
    try:
        node.config_set("min-replicas-to-write", 1)
        assert client.get("/healthz").status_code == 503
        node.config_set("min-replicas-to-write", 0)
        assert client.get("/healthz").status_code == 200
    finally:
        node.close()


# -- 7. A store that answers but takes no write ------------------------------------------------

def _refuse_writes(server: RedisServer, how: str):
    """Make the server refuse writes; returns what undoes it."""
    import redis

    admin = redis.Redis.from_url(server.url)
    if how == "too-few-replicas":
        admin.config_set("min-replicas-to-write", 1)
        return lambda: (admin.config_set("min-replicas-to-write", 0), admin.close())
    if how == "read-only-replica":
        admin.replicaof("127.0.0.1", _free_port())  # a master that is not there: reads answer, writes do not
        return lambda: (admin.replicaof("no", "one"), admin.close())
    admin.close()
    server.pause()
    return server.resume


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("how", ["too-few-replicas", "read-only-replica", "paused"])
def test_healthz_answers_503_within_its_bound_when_redis_takes_no_write(make_app, redis_server, how):
    bound = 0.4
    app = make_app(REDIS_URL=redis_server.url, HEALTH_WRITE_SECONDS=bound)
    client = app.test_client()
    call = Call(client, sid(0x7001))
    call.start()
    assert client.get("/healthz").status_code == 200
    undo = _refuse_writes(redis_server, how)
    try:
        began = time.perf_counter()
        health = client.get("/healthz")
        assert time.perf_counter() - began < bound + 0.3
        assert health.status_code == 503 and health.get_json()["store"] == "not writable"
        if how != "paused":
            assert app.extensions["ivr"].store.ping()  # it answers: only a write tells
            assert_apology(call.press("1"))  # the turn's save fails loudly: the safe route
    finally:
        undo()
    assert client.get("/healthz").status_code == 200
