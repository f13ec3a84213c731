"""Checks on a flow's graph: targets, reachability, dead ends, answers read before saved.

All passes are linear in nodes plus edges; the answer analysis keeps a set of
names per node as a bit mask and iterates to a fixed point over a work list.
"""

from __future__ import annotations

import difflib
from collections import deque

from ivr.flows.model import AskNode, HangupNode, TransferNode, saved_names, successors, waits_for_keys
from ivr.flows.problems import quoted

IDENTIFYING_VALIDATORS = frozenset({"member_id", "dob", "phone"})
ALWAYS_KNOWN = frozenset({"lang", "today", "business_days_until", "caller_id", "is_open", "team_hours"})


def _edges(nodes: dict, operator: str | None) -> dict[str, list[str]]:
    edges = {}
    for node_id, node in nodes.items():
        targets = [t for t in successors(node) if t in nodes]
        if operator is not None and operator in nodes and waits_for_keys(node):
            targets.append(operator)
        edges[node_id] = targets
    return edges


def _reachable(start: str, edges: dict[str, list[str]]) -> list[str]:
    seen = {start}
    order = [start]
    queue = deque([start])
    while queue:
        for target in edges[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                order.append(target)
                queue.append(target)
    return order


def check_graph(reader, facts, nodes: dict, start: str | None, operator: str | None) -> None:
    """Report graph problems through `reader`."""
    known = set(facts.positions)
    for where, target, what in facts.refs:
        if target not in known:
            close = difflib.get_close_matches(target, known, n=3)
            hint = f"; did you mean {quoted(close)}?" if close else ""
            reader.error(where, f'{what} goes to unknown node "{target}"{hint}', "unknown-target")
    if start is None or start not in nodes or len(nodes) < len(known):
        return  # the graph is incomplete: its other findings would only echo the errors
    edges = _edges(nodes, operator)
    order = _reachable(start, edges)
    reached = set(order)
    for node_id in nodes:
        if node_id not in reached:
            reader.warn(facts.positions[node_id], f'node "{node_id}" is unreachable from "{start}"', "unreachable",
                        "link to it or remove it")
    _check_dead_ends(reader, facts, nodes, order)
    _check_answers(reader, facts, nodes, order, edges)
    _check_whispers(reader, facts, nodes)


def _check_whispers(reader, facts, nodes: dict) -> None:
    """A coordinator is told why someone calls, never who they are: no ids or birth dates, in the whisper
    or the details; and a health answer (an ask marked sensitive) only after accepting, in the details."""
    identifying = {node.save for node in nodes.values()
                   if isinstance(node, AskNode) and node.validate in IDENTIFYING_VALIDATORS} | {"caller_id"}
    sensitive = {node.save for node in nodes.values() if isinstance(node, AskNode) and node.sensitive}
    for where, node_id, name, key in facts.whisper_reads:
        if name in identifying:
            reader.error(where, f'{key} of "{node_id}" reads "{name}", which identifies the member; '
                                'a coordinator hears only what they need to help', "phi-in-whisper")
        elif name in sensitive and key == "whisper":
            reader.error(where, f'whisper of "{node_id}" reads "{name}", a sensitive answer that a phone\'s own '
                                'voicemail could record before anyone accepts; read it under details:, which the '
                                'coordinator hears after pressing 1', "sensitive-in-whisper")


def _check_dead_ends(reader, facts, nodes: dict, order: list[str]) -> None:
    flow_edges = {n: [t for t in successors(nodes[n]) if t in nodes] for n in nodes}
    reverse: dict[str, list[str]] = {n: [] for n in nodes}
    for source, targets in flow_edges.items():
        for target in targets:
            reverse[target].append(source)
    ends = [n for n, node in nodes.items()
            if isinstance(node, (HangupNode, TransferNode)) or getattr(node, "next", "") is None]
    can_end = set(ends)
    queue = deque(ends)
    while queue:
        for source in reverse[queue.popleft()]:
            if source not in can_end:
                can_end.add(source)
                queue.append(source)
    for node_id in order:
        node = nodes[node_id]
        if getattr(node, "next", "") is None:
            reader.warn(facts.positions[node_id], f'after "{node_id}" the call just ends', "dead-end",
                        "add next: or lead to a hangup node with a goodbye")
        elif node_id not in can_end:
            reader.warn(facts.positions[node_id], f'from "{node_id}" a caller can never reach a hangup or a transfer',
                        "dead-end", "give the loop a way out")


def _check_answers(reader, facts, nodes: dict, order: list[str], edges: dict[str, list[str]]) -> None:
    bits: dict[str, int] = {}

    def mask(names) -> int:
        value = 0
        for name in names:
            value |= 1 << bits.setdefault(name, len(bits))
        return value

    saves = {n: mask(saved_names(nodes[n])) for n in order}
    avail = {n: 0 for n in order}
    queue = deque(order)
    queued = set(order)
    while queue:
        node_id = queue.popleft()
        queued.discard(node_id)
        out = avail[node_id] | saves[node_id]
        for target in edges[node_id]:
            if avail[target] | out != avail[target]:
                avail[target] |= out
                if target not in queued:
                    queued.add(target)
                    queue.append(target)
    saved_anywhere = {name for node in nodes.values() for name in saved_names(node)}
    for node_id in order:
        here = avail[node_id] | saves[node_id]
        for where, name in facts.reads.get(node_id, ()):
            if name in ALWAYS_KNOWN or name in facts.constants or (name in bits and here >> bits[name] & 1):
                continue
            if name in saved_anywhere:
                message = f'"{name}" is read in "{node_id}" but no path to it saves it first'
            else:
                close = difflib.get_close_matches(name, saved_anywhere, n=3)
                hint = f"; did you mean {quoted(close)}?" if close else ""
                message = f'"{name}" is read in "{node_id}" but no node saves it{hint}'
            reader.error(where, message, "unknown-answer")
