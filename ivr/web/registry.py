"""The flows a running server plays, reloaded when their files change, and never lost to a bad edit.

A reload that finds errors keeps the last good flows and remembers the problems
(`file:line:col: message`, one log line each) for `/healthz`. The last good version of
every flow, with its teams data, is kept in the store without expiry, so a process that
starts (a worker replaced, a full restart) while the files on disk are broken serves it
instead of refusing to start; only when no good version has ever existed does start-up fail.

Every version a process loaded stays available, and each is published to the store with
both texts (`flow:<version>`), so a host that never read a version rebuilds exactly what a
call started on. The watcher (`watch`, one thread per process) lints edited files off the
callers' path and republishes the versions calls used lately, so none expires under a call.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from ivr.flows.loader import lint_text, load_flows
from ivr.flows.model import Flow
from ivr.flows.problems import FlowError, Problem
from ivr.flows.teams_loader import lint_teams_text
from ivr.stores.protocols import SharedValues, StoreUnavailable

log = logging.getLogger("ivr.flows")
KEEP_VERSIONS = 64
SOURCE_TTL = 7 * 24 * 3600  # a published version outlives any call on it (calls live 4 hours)
REPUBLISH_SECONDS = 60.0  # how often the watcher renews the versions calls used
IN_USE_SECONDS = 4 * 3600 + 600  # a version used this recently may still have a live call
LAST_GOOD = "flows:last-good"


def folder_signature(folder: Path) -> tuple:
    """What changes when any flow file in the folder changes (names, sizes, times)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return ()
    return tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries
                 if e.is_file() and e.name.endswith((".yaml", ".yml")))


def _no_flows(folder: Path) -> FlowError:
    return FlowError([Problem(str(folder), 1, 1, "no flow files (*.yaml) in this folder", "no-flows")])


class FlowRegistry:
    """Current flows by id, and every loaded version by (id, version)."""

    def __init__(self, folder: str | Path, shared: SharedValues | None = None, check_every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.folder = Path(folder)
        self.shared = shared
        self.check_every = check_every
        self.clock = clock
        self.current: dict[str, Flow] = {}
        self.versions: OrderedDict[tuple[str, str], Flow] = OrderedDict()
        self.used: dict[str, float] = {}  # version -> when a turn last asked for it (clock seconds)
        self.problems: list[Problem] = []
        self._signature: tuple = ()
        self._checked = float("-inf")
        self._republished = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        """First load. Broken files fall back to the last good versions kept in the store; FlowError
        only when there are none (the server must not start on nothing)."""
        signature = folder_signature(self.folder)
        try:
            flows = load_flows(self.folder)
            if not flows:
                raise _no_flows(self.folder)
        except FlowError as exc:
            kept = self._last_good()
            if not kept:
                raise
            self._broken(exc, signature)
            self.current = kept
            for flow in kept.values():
                self._remember(flow)
            log.warning("the flow files have errors; serving the last good versions: %s",
                        ", ".join(f"{f.id}@{f.version}" for f in kept.values()))
            return
        self._install(flows, signature)

    def reload(self, signature: tuple | None = None) -> bool:
        """Load the folder again; on errors keep serving the last good flows."""
        signature = folder_signature(self.folder) if signature is None else signature
        try:
            flows = load_flows(self.folder)
            if not flows:
                raise _no_flows(self.folder)
        except FlowError as exc:
            self._broken(exc, signature)
            log.warning("flows not reloaded; still serving the last good versions: %s",
                        ", ".join(f"{f.id}@{f.version}" for f in self.current.values()))
            return False
        self._install(flows, signature)
        log.info("flows reloaded: %s", ", ".join(f"{f.id}@{f.version}" for f in flows.values()))
        return True

    def _broken(self, exc: FlowError, signature: tuple) -> None:
        self._signature = signature  # do not retry the same broken files every second
        self.problems = exc.problems
        for problem in exc.problems:
            log.error("%s", problem)

    def _install(self, flows: dict[str, Flow], signature: tuple) -> None:
        self.current = flows
        self._signature = signature
        self.problems = []
        for flow in flows.values():
            self._remember(flow)
            self._publish(flow)
        self._keep_last_good(flows)

    def _remember(self, flow: Flow) -> None:
        key = (flow.id, flow.version)
        self.versions[key] = flow
        self.versions.move_to_end(key)
        live = {(f.id, f.version) for f in self.current.values()}
        excess = len(self.versions) - KEEP_VERSIONS
        for old in [k for k in self.versions if k not in live][:max(0, excess)]:
            del self.versions[old]

    # -- the store: published versions, the last good ones ----------------------------------
    def _publish(self, flow: Flow) -> None:
        if self.shared is None:
            return
        try:
            self.shared.put_value(f"flow:{flow.version}", sources_of(flow), SOURCE_TTL)
        except StoreUnavailable:  # serving goes on; the watcher publishes again
            log.warning("could not publish flow %s version %s", flow.id, flow.version)

    def _keep_last_good(self, flows: dict[str, Flow]) -> None:
        if self.shared is None:
            return
        blob = json.dumps({flow.id: json.loads(sources_of(flow)) for flow in flows.values()}).encode("utf-8")
        try:
            self.shared.put_value(LAST_GOOD, blob, None)
        except StoreUnavailable:
            log.warning("could not keep the last good flows in the store")

    def _last_good(self) -> dict[str, Flow]:
        if self.shared is None:
            return {}
        try:
            blob = self.shared.get_value(LAST_GOOD)
        except StoreUnavailable:
            log.error("the store cannot be read for the last good flows")
            return {}
        try:
            entries = json.loads(blob) if blob else {}
        except ValueError:
            log.error("the last good flows kept in the store are unreadable")
            return {}
        kept: dict[str, Flow] = {}
        for flow_id, sources in entries.items():
            flow = flow_from_sources(json.dumps(sources).encode("utf-8"), f"{flow_id}@last-good")
            if flow is not None and flow.id == flow_id:
                kept[flow_id] = flow
        return kept

    # -- watching -----------------------------------------------------------------------------
    def check(self) -> bool:
        """Reload if the files changed since the last look (at most every `check_every` s); True if reloaded."""
        now = self.clock()
        if now - self._checked < self.check_every:
            return False
        with self._lock:
            self._checked = now
            if now - self._republished >= REPUBLISH_SECONDS:
                self._republished = now
                self.republish(now)
            signature = folder_signature(self.folder)
            if signature == self._signature:
                return False
            return self.reload(signature)

    def republish(self, now: float) -> None:
        """Renew in the store the current versions and those a turn used lately."""
        for version, flow in ((f.version, f) for f in self.current.values()):
            self.used.setdefault(version, now)
        for (flow_id, version), flow in list(self.versions.items()):
            used = self.used.get(version)
            if used is not None and now - used <= IN_USE_SECONDS:
                self._publish(flow)
            elif used is not None:
                del self.used[version]

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

    # -- serving ------------------------------------------------------------------------------
    def get(self, flow_id: str, version: str | None = None) -> Flow | None:
        """A flow by id: the current one, or exactly `version` (None when it is known neither
        here nor in the store: a live call never moves to another version)."""
        if version is None:
            return self.current.get(flow_id)
        self.used[version] = self.clock()
        flow = self.versions.get((flow_id, version))
        if flow is None and self.shared is not None:
            flow = self._fetched(flow_id, version)
        return flow

    def _fetched(self, flow_id: str, version: str) -> Flow | None:
        assert self.shared is not None
        try:
            blob = self.shared.get_value(f"flow:{version}")
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
