"""Outbox throughput: ride hand-offs delivered per second, on SQLite and on Redis.

Run from the project root (a Redis server must answer on 127.0.0.1:6379; the Redis runs
use db 14 under a key prefix of their own, deleted afterwards, so nothing else there is
touched):

    .venv/bin/python -m bench.outbox            # 5000 items per run
    .venv/bin/python -m bench.outbox --quick    # 500 items per run
    .venv/bin/python -m bench.outbox --json     # the figures as JSON on stdout

A ride desk runs in a process of its own: a threaded HTTP/1.1 server on 127.0.0.1 that
answers every POST with 200 and counts requests and distinct Idempotency-Keys. For each
store, N ride items are enqueued (timed), then drained by 1 and by 4 worker threads, each
with its own Deliverer (signed POST over a keep-alive session) calling `run_once` until
nothing is pending; deliveries per second is N over the drain time. Each run checks that
every item is done and that the desk saw exactly N requests with N distinct keys (no
delivery doubled, none lost). A last run per store replaces the HTTP POST with an instant
success, to show what the store's claim + complete cost on their own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

from ivr.outbox import worker as outbox
from ivr.stores.protocols import Outbox
from ivr.stores.redis import RedisStore
from ivr.stores.sqlite import SqliteStore

REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "bench-secret"
BATCH = 20


def _desk(port_out, stop) -> None:
    """The ride desk process: 200 to every POST; GET /stats answers the counts."""
    lock = threading.Lock()
    counts = {"requests": 0}
    keys: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                counts["requests"] += 1
                keys.add(self.headers.get("Idempotency-Key", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                body = json.dumps({"requests": counts["requests"], "keys": len(keys)}).encode()
                if self.path == "/reset":
                    counts["requests"] = 0
                    keys.clear()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_address[1])
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    stop.wait()
    server.shutdown()
    server.server_close()


def _get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=5) as response:
        return json.loads(response.read())


class _Instant(outbox.Deliverer):
    """Delivers nothing: every item succeeds at once (the store's own cost)."""

    def deliver(self, item):
        return outbox.Outcome(outbox.COMPLETE, "instant")


def _drain(store: Outbox, settings: dict, workers: int, instant: bool) -> float:
    errors: list[BaseException] = []

    def work() -> None:
        deliverer = (_Instant if instant else outbox.Deliverer)(settings)
        try:
            while outbox.run_once(store, deliverer, limit=BATCH)["claimed"]:
                pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            deliverer.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


def _enqueue(store: Outbox, n: int, tag: str) -> float:
    body = json.dumps({"id": "x", "kind": "ride", "fields": {"appt_date": "2026-12-01", "appt_time": "0930"}}).encode()
    now = time.time()
    began = time.perf_counter()
    for i in range(n):
        store.enqueue(f"CAbench{tag}:{i:06d}:ride", outbox.RIDE, body, now)
    return time.perf_counter() - began


def _every_item_done(store: Outbox, n: int) -> bool:
    return len(store.outbox("done", limit=n + 1)) == n and not store.outbox("pending", limit=1)


def bench_store(name: str, make_store, base_url: str, n: int) -> list[dict]:
    settings = {"RIDES_WEBHOOK_URL": base_url + "/rides", "RIDES_WEBHOOK_SECRET": SECRET}
    results = []
    for workers, instant in [(1, False), (4, False), (4, True)]:
        store, cleanup = make_store()
        try:
            _get(base_url, "/reset")
            enqueue_s = _enqueue(store, n, uuid.uuid4().hex[:8])
            drain_s = _drain(store, settings, workers, instant)
            stats = _get(base_url, "/stats")
            ok = _every_item_done(store, n) and (instant or stats == {"requests": n, "keys": n})
            results.append({
                "store": name, "workers": workers, "delivery": "instant" if instant else "http", "items": n,
                "enqueue_per_s": round(n / enqueue_s), "items_per_s": round(n / drain_s),
                "desk_requests": stats["requests"], "desk_keys": stats["keys"], "ok": ok,
            })
        finally:
            cleanup(store)
    return results


def _sqlite():
    folder = tempfile.mkdtemp(prefix="ivr-bench-outbox-")
    path = os.path.join(folder, "ivr.sqlite3")

    def cleanup(store: SqliteStore) -> None:
        store.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        os.rmdir(folder)

    return SqliteStore(path), cleanup


def _redis():
    prefix = f"ivrbench-{uuid.uuid4().hex[:12]}"
    store = RedisStore.from_url(REDIS_URL, prefix=prefix, socket_timeout=5, connect_timeout=2)

    def cleanup(store: RedisStore) -> None:
        keys = list(store.client.scan_iter(match=f"{prefix}:*"))
        if keys:
            store.client.delete(*keys)
        store.close()

    return store, cleanup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 items per run instead of 5000")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    n = 500 if args.quick else 5000
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        print(f"Redis at {REDIS_URL} is unreachable: {exc}", file=sys.stderr)
        return 2

    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    stop = context.Event()
    desk = context.Process(target=_desk, args=(send, stop), daemon=True)
    desk.start()
    try:
        base_url = f"http://127.0.0.1:{receive.recv()}"
        results = bench_store("sqlite", _sqlite, base_url, n) + bench_store("redis", _redis, base_url, n)
    finally:
        stop.set()
        desk.join(5)

    if args.json:
        print(json.dumps({"machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
                          "results": results}, indent=2))
    else:
        print(f"outbox bench: {n} ride items per run, batches of {BATCH}, "
              f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"{'store':8}{'workers':>8}  {'delivery':9}{'enqueue/s':>10}{'items/s':>10}  desk (requests/keys)  ok")
        for row in results:
            desk_counts = f"{row['desk_requests']}/{row['desk_keys']}" if row["delivery"] == "http" else "-"
            print(f"{row['store']:8}{row['workers']:>8}  {row['delivery']:9}{row['enqueue_per_s']:>10}"
                  f"{row['items_per_s']:>10}  {desk_counts:20}  {'yes' if row['ok'] else 'NO'}")
    return 0 if all(row["ok"] for row in results) else 1


if __name__ == "__main__":
    sys.exit(main())
