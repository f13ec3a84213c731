"""The flows a running server plays, reloaded when their files change.

A reload that finds errors keeps the last good flows and remembers the problems
(`file:line:col: message`) for the log and `/healthz`. Every version a process has
loaded stays available, so calls in progress finish on the version they started on;
`publish`/`fetch` hooks let a shared store carry versions between hosts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import json

from ivr.flows.loader import lint_text, load_flows
from ivr.flows.model import Flow
from ivr.flows.problems import FlowError, Problem
from ivr.flows.teams_loader import lint_teams_text

log = logging.getLogger("ivr.flows")
KEEP_VERSIONS = 64


def folder_signature(folder: Path) -> tuple:
    """What changes when any flow file in the folder changes (names, sizes, times)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries
                 if e.is_file() and e.name.endswith((".yaml", ".yml")))


class FlowRegistry:
    """Current flows by id, and every loaded version by (id, version)."""

    def __init__(self, folder: str | Path, check_every: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 publish: Callable[[str, bytes], None] | None = None,
                 fetch: Callable[[str], bytes | None] | None = None):
        self.folder = Path(folder)
        self.check_every = check_every
        self.clock = clock
        self.publish = publish
        self.fetch = fetch
        self.current: dict[str, Flow] = {}
        self.versions: OrderedDict[tuple[str, str], Flow] = OrderedDict()
        self.problems: list[Problem] = []
        self._signature: tuple = ()
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def watch(self) -> None:
        """Look for edited files every `check_every` seconds in a thread of this process, so that
        linting them never happens on a caller's turn."""
        if self._watcher is not None and self._watcher.is_alive():
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="ivr-flow-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every):
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise; the next look tries again
                log.exception("checking the flow files failed")

    def load(self) -> None:
        """First load: raises FlowError when the flows are broken (the server must not start)."""
        signature = folder_signature(self.folder)
        flows = load_flows(self.folder)
        if not flows:
            raise FlowError([Problem(str(self.folder), 1, 1, "no flow files (*.yaml) in this folder", "no-flows")])
        self._install(flows, signature)

    def _install(self, flows: dict[str, Flow], signature: tuple) -> None:
        self.current = flows
        self._signature = signature
        self.problems = []
        for flow in flows.values():
            self._remember(flow)
            if self.publish is not None:
                try:
                    self.publish(flow.version, sources_of(flow))
                except Exception:  # sharing versions is a convenience; serving goes on without it
                    log.warning("could not publish flow %s version %s", flow.id, flow.version)

    def _remember(self, flow: Flow) -> None:
        key = (flow.id, flow.version)
        self.versions[key] = flow
        self.versions.move_to_end(key)
        live = {(f.id, f.version) for f in self.current.values()}
        excess = len(self.versions) - KEEP_VERSIONS
        for old in [k for k in self.versions if k not in live][:max(0, excess)]:
            del self.versions[old]

    def check(self) -> bool:
        """Reload if the files changed since the last look (at most every `check_every` s); True if reloaded."""
        now = self.clock()
        if now - self._checked < self.check_every:
            return False
        with self._lock:
            self._checked = now
            signature = folder_signature(self.folder)
            if signature == self._signature:
                return False
            return self.reload(signature)

    def reload(self, signature: tuple | None = None) -> bool:
        """Load the folder again; on errors keep serving the last good flows."""
        signature = folder_signature(self.folder) if signature is None else signature
        try:
            flows = load_flows(self.folder)
            if not flows:
                raise FlowError([Problem(str(self.folder), 1, 1, "no flow files (*.yaml) in this folder",
                                         "no-flows")])
        except FlowError as exc:
            self._signature = signature  # do not retry the same broken files every second
            self.problems = exc.problems
            log.error("flows not reloaded; still serving the last good versions:\n%s", exc)
            return False
        self._install(flows, signature)
        log.info("flows reloaded: %s", ", ".join(f"{f.id}@{f.version}" for f in flows.values()))
        return True

    def get(self, flow_id: str, version: str | None = None) -> Flow | None:
        """A flow by id: the current one, or exactly `version` (None when it is known neither
        here nor in the store: a live call never moves to another version)."""
        if version is None:
            return self.current.get(flow_id)
        flow = self.versions.get((flow_id, version))
        if flow is None and self.fetch is not None:
            flow = self._fetched(flow_id, version)
        return flow

    def _fetched(self, flow_id: str, version: str) -> Flow | None:
        assert self.fetch is not None
        try:
            blob = self.fetch(version)
            flow = flow_from_sources(blob, f"{flow_id}@{version}") if blob is not None else None
        except Exception:
            return None
        if flow is None or flow.id != flow_id or flow.version != version:
            return None
        with self._lock:
            self._remember(flow)
        return flow


def sources_of(flow: Flow) -> bytes:
    """What rebuilds a flow version anywhere: its text and its teams file's, as JSON."""
    teams = flow.teams_file
    return json.dumps({"flow": flow.source, "teams": teams.source if teams is not None else None,
                       "teams_path": teams.path if teams is not None else None}).encode("utf-8")


def flow_from_sources(blob: bytes, path: str) -> Flow | None:
    """The flow `sources_of` describes, built again (None if it no longer builds)."""
    data = json.loads(blob)
    teams = None
    if data.get("teams") is not None:
        teams, _ = lint_teams_text(data["teams"], data.get("teams_path") or "teams.yaml")
        if teams is None:
            return None
    flow, _ = lint_text(data["flow"], path, teams)
    return flow
