"""The spoken-form filters (`speech`), and template rendering, the sandbox and name analysis (`templates`)."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from ivr.flows import templates as speech
from ivr.flows.speech import date_spoken, digits_spoken, opening_spoken, ordinal, phone_spoken, time_spoken
from ivr.flows.templates import TemplateProblem, evaluate, expression_names, render, template_names, word_count


@pytest.mark.parametrize("value, lang, spoken", [
    ("0415", "en", "0 4 1 5"),
    ("0415", "es", "0 4 1 5"),
    ("1*#", "en", "1 star pound"),
    ("1*#", "es", "1 asterisco numeral"),
    ("*", "en", "star"),
    ("#", "es", "numeral"),
    (" 1 2\t3 ", "en", "1 2 3"),
    ("", "en", ""),
    (90001, "en", "9 0 0 0 1"),
    ("12#", "fr", "1 2 pound"),
])
def test_spoken_digits(value, lang, spoken):
    assert digits_spoken(value, lang) == spoken


@pytest.mark.parametrize("n, spoken", [
    (1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (10, "10th"), (11, "11th"), (12, "12th"), (13, "13th"),
    (20, "20th"), (21, "21st"), (22, "22nd"), (23, "23rd"), (30, "30th"), (31, "31st"),
    (101, "101st"), (111, "111th"), (112, "112th"),
])
def test_ordinal(n, spoken):
    assert ordinal(n) == spoken


@pytest.mark.parametrize("value, lang, options, spoken", [
    # YYYY-MM-DD: 2027-04-15 is a Thursday
    ("2027-04-15", "en", {}, "Thursday, April 15th"),
    ("2027-04-15", "es", {}, "jueves 15 de abril"),
    ("2027-04-15", "en", {"weekday": False}, "April 15th"),
    ("2027-04-15", "es", {"weekday": False}, "15 de abril"),
    ("2027-04-15", "en", {"year": True}, "Thursday, April 15th, 2027"),
    ("2027-04-15", "es", {"year": True}, "jueves 15 de abril de 2027"),
    ("2027-04-15", "en", {"weekday": False, "year": True}, "April 15th, 2027"),
    ("2027-04-15", "es", {"weekday": False, "year": True}, "15 de abril de 2027"),
    ("2026-11-29", "es", {}, "domingo 29 de noviembre"),
    ("2026-09-16", "es", {}, "miércoles 16 de septiembre"),
    ("2026-11-28", "es", {}, "sábado 28 de noviembre"),
    ("2028-02-29", "en", {}, "Tuesday, February 29th"),
    # MMDD: no weekday and no year to speak, whatever is asked
    ("0415", "en", {}, "April 15th"),
    ("0415", "es", {}, "15 de abril"),
    ("0415", "en", {"weekday": True, "year": True}, "April 15th"),
    ("0101", "en", {}, "January 1st"),
    ("0102", "en", {}, "January 2nd"),
    ("0103", "en", {}, "January 3rd"),
    ("0104", "en", {}, "January 4th"),
    ("0111", "en", {}, "January 11th"),
    ("0112", "en", {}, "January 12th"),
    ("0113", "en", {}, "January 13th"),
    ("0121", "en", {}, "January 21st"),
    ("0122", "en", {}, "January 22nd"),
    ("0123", "en", {}, "January 23rd"),
    ("0131", "en", {}, "January 31st"),
    ("0101", "es", {}, "1 de enero"),
    ("1231", "es", {}, "31 de diciembre"),
    ("0229", "en", {}, "February 29th"),
    # not a date: read out key by key rather than guessed at
    ("1301", "en", {}, "1 3 0 1"),
    ("0015", "en", {}, "0 0 1 5"),
    ("0431", "es", {}, "0 4 3 1"),
    ("2027-02-30", "en", {}, "2 0 2 7 - 0 2 - 3 0"),
    ("04/15", "en", {}, "0 4 / 1 5"),
    ("", "en", {}, ""),
    # an unknown language falls back to English
    ("2027-04-15", "fr", {}, "Thursday, April 15th"),
])
def test_spoken_date(value, lang, options, spoken):
    assert date_spoken(value, lang, **options) == spoken


@pytest.mark.parametrize("value, lang, meridiem, spoken", [
    ("0930", "en", None, "9:30"),
    ("0930", "en", "am", "9:30 AM"),
    ("0930", "en", "pm", "9:30 PM"),
    ("0930", "en", "PM", "9:30 PM"),
    ("0930", "es", None, "9:30"),
    ("0930", "es", "am", "9:30 de la mañana"),
    ("0930", "es", "pm", "9:30 de la noche"),
    ("0900", "en", None, "9 o'clock"),
    ("0900", "es", None, "9"),
    ("0900", "en", "am", "9 AM"),
    ("1200", "en", None, "12 o'clock"),
    ("1200", "en", "pm", "12 noon"),
    ("1200", "es", "pm", "12 del mediodía"),
    ("1230", "es", "pm", "12:30 del mediodía"),
    ("1230", "en", "pm", "12:30 PM"),
    ("0630", "es", "pm", "6:30 de la tarde"),
    ("0700", "es", "pm", "7 de la noche"),
    ("0800", "es", "pm", "8 de la noche"),
    ("1200", "es", "am", "12 de la noche"),
    ("1200", "es", None, "12"),
    ("1230", "en", None, "12:30"),
    ("0105", "en", None, "1:05"),
    # a 24-hour time knows its half of the day
    ("1330", "en", None, "1:30 PM"),
    ("1330", "es", None, "1:30 de la tarde"),
    ("1300", "en", None, "1 PM"),
    ("2359", "en", None, "11:59 PM"),
    ("0000", "en", None, "12 AM"),
    ("0005", "es", None, "12:05 de la noche"),
    ("2030", "es", None, "8:30 de la noche"),
    ("1330", "en", "am", "1:30 PM"),  # the hour wins over a stale AM
    # not a time: read out key by key
    ("930", "en", None, "9 3 0"),
    ("12:00", "en", None, "1 2 : 0 0"),
    ("2400", "en", None, "2 4 0 0"),
    ("0960", "en", None, "0 9 6 0"),
])
def test_spoken_time(value, lang, meridiem, spoken):
    assert time_spoken(value, lang, meridiem) == spoken


@pytest.mark.parametrize("value, lang, spoken", [
    ("+16265550123", "en", "6 2 6, 5 5 5, 0 1 2 3"),
    ("+16265550123", "es", "6 2 6, 5 5 5, 0 1 2 3"),
    ("6265550123", "en", "6 2 6, 5 5 5, 0 1 2 3"),
    ("16265550123", "en", "6 2 6, 5 5 5, 0 1 2 3"),
    ("(626) 555-0123", "en", "6 2 6, 5 5 5, 0 1 2 3"),
    ("+442071234567", "en", "4 4 2 0 7 1 2 3 4 5 6 7"),
    ("911", "en", "9 1 1"),
    ("", "en", ""),
])
def test_spoken_phone(value, lang, spoken):
    assert phone_spoken(value, lang) == spoken


@pytest.mark.parametrize("when, lang, spoken", [
    ((2026, 11, 25, 22, 30), "en", "today at 10:30 PM"),
    ((2026, 11, 26, 8, 0), "en", "tomorrow at 8 AM"),
    ((2026, 11, 27, 9, 0), "en", "on Friday, November 27th, at 9 AM"),
    ((2026, 11, 30, 12, 0), "en", "on Monday, November 30th, at 12 noon"),
    ((2026, 11, 30, 12, 0), "es", "el lunes 30 de noviembre a las 12 del mediodía"),
    ((2026, 11, 26, 19, 0), "es", "mañana a las 7 de la noche"),
    ((2026, 11, 26, 8, 0), "es", "mañana a las 8 de la mañana"),
    ((2026, 11, 25, 21, 30), "es", "hoy a las 9:30 de la noche"),
    ((2026, 11, 30, 13, 0), "es", "el lunes 30 de noviembre a la 1 de la tarde"),
])
def test_spoken_opening(when, lang, spoken):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Los_Angeles")
    now = datetime(2026, 11, 25, 21, 0, tzinfo=zone).astimezone(ZoneInfo("UTC"))  # any zone: the day is local
    assert opening_spoken(datetime(*when, tzinfo=zone), now, lang) == spoken


@pytest.mark.parametrize("source, context, spoken", [
    ("Plain text, no template.", {"lang": "en"}, "Plain text, no template."),
    ("  untouched  ", {}, "  untouched  "),
    ("You said {{ zip | spoken_digits }}.", {"zip": "90001", "lang": "en"}, "You said 9 0 0 0 1."),
    ("{{ code | spoken_digits }}", {"code": "1*#", "lang": "en"}, "1 star pound"),
    ("{{ code | spoken_digits }}", {"code": "1*#", "lang": "es"}, "1 asterisco numeral"),
    ("{{ code | spoken_digits }}", {"code": "1*#"}, "1 star pound"),
    ("{{ code | spoken_digits }}", {"code": "1*#", "lang": "fr"}, "1 star pound"),
    ("On {{ day | spoken_date }}.", {"day": "2027-04-15", "lang": "en"}, "On Thursday, April 15th."),
    ("El {{ day | spoken_date }}.", {"day": "2027-04-15", "lang": "es"}, "El jueves 15 de abril."),
    ("{{ day | spoken_date(weekday=False, year=True) }}", {"day": "2027-04-15", "lang": "en"},
     "April 15th, 2027"),
    ("{{ day | spoken_date(False, True) }}", {"day": "2027-04-15", "lang": "es"}, "15 de abril de 2027"),
    ("{{ t | spoken_time }}", {"t": "0930", "lang": "en"}, "9:30"),
    ("{{ t | spoken_time('pm') }}", {"t": "0930", "lang": "en"}, "9:30 PM"),
    ("{{ t | spoken_time('am') }}", {"t": "0930", "lang": "es"}, "9:30 de la mañana"),
    ("{{ p | spoken_phone }}", {"p": "+16265550123", "lang": "es"}, "6 2 6, 5 5 5, 0 1 2 3"),
    ("{{ lang }}", {"lang": "es"}, "es"),
    ("{% if lang == 'es' %}Hola{% else %}Hello{% endif %}", {"lang": "es"}, "Hola"),
    ("{% if lang == 'es' %}Hola{% else %}Hello{% endif %}", {"lang": "en"}, "Hello"),
    ("{{ name | upper }}, {{ name | title }}", {"name": "ana lee"}, "ANA LEE, Ana Lee"),
    ("{{ missing }}!", {}, "!"),
    ("{{ missing | default('none') }}", {}, "none"),
    ("  {{ 'x' }}  \n", {}, "x"),
])
def test_render(source, context, spoken):
    assert render(source, context) == spoken


@pytest.mark.parametrize("source, spoken", [
    ("{{ ''.__class__ }}", ""),
    ("[{{ answer.__class__ }}]", "[]"),
    ("[{{ answer.__dict__ }}]", "[]"),
    ("[{{ answer.__globals__ }}]", "[]"),
])
def test_sandbox_hides_internal_attributes(source, spoken):
    assert render(source, {"answer": "yes"}) == spoken


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ answer.__class__.__base__ }}",
])
def test_sandbox_reads_unsafe_attributes_as_nothing(source):
    assert render(source, {"answer": "yes"}) == ""


@pytest.mark.parametrize("source, message", [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "access to attribute '__class__' of 'str' object is unsafe."),
])
def test_sandbox_refuses_to_go_further(source, message):
    with pytest.raises(SecurityError) as refused:
        render(source, {"answer": "yes"})
    assert str(refused.value) == message


def test_sandbox_refuses_huge_ranges():
    with pytest.raises(OverflowError):
        render("{{ range(10 ** 9) | list | length }}", {})


@pytest.mark.parametrize("source, names", [
    ("Plain text", set()),
    ("{ not a template }", set()),
    ("{{ a }} and {{ b | spoken_digits }}", {"a", "b"}),
    ("{{ lang }} {{ a }}", {"a", "lang"}),
    ("{{ day | spoken_date(weekday=False, year=True) }}", {"day"}),
    ("{% for x in ['one', items] %}{{ x }}{% endfor %}", {"items"}),
    ("{% set y = 1 %}{{ y }}{{ z }}", {"z"}),
    ("{% if chronic == 'yes' %}{{ a }}{% else %}{{ b }}{% endif %}", {"a", "b", "chronic"}),
    ("{{ a is defined }}", {"a"}),
    ("{{ a | default('x') | upper }}", {"a"}),
])
def test_template_names(source, names):
    assert template_names(source) == names


@pytest.mark.parametrize("source, message, line", [
    ("{{ a | nope }}", 'no filter named "nope"', 1),
    ("{{ a | spoken_digit }}", 'no filter named "spoken_digit"', 1),
    ("first line\n\n{{ a is nope }}", 'no test named "nope"', 3),
    ("{{ a", "unexpected end of template, expected 'end of print statement'.", 1),
    ("line one\n{{ a b }}", "expected token 'end of print statement', got 'b'", 2),
    ("{{ a }", "unexpected '}'", 1),
])
def test_template_names_rejects(source, message, line):
    with pytest.raises(TemplateProblem) as problem:
        template_names(source)
    assert (str(problem.value), problem.value.line) == (message, line)


BOUND = " could make text of any length; prompts and conditions must have a length known when the flow is linted"


@pytest.mark.parametrize("source, message", [
    ("{% for x in items %}{{ x }}{% endfor %}", "a loop over anything but a written list of up to 20 items" + BOUND),
    ("{{ 'ha' * 100000 }}", "`*` by anything but a written number up to 10" + BOUND),
    ("{{ a ** 99 }}", "`**`" + BOUND),
    ("{{ range(10) | join }}", "calling one of Jinja's functions (range, lipsum, ...)" + BOUND),
    ("{{ a | center(100000) }}", 'the filter "center"' + BOUND),
    ("{% macro m() %}x{% endmacro %}{{ m() }}", "a macro" + BOUND),
    ("{{ a }}" * 20, "this prompt could run to 5120 characters; at most 4000 are spoken"),
    ("{% for x in [a, b, d] %}{{ x | spoken_digits }}{{ x | spoken_digits }}{{ x }}{% endfor %}"
     "{{ c | spoken_digits }}{{ c | spoken_digits }}",
     "this prompt could run to 4864 characters; at most 4000 are spoken"),
])
def test_a_prompt_that_could_grow_without_bound_is_refused_at_lint(source, message):
    with pytest.raises(TemplateProblem) as problem:
        template_names(source)
    assert str(problem.value) == message


@pytest.mark.parametrize("condition", ["'x' * 10 ** 9 == a", "a ** 1000000 > 1"])
def test_a_condition_that_could_build_without_bound_is_refused_at_lint(condition):
    with pytest.raises(TemplateProblem, match="could make text of any length"):
        expression_names(condition)


def test_template_names_rejects_an_unclosed_block():
    with pytest.raises(TemplateProblem) as problem:
        template_names("{% if a %}yes\nno")
    message = str(problem.value)
    # Jinja lists the tags it was looking for in set order, which varies from run to run.
    assert message.startswith("Unexpected end of template. Jinja was looking for the following tags: ")
    assert sorted(message.split("tags: ")[1].split(". ")[0].split(" or ")) == ["'elif'", "'else'", "'endif'"]
    assert message.endswith(" The innermost block that needs to be closed is 'if'.")
    assert problem.value.line == 1  # where the unclosed block starts


@pytest.mark.parametrize("source, names", [
    ("a == 'yes'", {"a"}),
    ("short_term == 'yes' and chronic == 'no'", {"chronic", "short_term"}),
    ("a == 'yes' or b != 'no' or not c", {"a", "b", "c"}),
    ("lang == 'es'", {"lang"}),
    ("x in ['1', '2']", {"x"}),
    ("x | int > 3", {"x"}),
    ("a is odd", {"a"}),
    ("'yes'", set()),
])
def test_expression_names(source, names):
    assert expression_names(source) == names


@pytest.mark.parametrize("source, message, line", [
    ("a ==", "unexpected 'end of template'", 1),
    ("", "unexpected 'end of template'", 1),
    ("a\n== ", "unexpected 'end of template'", 2),
    ("a == 1 b", "unexpected 'b' after the expression", 1),
    ("a }}", "unexpected '}}' after the expression", 1),
    ("a | nope", 'no filter named "nope"', 1),
    ("a is nope", 'no test named "nope"', 1),
])
def test_expression_names_rejects(source, message, line):
    with pytest.raises(TemplateProblem) as problem:
        expression_names(source)
    assert (str(problem.value), problem.value.line) == (message, line)


def test_template_problem_is_a_value_error():
    assert issubclass(TemplateProblem, ValueError)
    assert TemplateProblem("bad").line == 1


@pytest.mark.parametrize("condition, answers, result", [
    ("chronic == 'yes'", {"chronic": "yes"}, True),
    ("chronic == 'yes'", {"chronic": "no"}, False),
    ("chronic == 'yes'", {}, False),
    ("chronic == ''", {}, False),
    ("short_term == 'yes' and chronic == 'no'", {"short_term": "yes", "chronic": "no"}, True),
    ("chronic == 'yes' or housing == 'yes'", {"chronic": "no", "housing": "yes"}, True),
    ("lang == 'es'", {"lang": "es"}, True),
    ("count | int > 3", {"count": "4"}, True),
])
def test_evaluate(condition, answers, result):
    assert evaluate(condition, answers) is result


@pytest.mark.parametrize("source, words", [
    ("", 0),
    ("one", 1),
    ("one two  three\nfour", 4),
    ("On {{ day | spoken_date }}.", 6),
])
def test_word_count(source, words):
    assert word_count(source) == words


FAST_PATH_CASES = [
    "{{ appt_date | spoken_date }}",
    "Hello {{ name }} and {{ other | spoken_digits }}.",
    "{{ appt_time | spoken_time(appt_ampm) }}",
    "{{ a if b else c }}",
    "{{ [x, y] }} {{ -n }} {{ n + m * 2 }}",
]
FAST_PATH_CONDITIONS = [
    "chronic == 'yes' or housing == 'yes'",
    "not (a == 'x') and b != 'y'",
    "business_days_until(appt_date) < notice_days | int",
    "mobility in ['wheelchair', 'stretcher']",
    "count >= 3 and count <= 5",
]


@pytest.mark.parametrize("source", FAST_PATH_CASES)
def test_fast_path_agrees_with_jinja_for_templates(source, monkeypatch):
    fast = speech.template_names(source)

    def unsure(expression):
        raise speech._Unsure

    monkeypatch.setattr(speech, "_quick_names", unsure)
    assert fast == speech.template_names(source)


@pytest.mark.parametrize("source", FAST_PATH_CONDITIONS)
def test_fast_path_agrees_with_jinja_for_conditions(source, monkeypatch):
    fast = speech.expression_names(source)

    def unsure(expression):
        raise speech._Unsure

    monkeypatch.setattr(speech, "_quick_names", unsure)
    assert fast == speech.expression_names(source)


@pytest.mark.parametrize("value, lang, meridiem, spoken", [
    ("0930", "en", "am", "at 9:30 AM"),
    ("0930", "es", "am", "a las 9:30 de la mañana"),
    ("0100", "es", "pm", "a la 1 de la tarde"),
    ("1315", "es", None, "a la 1:15 de la tarde"),
    ("0100", "es", None, "a la 1"),
    ("1200", "es", "pm", "a las 12 del mediodía"),
    ("2000", "es", None, "a las 8 de la noche"),
])
def test_time_after_at(value, lang, meridiem, spoken):
    from ivr.flows.speech import time_at

    assert time_at(value, lang, meridiem) == spoken


@pytest.mark.parametrize("validator, value, lang, spoken", [
    ("member_id", "12345678", "en", "1 2 3 4, 5 6 7 8"),
    ("member_id", "1234567890", "es", "1 2 3 4, 5 6 7 8, 9 0"),
    ("ca_zip", "90012", "en", "9 0 0 1 2"),
    ("future_date_mmdd", "2026-12-10", "en", "Thursday, December 10th"),
    ("future_date_mmdd", "2027-12-01", "en", "Wednesday, December 1st, 2027. That is next year"),
    ("future_date_mmdd", "2027-12-01", "es", "miércoles 1 de diciembre de 2027. Es el año que viene"),
    ("time_hhmm", "1330", "en", "1:30 PM"),
    ("time_hhmm", "0930", "en", "9:30"),
])
def test_readback_groups_long_entries_and_says_a_later_year(validator, value, lang, spoken):
    from datetime import date

    from ivr.flows.speech import readback

    assert readback(validator, value, lang, date(2026, 12, 2)) == spoken


def _week(**days):
    from datetime import time

    index = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
    return {index[d]: tuple((time(a), time.max if b == 24 else time(b)) for a, b in spans)
            for d, spans in days.items()}


OFFICE = _week(mon=[(8, 18)], tue=[(8, 18)], wed=[(8, 18)], thu=[(8, 18)], fri=[(8, 18)], sat=[(9, 13)])


@pytest.mark.parametrize("hours, lang, spoken", [
    (OFFICE, "en", "Monday to Friday, from 8 AM to 6 PM, and on Saturdays, from 9 AM to 1 PM"),
    (OFFICE, "es", "de lunes a viernes, de 8 de la mañana a 6 de la tarde, y los sábados, "
                   "de 9 de la mañana a la 1 de la tarde"),
    (_week(mon=[(7, 19)], tue=[(7, 19)], wed=[(7, 19)], thu=[(7, 19)], fri=[(7, 19)]), "es",
     "de lunes a viernes, de 7 de la mañana a 7 de la noche"),
    (_week(mon=[(9, 12), (13, 17)]), "en", "on Mondays, from 9 AM to 12 noon and from 1 PM to 5 PM"),
    (_week(mon=[(13, 24)]), "es", "los lunes, de la 1 de la tarde a la medianoche"),
    (_week(mon=[(8, 12)], wed=[(8, 12)]), "en", "on Mondays, from 8 AM to 12 noon, and on Wednesdays, from 8 AM to 12 noon"),
    (None, "en", "every day, at any hour"),
])
def test_weekly_hours_spoken(hours, lang, spoken):
    from ivr.flows.speech import hours_spoken

    assert hours_spoken(hours, lang) == spoken
