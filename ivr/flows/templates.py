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
MAX_PROMPT_CHARS = 4000  # Twilio speaks at most 4,096 characters in one <Say>
MAX_ANSWER_CHARS = 256  # an answer is at most this long: keys (digits only), a choice, a number, a URL
MAX_LOOP_ITEMS = 20
MAX_TIMES = 10  # the largest written number a value may be multiplied by (a string times it repeats)
_NUMBER_CHARS = 24
_HELPER_CHARS = {"team_hours": 400}  # helpers of the call's context that give text, and the most they give
# Filters whose output is bounded by their input: how many characters each may make of one.
_FILTER_GROWTH = {
    "spoken_digits": 2, "spoken_phone": 2, "spoken_date": 1, "spoken_time": 1, "hhmm24": 1,
    "lower": 1, "upper": 1, "title": 1, "capitalize": 1, "trim": 1, "string": 1, "first": 1, "last": 1,
    "e": 1, "escape": 1, "striptags": 1, "reverse": 1, "join": 1,
}
_FIXED_FILTERS = {"length": _NUMBER_CHARS, "count": _NUMBER_CHARS, "int": _NUMBER_CHARS, "float": _NUMBER_CHARS,
                  "abs": _NUMBER_CHARS, "round": _NUMBER_CHARS, "wordcount": _NUMBER_CHARS}
_SPOKEN_MIN = {"spoken_date": 48, "spoken_time": 32}  # words whatever the input


class _Unsure(Exception):
    """The fast path cannot vouch for this expression: let Jinja's parser decide."""


def _quick_names(expression: str) -> tuple[set[str], int]:
    """Names an expression reads and the most characters it can make, for the common shapes
    Python and Jinja parse alike.

    Linting a large flow spends most of its time in Jinja's parser; comparisons, boolean
    logic, filters and `.get` on a written dict over names mean the same to Python's C
    parser, so those are read with `ast` and anything else raises _Unsure. `bench.flows`
    measures lint with and without it: at 1,000 nodes it takes about 1.6x as long without.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise _Unsure from None
    names: set[str] = set()

    def visit(node) -> int:
        match node:
            case ast.Expression(body=body):
                return visit(body)
            case ast.BoolOp(values=values):
                return max(visit(value) for value in values)
            case ast.List(elts=values) | ast.Tuple(elts=values):
                return sum(visit(value) + 2 for value in values)
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                visit(operand)
                return 5
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return visit(operand) + 1
            case ast.Compare(left=left, ops=ops, comparators=rights) if all(isinstance(o, _COMPARISONS) for o in ops):
                for value in (left, *rights):
                    visit(value)
                return 5
            case ast.BinOp(left=left, op=ast.BitOr(), right=right):
                return visit_filter(right, visit(left))
            case ast.BinOp(left=left, op=ast.Add() | ast.Sub(), right=right):
                return visit(left) + visit(right)
            case ast.BinOp(left=ast.Constant(value=int() as times), op=ast.Mult(), right=other) | ast.BinOp(
                    left=other, op=ast.Mult(), right=ast.Constant(value=int() as times)) if 0 <= times <= MAX_TIMES:
                return visit(other) * max(times, 1)
            case ast.IfExp(test=test, body=body, orelse=orelse):
                visit(test)
                return max(visit(body), visit(orelse))
            case ast.Subscript(value=value, slice=ast.Slice(lower=lower, upper=upper, step=None)):
                for part in (lower, upper):
                    if part is not None:
                        visit(part)
                return visit(value)
            case ast.Call(func=ast.Attribute(value=ast.Dict() as table, attr="get"), args=args, keywords=[]):
                return max([visit(table), *(visit(arg) for arg in args)])
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name not in ENV.globals:
                names.add(name)
                for arg in args:
                    visit(arg)
                return _HELPER_CHARS.get(name, _NUMBER_CHARS)
            case ast.Dict(keys=keys, values=values) if None not in keys:
                return sum(visit(key) + visit(value) + 4 for key, value in zip(keys, values))
            case ast.Name(id=name):
                if name not in _LITERAL_NAMES:
                    names.add(name)
                return MAX_ANSWER_CHARS
            case ast.Constant(value=value) if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                return len(value) if isinstance(value, str) else _NUMBER_CHARS
            case _:
                raise _Unsure

    def visit_filter(node, inner: int) -> int:
        match node:
            case ast.Name(id=name) if name in _FIXED_FILTERS:
                return _FIXED_FILTERS[name]
            case ast.Name(id=name) if name in _FILTER_GROWTH:
                return max(_SPOKEN_MIN.get(name, 0), inner * _FILTER_GROWTH[name])
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords) if name in _FILTER_GROWTH:
                for value in (*args, *(k.value for k in keywords)):
                    visit(value)
                return max(_SPOKEN_MIN.get(name, 0), inner * _FILTER_GROWTH[name])
            case _:
                raise _Unsure

    return names, visit(tree)


_NODE_WORDS = {
    "Mul": "`*` by anything but a written number up to 10", "Pow": "`**`", "FloorDiv": "`//`", "Mod": "`%`",
    "Call": "calling one of Jinja's functions (range, lipsum, ...)", "Macro": "a macro", "CallBlock": "a call block",
    "FilterBlock": "a filter block", "Scope": "a scope block", "Include": "an include", "Import": "an import",
}


def _unbounded(node: nodes.Node, what: str) -> TemplateProblem:
    return TemplateProblem(f"{what} could make text of any length; prompts and conditions must have a length "
                           "known when the flow is linted", node.lineno)


def _bound(node: nodes.Node) -> int:
    """The most characters `node` can produce, for any answers (TemplateProblem when there is no such bound)."""
    match node:
        case nodes.Template(body=body) | nodes.Output(nodes=body):
            return sum(_bound(child) for child in body)
        case nodes.Assign(node=value):
            _bound(value)
            return 0
        case nodes.TemplateData(data=data):
            return len(data)
        case nodes.Const(value=value):
            return len(value) if isinstance(value, str) else _NUMBER_CHARS
        case nodes.Name():
            return MAX_ANSWER_CHARS
        case nodes.Getattr(node=inner) | nodes.Getitem(node=inner) | nodes.Neg(node=inner) | nodes.Pos(node=inner):
            return _bound(inner)
        case nodes.Compare(expr=first, ops=ops):
            for operand in (first, *(op.expr for op in ops)):
                _bound(operand)
            return 5  # True or False
        case nodes.Not(node=inner) | nodes.Test(node=inner):
            _bound(inner)
            return 5
        case nodes.And(left=left, right=right) | nodes.Or(left=left, right=right):
            return max(_bound(left), _bound(right))
        case nodes.Add(left=left, right=right) | nodes.Sub(left=left, right=right) | nodes.Div(left=left,
                                                                                              right=right):
            return _bound(left) + _bound(right)
        case nodes.Mul(left=nodes.Const(value=int() as times), right=other) | nodes.Mul(
                left=other, right=nodes.Const(value=int() as times)) if 0 <= times <= MAX_TIMES:
            return _bound(other) * max(times, 1)
        case nodes.Concat(nodes=parts) | nodes.List(items=parts) | nodes.Tuple(items=parts):
            return sum(_bound(part) for part in parts) + 2 * len(parts)
        case nodes.Dict(items=pairs):
            return sum(_bound(pair.key) + _bound(pair.value) + 4 for pair in pairs)
        case nodes.CondExpr(expr1=first, expr2=second):
            return max(_bound(first), _bound(second) if second is not None else 0)
        case nodes.If(body=body, elif_=elifs, else_=orelse):
            branches: list[list[nodes.Node]] = [body, orelse]
            branches.extend([branch] for branch in elifs)
            return max(sum(_bound(child) for child in branch) for branch in branches)
        case nodes.For(iter=items, body=body, else_=orelse, recursive=False):
            if not isinstance(items, (nodes.List, nodes.Tuple)) or len(items.items) > MAX_LOOP_ITEMS:
                raise _unbounded(node, f"a loop over anything but a written list of up to {MAX_LOOP_ITEMS} items")
            return len(items.items) * sum(_bound(child) for child in body) + sum(_bound(c) for c in orelse)
        case nodes.Call(node=nodes.Getattr(node=nodes.Dict() as table, attr="get"), args=args):
            return max([_bound(table), *(_bound(arg) for arg in args)])
        case nodes.Call(node=nodes.Name(name=name), args=args, kwargs=[]) if name not in ENV.globals:
            # a helper the call's context gives (business_days_until), not one of Jinja's (range)
            for arg in args:
                _bound(arg)
            return _HELPER_CHARS.get(name, _NUMBER_CHARS)
        case nodes.Filter(name=name, node=inner, args=args) if inner is not None:
            if name in _FIXED_FILTERS:
                return _FIXED_FILTERS[name]
            if name in ("default", "d"):
                return max([_bound(inner), *(_bound(arg) for arg in args)])
            if name == "replace" and len(args) >= 2 and isinstance(args[0], nodes.Const) \
                    and isinstance(args[1], nodes.Const):
                old, new = str(args[0].value), str(args[1].value)
                return _bound(inner) * max(1, -(-len(new) // max(1, len(old))))
            if name in _FILTER_GROWTH:
                return max(_SPOKEN_MIN.get(name, 0), _bound(inner) * _FILTER_GROWTH[name])
            raise _unbounded(node, f'the filter "{name}"')
    raise _unbounded(node, _NODE_WORDS.get(type(node).__name__, type(node).__name__))


def _check_length(most: int) -> None:
    if most > MAX_PROMPT_CHARS:
        raise TemplateProblem(f"this prompt could run to {most} characters; at most {MAX_PROMPT_CHARS} are spoken")


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
            found = [_quick_names(m) for m in _PLACEHOLDER.findall(source)]
        except _Unsure:
            pass
        else:
            _check_length(len(rest) + sum(most for _, most in found))
            return set().union(*(names for names, _ in found)) - set(ENV.globals)
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
    _check_names(tree)
    _check_length(_bound(tree))
    return _read_names(tree)


@lru_cache(maxsize=4096)
def names_read(source: str) -> frozenset[str]:
    """The names a (linted) template reads, remembered by source: what a turn asks of a prompt."""
    return frozenset(template_names(source))


def expression_names(source: str) -> set[str]:
    """Names a condition reads; raises TemplateProblem if it is not one expression."""
    try:
        return _quick_names(source)[0] - set(ENV.globals)
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
    _bound(tree)  # a condition may build nothing it could not print either
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
