"""Prompt templates and the filters that make answers sound right when spoken.

Templates are Jinja2 in its sandbox: admins edit flows, so a template can read
saved answers but reach nothing else. Plain text (no `{`) skips Jinja entirely,
and compiled templates are cached by source, so a turn costs a dict lookup.
"""

from __future__ import annotations

import ast
import re
from datetime import date, datetime
from functools import lru_cache

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"],
}
WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
_KEY_NAMES = {
    "en": {"*": "star", "#": "pound"},
    "es": {"*": "asterisco", "#": "numeral"},
}


def _lang(ctx) -> str:
    lang = ctx.get("lang") if ctx is not None else None
    return lang if lang in MONTHS else "en"


def ordinal(n: int) -> str:
    """English ordinal: 1st, 2nd, 3rd, 4th, 11th, 21st."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def digits_spoken(value, lang: str = "en") -> str:
    """Keys one by one: "0415" -> "0 4 1 5"."""
    names = _KEY_NAMES.get(lang, _KEY_NAMES["en"])
    return " ".join(names.get(ch, ch) for ch in str(value) if not ch.isspace())


def date_spoken(value, lang: str = "en", weekday: bool = True, year: bool = False) -> str:
    """A saved date (YYYY-MM-DD, or MMDD) as words."""
    text = str(value)
    try:
        if len(text) == 4 and text.isdigit():
            day, when = None, (int(text[:2]), int(text[2:]))
            date(2024, *when)  # a leap year: rejects 1301, 0015 and 0431 but not 0229
        else:
            day = date.fromisoformat(text)
            when = (day.month, day.day)
    except ValueError:
        return digits_spoken(text, lang)
    month_name = MONTHS.get(lang, MONTHS["en"])[when[0] - 1]
    if lang == "es":
        words = f"{when[1]} de {month_name}"
        if day is not None and weekday:
            words = f"{WEEKDAYS['es'][day.weekday()]} {words}"
        if day is not None and year:
            words = f"{words} de {day.year}"
        return words
    words = f"{month_name} {ordinal(when[1])}"
    if day is not None and weekday:
        words = f"{WEEKDAYS['en'][day.weekday()]}, {words}"
    if day is not None and year:
        words = f"{words}, {day.year}"
    return words


def time_spoken(value, lang: str = "en", meridiem: str | None = None) -> str:
    """HHMM as a clock time: "0930" -> "9:30" (plus AM/PM when given)."""
    text = str(value)
    if len(text) != 4 or not text.isdigit() or int(text[:2]) > 23 or int(text[2:]) > 59:
        return digits_spoken(text, lang)
    hour, minute = int(text[:2]), text[2:]
    clock = f"{hour}:{minute}" if minute != "00" else f"{hour}"
    if hour == 0 or hour > 12:
        meridiem = meridiem or ("am" if hour < 12 else "pm")
        hour = hour % 12 or 12
        clock = f"{hour}:{minute}" if minute != "00" else f"{hour}"
    if meridiem:
        label = str(meridiem).lower()
        if lang == "es":
            clock += " de la mañana" if label == "am" else " de la tarde"
        else:
            clock += " AM" if label == "am" else " PM"
    elif minute == "00" and lang == "en":
        clock += " o'clock"
    return clock


def opening_spoken(when: datetime, now: datetime, lang: str = "en") -> str:
    """When something opens, from `now`: "today at 8 AM", "tomorrow at 9:30 AM",
    "on Monday, November 30th, at 8 AM" (in Spanish: "mañana a las 8 de la mañana")."""
    days = (when.date() - now.astimezone(when.tzinfo).date()).days
    clock = time_spoken(f"{when.hour:02d}{when.minute:02d}", lang, "am" if when.hour < 12 else "pm")
    if lang == "es":
        at = f"a la {clock}" if when.hour % 12 == 1 else f"a las {clock}"
        day = "hoy" if days == 0 else "mañana" if days == 1 else f"el {date_spoken(when.date().isoformat(), 'es')}"
        return f"{day} {at}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    return f"on {date_spoken(when.date().isoformat(), 'en')}, at {clock}"


def phone_spoken(value, lang: str = "en") -> str:
    """A phone number in groups: "+16265550123" -> "6 2 6, 5 5 5, 0 1 2 3"."""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return digits_spoken(digits, lang)
    return ", ".join(digits_spoken(part, lang) for part in (digits[:3], digits[3:6], digits[6:]))


def hhmm24(value, meridiem=None) -> str:
    """A 12-hour HHMM and am/pm as a 24-hour HHMM: ("0130", "pm") -> "1330"; anything else unchanged."""
    text = str(value)
    if len(text) != 4 or not text.isdigit() or str(meridiem).lower() not in ("am", "pm"):
        return text
    hour = int(text[:2]) % 12 + (12 if str(meridiem).lower() == "pm" else 0)
    return f"{hour:02d}{text[2:]}"


@pass_context
def _f_digits(ctx, value):
    return digits_spoken(value, _lang(ctx))


@pass_context
def _f_date(ctx, value, weekday=True, year=False):
    return date_spoken(value, _lang(ctx), weekday=weekday, year=year)


@pass_context
def _f_time(ctx, value, meridiem=None):
    return time_spoken(value, _lang(ctx), meridiem)


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
