"""Prompt templates and decide conditions: Jinja2 in its sandbox.

Admins edit flows, so a template can read saved answers but reach nothing else. Plain
text (no `{`) skips Jinja entirely, and compiled templates are cached by source, so a
turn costs a dict lookup. The spoken-formatting filters come from `speech`.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from ivr.flows.speech import MONTHS, date_spoken, digits_spoken, hhmm24, phone_spoken, time_at, time_spoken


def _lang(ctx) -> str:
    lang = ctx.get("lang") if ctx is not None else None
    return lang if lang in MONTHS else "en"


@pass_context
def _f_digits(ctx, value, group=0):
    return digits_spoken(value, _lang(ctx), group=group)


@pass_context
def _f_date(ctx, value, weekday=True, year=False):
    return date_spoken(value, _lang(ctx), weekday=weekday, year=year)


@pass_context
def _f_time(ctx, value, meridiem=None, at=False):
    return (time_at if at else time_spoken)(value, _lang(ctx), meridiem)


@pass_context
def _f_phone(ctx, value):
    return phone_spoken(value, _lang(ctx))


def _environment() -> SandboxedEnvironment:
    # An answer not saved yet reads as empty, even through `x[:2]` or `x.y`: a prompt says less,
    # the call goes on.
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False, undefined=ChainableUndefined)
    env.filters.update(spoken_digits=_f_digits, spoken_date=_f_date, spoken_time=_f_time,
                       spoken_phone=_f_phone, hhmm24=hhmm24)
    return env


ENV = _environment()


class TemplateProblem(ValueError):
    """A template that cannot be used; `line` counts within the template."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.line = line


def is_template(source: str) -> bool:
    """True when the text needs Jinja at all."""
    return "{{" in source or "{%" in source or "{#" in source


_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_LITERAL_NAMES = frozenset({"true", "false", "none", "True", "False", "None"})
_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)


class _Unsure(Exception):
    """The fast path cannot vouch for this expression: let Jinja's parser decide."""


def _quick_names(expression: str) -> set[str]:
    """Names an expression reads, for the common shapes Python and Jinja parse alike.

    Linting a large flow spends most of its time in Jinja's parser; comparisons,
    boolean logic, filters and calls over names mean the same to Python's C parser,
    so those are read with `ast` and anything else raises _Unsure.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise _Unsure from None
    names: set[str] = set()

    def visit(node) -> None:
        match node:
            case ast.Expression(body=body):
                visit(body)
            case ast.BoolOp(values=values) | ast.List(elts=values) | ast.Tuple(elts=values):
                for value in values:
                    visit(value)
            case ast.UnaryOp(op=ast.Not() | ast.USub(), operand=operand):
                visit(operand)
            case ast.Compare(left=left, ops=ops, comparators=rights) if all(isinstance(o, _COMPARISONS) for o in ops):
                for value in (left, *rights):
                    visit(value)
            case ast.BinOp(left=left, op=ast.BitOr(), right=right):
                visit(left)
                visit_filter(right)
            case ast.BinOp(left=left, op=op, right=right) if isinstance(op, _ARITHMETIC):
                visit(left)
                visit(right)
            case ast.IfExp(test=test, body=body, orelse=orelse):
                for value in (test, body, orelse):
                    visit(value)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
                names.add(name)
                for value in (*args, *(k.value for k in keywords)):
                    visit(value)
            case ast.Name(id=name):
                if name not in _LITERAL_NAMES:
                    names.add(name)
            case ast.Constant(value=value) if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                pass
            case _:
                raise _Unsure

    def visit_filter(node) -> None:
        match node:
            case ast.Name(id=name) if name in ENV.filters:
                pass
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords) if name in ENV.filters:
                for value in (*args, *(k.value for k in keywords)):
                    visit(value)
            case _:
                raise _Unsure

    visit(tree)
    return names


def _check_names(tree: nodes.Node) -> None:
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known = ENV.filters if isinstance(node, nodes.Filter) else ENV.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            raise TemplateProblem(f'no {kind} named "{node.name}"', node.lineno)


def _read_names(tree: nodes.Node) -> set[str]:
    """Names read in a parsed template, less those it assigns itself."""
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"} - stored - set(ENV.globals)


def template_names(source: str) -> set[str]:
    """Names a template reads; raises TemplateProblem if it does not compile."""
    if not is_template(source):
        return set()
    rest = _PLACEHOLDER.sub("", source)
    if "{%" not in source and "{#" not in source and "{{" not in rest and "}}" not in rest:
        try:
            return set().union(*(_quick_names(m) for m in _PLACEHOLDER.findall(source))) - set(ENV.globals)
        except _Unsure:
            pass
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
    _check_names(tree)
    return _read_names(tree)


def expression_names(source: str) -> set[str]:
    """Names a condition reads; raises TemplateProblem if it is not one expression."""
    try:
        return _quick_names(source) - set(ENV.globals)
    except _Unsure:
        pass
    try:
        parser = Parser(ENV, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError(f"unexpected {parser.stream.current.value!r} after the expression",
                                      parser.stream.current.lineno)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
    tree = nodes.Template([nodes.Output([expr])], lineno=1)
    _check_names(tree)
    return _read_names(tree)


@lru_cache(maxsize=4096)
def _template(source: str):
    return ENV.from_string(source)


@lru_cache(maxsize=1024)
def _expression(source: str):
    return ENV.compile_expression(source)


def render(source: str, context: dict[str, str]) -> str:
    """Fill a prompt template with the call's answers."""
    if not is_template(source):
        return source
    return _template(source).render(context).strip()


def evaluate(condition: str, context: dict[str, str]) -> bool:
    """Evaluate a decide condition over the call's answers."""
    return bool(_expression(condition)(**context))


def word_count(source: str) -> int:
    """Roughly how many words a prompt speaks (template tags count as one word)."""
    return len(source.split())
