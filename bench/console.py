"""The desk's pages with 1,000 open records: server time per page, on SQLite and on Redis.

Run from the project root:

    .venv/bin/python -m bench.console            # 1,000 open records, 200 requests per page
    .venv/bin/python -m bench.console --quick    # 50 requests per page
    .venv/bin/python -m bench.console --redis redis://127.0.0.1:6379/14   # Redis too (a prefix of its own)

The app is the real one (`create_app` on the shipped flows) with a signed-in coordinator of the
team that holds every record: 1,000 open records (voicemails, call-back and ride requests, a
tenth claimed, a tenth tried) and 200 done ones. Each page is requested through the WSGI app
in this process, so the time is the server's own: routing, the session, the store, the
templates, the audit write of a record view. The goal is a page under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ivr import records as rec
from ivr.console import accounts
from ivr.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
OPEN, DONE = 1000, 200
PASSWORD = "bench password long enough"
GOAL_MS = 50.0
NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def _fill(store, count: int, done: int) -> list[str]:
    start = NOW.timestamp() - 7 * 86400
    refs = []
    for i in range(count + done):
        at = start + i * 60
        sid = f"CA{i:032x}"
        kind = ("voicemail", "callback", "ride")[i % 3]
        if kind == "voicemail":
            record: rec.Record = rec.Voicemail(id=f"{sid}:vm", created_at=at, team="coordinators", language="en",
                                               summary="Voice message; decision guide: ecm.", number="+16265550199",
                                               recording_url="https://api.twilio.com/2010-04-01/Accounts/AC0/"
                                                             f"Recordings/RE{i:032x}", duration=30)
        elif kind == "callback":
            record = rec.CallbackRequest(id=f"{sid}:cb", created_at=at, team="coordinators", language="es",
                                         summary="Call back; decision guide: not taken.", number="+16265550100")
        else:
            record = rec.RideRequest(id=f"{sid}:ride", created_at=at, team="coordinators", language="en",
                                     summary="Ride booked by phone: wheelchair.",
                                     fields={"callback": "+16265550100", "appt_date": "2026-12-01"})
        rec.save(store, record)
        item = store.work_item(record.id)
        if i >= count:
            rec.close(store, item, "ana", at + 30, "done")
        elif i % 10 == 1:
            rec.claim(store, item, "ana", at + 30)
        elif i % 10 == 2:
            rec.tried(store, item, "ana", at + 30)
        refs.append(item.ref)
    return refs


def _time(client, path: str, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path, base_url="https://localhost")
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    return {"median_ms": round(statistics.median(samples), 2), "p95_ms": round(p95, 2)}


def bench(store_url: str | None, runs: int) -> dict[str, dict[str, float]]:
    folder = tempfile.mkdtemp(prefix="ivr-bench-console-")
    app = create_app({"TWILIO_AUTH_TOKEN": "bench", "PUBLIC_URL": "https://localhost", "REDIS_URL": "",
                      "IVR_FLOWS_DIR": str(ROOT / "flows"), "IVR_INSTANCE_PATH": folder,
                      "SECRET_KEY": "bench-" + "0" * 32, "CLOCK": lambda: NOW, "IVR_FALLBACK_NUMBER": "+16266696777"})
    service, desk = app.extensions["ivr"], app.extensions["ivr.console"]
    prefix = None
    if store_url:
        from ivr.stores.redis import RedisStore

        prefix = f"ivrbench-{uuid.uuid4().hex}"
        service.store = desk.store = RedisStore.from_url(store_url, prefix=prefix)
    store = desk.store
    try:
        refs = _fill(store, OPEN, DONE)  # read at call time, so a test can make them fewer
        store.add_account(accounts.new_account("ana", PASSWORD, ["coordinator"], teams=["coordinators"],
                                               member="Ana Rivera", at=0.0))
        client = app.test_client()
        page = client.get("/console/login", base_url="https://localhost").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/console/login", data={"csrf_token": token, "username": "ana", "password": PASSWORD},
                    base_url="https://localhost", headers={"Referer": "https://localhost/console/login"})
        shown = client.get("/console/worklist", base_url="https://localhost").get_data(as_text=True)
        assert shown.count("data-ref=") == min(100, OPEN) and f'<span data-count="open">{OPEN}</span>' in shown
        pages = {"worklist (100 oldest of 1,000 open)": "/console/worklist",
                 "worklist, voicemails only": "/console/worklist?kind=voicemail",
                 "a record (audited)": f"/console/records/{refs[OPEN // 2]}",
                 "board": "/console/board", "board refresh": "/console/board/live"}
        return {name: _time(client, path, runs) for name, path in pages.items()}
    finally:
        if prefix is not None:
            keys = list(store.client.scan_iter(match=f"{prefix}:*"))
            if keys:
                store.client.delete(*keys)
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 requests per page")
    parser.add_argument("--redis", metavar="URL", help="also measure on this Redis (keys under a prefix of their own)")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args()
    runs = 50 if args.quick else 200
    results = {"sqlite": bench(None, runs)}
    if args.redis:
        results["redis"] = bench(args.redis, runs)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for backend, figures in results.items():
        print(f"{backend}: {OPEN} open and {DONE} done records, {runs} requests per page")
        print(f"  {'page':40} {'median ms':>10} {'p95 ms':>8}")
        for name, row in figures.items():
            flag = "" if row["p95_ms"] < GOAL_MS else "  over the 50 ms goal"
            print(f"  {name:40} {row['median_ms']:>10} {row['p95_ms']:>8}{flag}")


if __name__ == "__main__":
    main()
