"""A flow drawn as a Mermaid flowchart."""

from __future__ import annotations

from ivr.flows.model import (ActionNode, AskNode, DecideNode, Flow, HangupNode, MenuNode, RecordNode, SayNode,
                             TransferNode, waits_for_keys)


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")


def _shape(node) -> str:
    title = f"{node.id}<br/>{node.kind}"
    match node:
        case DecideNode():
            return '{"%s"}' % _label(title)
        case MenuNode() | AskNode():
            return '[/"%s"/]' % _label(title)
        case HangupNode():
            return '(["%s"])' % _label(title)
        case TransferNode():
            return '[["%s: %s"]]' % (_label(title), node.team)
        case _:
            return '["%s"]' % _label(title)


def _edges(node) -> list[tuple[str, str]]:
    match node:
        case MenuNode():
            edges = [(f"press {opt.key}", opt.next) for opt in node.options.values()]
        case DecideNode():
            edges = [(b.when, b.next) for b in node.branches] + [("otherwise", node.default)]
        case TransferNode():
            edges = ([("no answer", node.no_answer)] if node.no_answer else []) + \
                ([("closed", node.closed)] if node.closed else [])
        case RecordNode():
            edges = ([("", node.next)] if node.next else []) + ([("nothing recorded", node.silent)] if node.silent else [])
        case SayNode() | AskNode() | ActionNode():
            edges = [("", node.next)] if node.next else []
        case _:
            edges = []
    wait = getattr(node, "wait", None)
    if wait is not None and wait.on_fail and waits_for_keys(node):  # a one-part read-out never waits: no tries
        edges.append(("too many tries", wait.on_fail))
    return edges


def mermaid(flow: Flow) -> str:
    """Mermaid source for a flow."""
    ids = {node_id: f"n{i}" for i, node_id in enumerate(flow.nodes)}
    lines = ["flowchart TD", f'    start((start)) --> {ids[flow.start]}']
    for node_id, node in flow.nodes.items():
        lines.append(f"    {ids[node_id]}{_shape(node)}")
    for node_id, node in flow.nodes.items():
        for label, target in _edges(node):
            arrow = f'-->|"{_label(label)}"|' if label else "-->"
            lines.append(f"    {ids[node_id]} {arrow} {ids[target]}")
    return "\n".join(lines) + "\n"
