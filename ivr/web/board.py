"""Where each live call is, for the desk's board: its stage, written when it changes.

A call's stage comes from the node it waits at:

- "transfer" at a transfer node (ringing);
- otherwise by region. The hub is the main menu: of the menus whose keys lead to three or more
  places, the one most other nodes lead back to (the first, from the start, on a tie). Each of its options opens a region: the nodes reachable from
  the option without passing the hub again. A node in one region only is "booking" when that
  region books a ride, else "guide"; a node several regions share (where people leave a
  message or a call-back number) is "message" when it can lead to one, else "menu"; the hub
  and everything before it are "menu" (a recording there: "message").

Stages are worked out once per flow version. A turn moves the call on the board only when
it starts, changes stage or ends, and the move goes with the turn's save (`BoardMove`), in
the same round trip: the board has no caller data, and costs the caller no wait.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ivr.flows.model import ActionNode, Flow, MenuNode, RecordNode, TransferNode, successors
from ivr.stores.protocols import BoardMove

MESSAGE_ACTIONS = frozenset({"save_voicemail", "request_callback"})
_cache: dict[tuple[str, str], dict[str, str]] = {}


def _reach(flow: Flow, start: str, avoid: str | None) -> set[str]:
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        node_id = queue.popleft()
        if node_id in seen or node_id == avoid or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        queue.extend(successors(flow.nodes[node_id]))
    return seen


def _order(flow: Flow) -> list[str]:
    seen: list[str] = []
    queue = deque([flow.start])
    while queue:
        node_id = queue.popleft()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.append(node_id)
        queue.extend(successors(flow.nodes[node_id]))
    return seen


def _fans_out(node: object) -> bool:
    return isinstance(node, MenuNode) and len({option.next for option in node.options.values()}) >= 3


def _does(node: object, actions: frozenset[str] | set[str]) -> bool:
    return isinstance(node, ActionNode) and node.action in actions


def stages(flow: Flow) -> dict[str, str]:
    """Every node's stage (see the module docstring)."""
    key = (flow.id, flow.version)
    found = _cache.get(key)
    if found is not None:
        return found
    nodes = flow.nodes
    into: dict[str, int] = {}
    for node in nodes.values():
        for target in set(successors(node)):
            into[target] = into.get(target, 0) + 1
    menus = [n for n in _order(flow) if _fans_out(nodes[n])]
    hub = max(menus, key=lambda n: into.get(n, 0), default=None)  # the first of those most led back to
    out = dict.fromkeys(nodes, "menu")
    hub_node = nodes[hub] if hub is not None else None
    if isinstance(hub_node, MenuNode):
        targets = dict.fromkeys(option.next for option in hub_node.options.values())
        regions = [_reach(flow, target, hub) for target in targets]
        for region in regions:
            books = any(_does(nodes[n], {"book_ride"}) for n in region)
            for node_id in region:
                if sum(node_id in other for other in regions) == 1:
                    out[node_id] = "booking" if books else "guide"
                elif any(_does(nodes[n], MESSAGE_ACTIONS) for n in _reach(flow, node_id, hub)):
                    out[node_id] = "message"
    for node_id, node in nodes.items():
        if isinstance(node, TransferNode):
            out[node_id] = "transfer"
        elif isinstance(node, RecordNode) and out[node_id] == "menu":
            out[node_id] = "message"
    _cache[key] = out
    return out


def stage_of(flow: Flow, node_id: str) -> str:
    """The stage of a call waiting at a node."""
    return stages(flow).get(node_id, "menu")


def move(flow: Flow, prior: Any, state: Any, at: float) -> BoardMove | None:
    """After a turn: the call's move if it started, changed stage or ended (None when it stays)."""
    if state.ended:
        return BoardMove(None, at) if prior is None or not prior.ended else None
    stage = stage_of(flow, state.node)
    if prior is None or prior.ended or stage_of(flow, prior.node) != stage:
        return BoardMove(stage, at)
    return None
