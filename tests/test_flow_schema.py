"""The JSON Schemas editors use for flow files and the teams file: valid, shipped, accepting what the linters
load, rejecting shapes the linters reject, and naming the same kinds, keys and built-in names as the code.

Files are read the way an editor's YAML server sees them: every mapping key is text (`2:` is the key "2"), and so
is a date (`2026-12-24`), which YAML 1.2 has no type for and the linters read as text anyway.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from ivr.flows import loader, messages, teams_loader
from ivr.flows.actions import ACTIONS
from ivr.flows.model import ASK_TYPES, NODE_KINDS, Keys
from ivr.flows.validators import VALIDATORS

ROOT = Path(__file__).resolve().parent.parent


def shipped_schema(name: str) -> dict:
    return json.loads((resources.files("ivr.flows") / name).read_text(encoding="utf-8"))


SCHEMA = shipped_schema("flow.schema.json")
DEFS = SCHEMA["$defs"]
VALIDATOR = Draft202012Validator(SCHEMA)
TEAMS_SCHEMA = shipped_schema("teams.schema.json")
TEAMS_VALIDATOR = Draft202012Validator(TEAMS_SCHEMA)

SHIPPED = loader.flow_files([ROOT / "flows"])  # not teams.yaml
# The test flows the linter loads: the demo, and golden files that draw only warnings.
LOADED = [p for p in sorted((ROOT / "tests" / "flows").rglob("*.yaml")) if loader.lint_file(p)[0] is not None]

# Keywords draft-07 knows too (yaml-language-server before 1.20 validates by draft-07), and patternErrorMessage,
# which editors show in place of a failed pattern (validators ignore it).
EDITOR_KEYWORDS = {
    "$schema", "$ref", "$defs", "title", "description", "type", "enum", "const", "pattern", "minimum", "maximum",
    "minItems", "minProperties", "items", "properties", "additionalProperties", "propertyNames", "required",
    "anyOf", "oneOf", "allOf", "not", "if", "then", "else", "patternErrorMessage",
}


class _EditorLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with every mapping key and every date kept as its text."""


def _mapping(reader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    reader.flatten_mapping(node)
    return {key.value if isinstance(key, yaml.ScalarNode) else reader.construct_object(key):
            reader.construct_object(value, deep=True) for key, value in node.value}


_EditorLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
_EditorLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda reader, node: node.value)


def read(path: Path) -> Any:
    return read_text(path.read_text(encoding="utf-8"))


def read_text(text: str) -> Any:
    return yaml.load(text, Loader=_EditorLoader)


def leaves(errors) -> Iterator[tuple[str, str]]:
    """Every innermost error (through oneOf/anyOf alternatives) as (path, message)."""
    for error in errors:
        if error.context:
            yield from leaves(error.context)
        else:
            yield "/".join(str(part) for part in error.absolute_path), error.message


def walk(schema: Any, skip: tuple[str, ...] = ()) -> Iterator[dict]:
    """Every subschema (leaving out those under the keywords in `skip`)."""
    if isinstance(schema, dict):
        yield schema
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    yield from walk(sub, skip)
            elif key not in ("enum", "const") and key not in skip:
                yield from walk(value, skip)
    elif isinstance(schema, list):
        for item in schema:
            yield from walk(item, skip)


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = DEFS[schema["$ref"].removeprefix("#/$defs/")]
    return schema


# -- the schema itself -----------------------------------------------------------------------

BOTH = pytest.mark.parametrize("schema", [SCHEMA, TEAMS_SCHEMA], ids=["flow", "teams"])


@BOTH
def test_the_schema_is_a_valid_2020_12_schema(schema: dict) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@BOTH
def test_the_schema_keeps_to_keywords_editors_know(schema: dict) -> None:
    used = {key for sub in walk(schema) for key in sub}
    assert used <= EDITOR_KEYWORDS, used - EDITOR_KEYWORDS


@BOTH
def test_every_pattern_says_what_it_wants(schema: dict) -> None:
    assert all(sub.get("patternErrorMessage") for sub in walk(schema) if "pattern" in sub)


@BOTH
def test_every_ref_stands_alone_and_resolves(schema: dict) -> None:
    # Draft-07 ignores whatever sits beside a $ref, so only a description may.
    for sub in walk(schema):
        if "$ref" in sub:
            assert set(sub) <= {"$ref", "description"}, sub
            assert sub["$ref"].removeprefix("#/$defs/") in schema["$defs"]


@BOTH
def test_every_property_has_a_description(schema: dict) -> None:
    # An `if` only tests a property that is described where it is defined.
    missing = [name for sub in walk(schema, skip=("if",)) for name, prop in sub.get("properties", {}).items()
               if prop is not False and not prop.get("description")]
    assert not missing


# -- flows the linter loads validate -----------------------------------------------------------

@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_flow_validates(path: Path) -> None:
    assert [message for _, message in leaves(VALIDATOR.iter_errors(read(path)))] == []


def test_the_shipped_flows_are_there() -> None:
    assert "support-line.yaml" in [p.name for p in SHIPPED]


@pytest.mark.parametrize("path", LOADED, ids=lambda p: p.relative_to(ROOT / "tests" / "flows").as_posix())
def test_every_test_flow_the_linter_loads_validates(path: Path) -> None:
    assert [message for _, message in leaves(VALIDATOR.iter_errors(read(path)))] == []


def test_the_good_test_flows_include_the_demo() -> None:
    assert ROOT / "tests" / "flows" / "demo.yaml" in LOADED


# -- shape errors fail -------------------------------------------------------------------------

SHAPE_ERRORS = [
    ("unknown_node_key", "nodes/main", "'nxt' was unexpected"),
    ("unknown_settings_key", "settings", "'timeuot' was unexpected"),
    ("many_problems", "settings", "'retry' was unexpected"),
    ("many_problems", "nodes/operator", "'anounce' was unexpected"),
    ("many_problems", "nodes/main/options", "'x' does not match"),
    ("unknown_kind", "nodes/main", "'sya' was unexpected"),
    ("no_kind", "nodes/main", "'say' is a required property"),
    ("two_kinds", "nodes/main", "'menu' was unexpected"),
    ("bad_option_key", "nodes/main/options", "'10' does not match"),
    ("bad_option_key", "nodes/main/options", "'x' does not match"),
    ("missing_start", "", "'start' is a required property"),
    ("missing_keys", "nodes/main", "'options' is a required property"),
    ("missing_keys", "nodes/billing", "'expect' is a required property"),
    ("missing_keys", "nodes/billing", "'save' is a required property"),
    ("missing_keys", "nodes/check/decide/0", "'next' is a required property"),
    ("bad_values", "settings/voices/en", "'Polly.Joanna-Neural' does not match"),
    ("bad_values", "teams/desk/0", "'6265550100' does not match"),
    ("bad_values", "nodes/main/validate", "'member_number' is not one of"),
    ("bad_values", "nodes/mobility/expect", "'pick' is not one of"),
    ("bad_values", "nodes/ride", "does not allow {'1': 'yes', '2': 'no'}"),  # choices; jsonschema drops the key
    ("bad_values", "nodes/text_me/action", "'send_sms' is not one of"),
    ("bad_values", "nodes/summary/params", "'body' is a required property"),
]


@pytest.mark.parametrize(("name", "where", "fragment"), SHAPE_ERRORS, ids=[f"{n}:{w}" for n, w, _ in SHAPE_ERRORS])
def test_golden_shape_errors_fail_the_schema(name: str, where: str, fragment: str) -> None:
    found = list(leaves(VALIDATOR.iter_errors(read(ROOT / "tests" / "flows" / "err" / f"{name}.yaml"))))
    assert any(path == where and fragment in message for path, message in found), found


# The linter's own ground: targets, languages, templates, reachability. The schema has no say there.
LINTER_ONLY = ["answer_other_path", "dead_end_loop", "dead_end_say", "dead_end_say_loop", "long_menu", "long_prompt",
               "missing_language", "operator_key_without_setting", "operator_without_setting", "phi_in_whisper",
               "plain_text_two_languages", "start_unknown", "template_syntax", "undeclared_language",
               "unknown_answer", "unknown_filter", "unknown_target", "unreachable"]


@pytest.mark.parametrize("name", LINTER_ONLY)
def test_problems_beyond_shape_are_left_to_the_linter(name: str) -> None:
    assert list(leaves(VALIDATOR.iter_errors(read(ROOT / "tests" / "flows" / "err" / f"{name}.yaml")))) == []


# -- numbers, types and flags: the schema and the linter agree ------------------------------------

BASE: dict[str, Any] = {
    "flow": "ranges", "start": "member", "languages": ["en"],
    "settings": {"operator": "desk", "timeout": 6, "retries": 2},
    "teams": {"front": ["+16265550100"]},
    "nodes": {
        "hello": {"say": "Hello.", "next": "member", "every_language": False},
        "member": {"ask": "Enter it.", "expect": "digits", "save": "entry", "next": "note", "timeout": 6,
                   "retries": 2, "readback": False, "max_length": 30},
        "note": {"record": "Speak.", "save": "note", "next": "desk", "max_length": 120, "timeout": 5},
        "desk": {"transfer": "front", "timeout": 20},
    },
}
NUMBERS = [
    (("settings", "timeout"), 1, 60), (("settings", "retries"), 0, 9),
    (("settings", "digits_timeout"), 1, 60), (("settings", "warn_after"), 0, 30),
    (("nodes", "member", "timeout"), 1, 60), (("nodes", "member", "retries"), 0, 9),
    (("nodes", "member", "length"), 1, 30), (("nodes", "member", "min_length"), 1, 30),
    (("nodes", "member", "max_length"), 1, 30),
    (("nodes", "note", "max_length"), 1, 3600), (("nodes", "note", "timeout"), 1, 60),
    (("nodes", "desk", "timeout"), 5, 600),
]
FLAGS = [("nodes", "hello", "every_language"), ("nodes", "member", "readback")]


def _with(where: tuple[str, ...], value: Any) -> dict:
    data = copy.deepcopy(BASE)
    holder = data
    for part in where[:-1]:
        holder = holder[part]
    holder[where[-1]] = value
    return data


def _agree(data: dict) -> tuple[bool, bool]:
    """(the linter finds no error, the schema finds none) for a flow."""
    _, problems = loader.lint_text(yaml.safe_dump(data, sort_keys=False), "ranges.yaml")
    return (not any(p.is_error for p in problems)), VALIDATOR.is_valid(data)


def test_the_base_flow_passes_both() -> None:
    assert _agree(BASE) == (True, True)


@pytest.mark.parametrize(("where", "low", "high"), NUMBERS, ids=[".".join(w) for w, _, _ in NUMBERS])
def test_number_ranges_match_the_linter(where: tuple[str, ...], low: int, high: int) -> None:
    for value, ok in [(low - 1, False), (low, True), (high, True), (high + 1, False), ("six", False), (6.5, False),
                      (True, False)]:
        assert _agree(_with(where, value)) == (ok, ok), (where, value)


@pytest.mark.parametrize("where", FLAGS, ids=[".".join(w) for w in FLAGS])
def test_flags_are_true_or_false(where: tuple[str, ...]) -> None:
    for value, ok in [(True, True), (False, True), ("yes", False), (1, False)]:
        assert _agree(_with(where, value)) == (ok, ok), (where, value)


@pytest.mark.parametrize(("where", "value"), [
    (("nodes", "hello"), ["say", "Hello."]),
    (("nodes", "hello", "say"), {"en": ["Hello."]}),
    (("nodes", "hello", "say"), []),
    (("nodes", "member", "save"), "lang"),
    (("nodes", "member", "save"), "entry-2"),
    (("nodes", "member", "finish_key"), "10"),
    (("settings",), ["operator"]),
    (("settings", "keys"), {"back": "x"}),
    (("settings", "messages"), {"goodby": "Bye."}),
    (("teams", "front"), []),
    (("languages",), "en"),
    (("nodes", "hello!"), {"hangup": None}),
], ids=lambda v: ".".join(v) if isinstance(v, tuple) else None)
def test_wrong_shapes_fail_both(where: tuple[str, ...], value: Any) -> None:
    assert _agree(_with(where, value)) == (False, False)


def test_an_unquoted_number_in_a_team_passes_both() -> None:
    text = yaml.safe_dump(BASE, sort_keys=False).replace("'+16265550100'", "+16265550100")
    assert "- +16265550100" in text
    _, problems = loader.lint_text(text, "ranges.yaml")
    assert not any(p.is_error for p in problems) and VALIDATOR.is_valid(read_text(text))


@pytest.mark.parametrize(("where", "value"), [
    (("nodes", "member", "finish_key"), "#"),
    (("settings", "keys"), {"back": None, "repeat": 8}),
    (("settings", "messages"), {"goodbye": "Bye."}),
    (("nodes", "bye"), {"hangup": None}),
    (("nodes", "hello", "say"), [{"en": "One."}, "Two."]),
    (("nodes", "hello", "next"), None),
    (("values",), {"notice_days": 2}),
    (("values",), {"notice_days": {"lacare": {"walks": "2", "wheelchair": 2}}}),
], ids=lambda v: ".".join(v) if isinstance(v, tuple) else None)
def test_right_shapes_pass_both(where: tuple[str, ...], value: Any) -> None:
    assert _agree(_with(where, value)) == (True, True)


def test_digit_settings_only_go_with_digits_and_choices_with_choice() -> None:
    member = BASE["nodes"]["member"]
    plain = {k: v for k, v in member.items() if k not in ("readback", "max_length")}
    assert _agree(_with(("nodes", "member"), plain | {"expect": "yesno"})) == (True, True)
    assert _agree(_with(("nodes", "member"), plain | {"expect": "yesno", "length": 4})) == (False, False)
    as_choice = plain | {"expect": "choice"}
    assert _agree(_with(("nodes", "member"), as_choice)) == (False, False)
    assert _agree(_with(("nodes", "member"), as_choice | {"choices": {"1": "walks", "2": 2}})) == (True, True)


# -- in step with the code ---------------------------------------------------------------------------

def kind_schemas() -> dict[str, dict]:
    out = {}
    for alternative in DEFS["node"]["oneOf"]:
        schema = resolve(alternative)
        out[schema["required"][0]] = schema
    return out


def test_node_kinds_are_the_models() -> None:
    assert list(kind_schemas()) == list(NODE_KINDS)


@pytest.mark.parametrize("kind", NODE_KINDS)
def test_each_kind_takes_the_keys_the_loader_takes(kind: str) -> None:
    schema = kind_schemas()[kind]
    assert set(schema["properties"]) == loader.KIND_KEYS[kind]
    assert schema["additionalProperties"] is False


def test_top_level_and_settings_keys_are_the_loaders() -> None:
    assert set(SCHEMA["properties"]) == loader.TOP_KEYS
    settings = SCHEMA["properties"]["settings"]
    assert set(settings["properties"]) == loader.SETTINGS_KEYS
    assert set(settings["properties"]["keys"]["properties"]) == set(Keys.__dataclass_fields__)
    assert SCHEMA["additionalProperties"] is False and settings["additionalProperties"] is False


def test_built_in_message_names_are_the_engines() -> None:
    assert set(SCHEMA["properties"]["settings"]["properties"]["messages"]["properties"]) == messages.NAMES


def test_ask_types_and_validators_are_the_codes() -> None:
    ask = kind_schemas()["ask"]
    assert ask["properties"]["expect"]["enum"] == list(ASK_TYPES)
    assert set(ask["properties"]["validate"]["enum"]) == set(VALIDATORS)
    # choices go with choice only, and the keys an ask has beyond a say's and its own five with digits only
    digit_keys = loader.KIND_KEYS["ask"] - loader.KIND_KEYS["say"] - {"ask", "expect", "save", "choices", "sensitive",
                                                                      "optional"}
    rules = {rule["if"]["properties"]["expect"].get("const") or tuple(rule["if"]["properties"]["expect"]["enum"]):
             rule["then"] for rule in ask["allOf"]}
    assert rules == {"choice": {"required": ["choices"]},
                     tuple(t for t in ASK_TYPES if t != "choice"): {"properties": {"choices": False}},
                     tuple(t for t in ASK_TYPES if t != "digits"): {"properties": dict.fromkeys(digit_keys, False)}}


def test_actions_and_their_params_are_the_codes() -> None:
    action = kind_schemas()["action"]
    assert set(action["properties"]["action"]["enum"]) == set(ACTIONS)
    rules = {rule["if"]["properties"]["action"]["const"]: rule["then"] for rule in action["allOf"]}
    assert set(rules) == set(ACTIONS)
    for name, spec in ACTIONS.items():
        params = rules[name]["properties"]["params"]
        assert set(params["required"]) == spec.required, name
        assert set(params["properties"]) == spec.allowed, name
        assert params["additionalProperties"] is False
        assert ("params" in rules[name].get("required", [])) == bool(spec.required), name


def test_patterns_are_the_loaders() -> None:
    assert DEFS["id"]["pattern"] == loader.ID_RE.pattern
    assert DEFS["answerName"]["pattern"] == loader.NAME_RE.pattern
    assert DEFS["language"]["pattern"] == teams_loader.LANGUAGE_RE.pattern
    assert set(DEFS["keypadKey"]["anyOf"][0]["enum"]) == loader.KEYPAD
    voices = SCHEMA["properties"]["settings"]["properties"]["voices"]["additionalProperties"]
    assert voices["pattern"] == loader.VOICE_RE.pattern
    numbers = SCHEMA["properties"]["teams"]["additionalProperties"]["items"]["anyOf"][0]
    assert numbers["pattern"] == loader.E164_RE.pattern



# -- the teams file ------------------------------------------------------------------------------

TEAMS_DEFS = TEAMS_SCHEMA["$defs"]
TEAMS_LOADED = [p for p in [ROOT / "flows" / "teams.yaml", *sorted((ROOT / "tests" / "teams").glob("*.yaml"))]
                if teams_loader.lint_teams_file(p)[0] is not None]


def test_the_shipped_teams_file_loads() -> None:
    assert ROOT / "flows" / "teams.yaml" in TEAMS_LOADED


@pytest.mark.parametrize("path", TEAMS_LOADED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_teams_file_the_linter_loads_validates(path: Path) -> None:
    assert [message for _, message in leaves(TEAMS_VALIDATOR.iter_errors(read(path)))] == []


TEAMS_SHAPE_ERRORS = [
    ("unknown_keys", "", "'calender' was unexpected"),
    ("unknown_keys", "calendar", "'holiday' was unexpected"),
    ("unknown_keys", "calendar/holidays", "'state' was unexpected"),
    ("unknown_keys", "teams/coordinators", "'ringtime' was unexpected"),
    ("unknown_keys", "teams/coordinators/members/0", "'language' was unexpected"),
    ("missing_keys", "", "'timezone' is a required property"),
    ("missing_keys", "calendar/holidays", "'country' is a required property"),
    ("missing_keys", "teams/coordinators", "'members' is a required property"),
    ("missing_keys", "teams/desk/members/0", "'name' is a required property"),
    ("missing_keys", "teams/desk/members/1", "'phone' is a required property"),
    ("bad_shapes", "timezone", "is not of type 'string'"),
    ("bad_shapes", "calendar/closed", "is not of type 'array'"),
    ("bad_shapes", "calendar/special_hours", "is not of type 'object'"),
    ("bad_shapes", "teams/coordinators", "is not of type 'object'"),
    ("bad_shapes", "teams/desk/hours", "is not of type 'object'"),
    ("bad_shapes", "teams/desk/members/0", "is not of type 'object'"),
    ("bad_shapes", "teams/desk/members/1/languages", "is not of type 'array'"),
    ("bad_members", "teams/coordinators/strategy", "'round_robin' is not one of"),
    ("bad_members", "teams/coordinators/ring_seconds", "3 is less than the minimum of 5"),
    ("bad_members", "teams/transportation/ring_seconds", "121 is greater than the maximum of 120"),
    ("bad_members", "teams/coordinators/members/3/languages/0", "'EN' does not match"),
    ("bad_members", "teams/coordinators/members/4/phone", "'6265550187' does not match"),
    ("bad_members", "teams/coordinators/members/5/active", "'maybe' is not of type 'boolean'"),
    ("bad_members", "teams/coordinators/members/6/languages", "should be non-empty"),
    ("bad_members", "teams", "'Night Desk' does not match"),
    ("bad_hours", "teams/coordinators/hours", "'monday' does not match"),
    ("bad_hours", "teams/transportation/hours/wed", "'9am-5pm' does not match"),
    ("bad_hours", "teams/transportation/hours/fri", "is not of type 'string', 'array'"),
    ("bad_calendar", "calendar/closed/2", "'12/31/2026' does not match"),
]


@pytest.mark.parametrize(("name", "where", "fragment"), TEAMS_SHAPE_ERRORS,
                         ids=[f"{n}:{w}" for n, w, _ in TEAMS_SHAPE_ERRORS])
def test_teams_golden_shape_errors_fail_the_schema(name: str, where: str, fragment: str) -> None:
    found = list(leaves(TEAMS_VALIDATOR.iter_errors(read(ROOT / "tests" / "teams" / f"{name}.yaml"))))
    assert any(path == where and fragment in message for path, message in found), found


def test_teams_keys_are_the_readers() -> None:
    props = TEAMS_SCHEMA["properties"]
    assert set(props) == teams_loader.TOP_KEYS
    assert set(props["calendar"]["properties"]) == teams_loader.CALENDAR_KEYS
    assert set(props["calendar"]["properties"]["holidays"]["properties"]) == teams_loader.HOLIDAY_KEYS
    assert set(TEAMS_DEFS["team"]["properties"]) == teams_loader.TEAM_KEYS
    assert set(TEAMS_DEFS["member"]["properties"]) == teams_loader.MEMBER_KEYS
    closed = [TEAMS_SCHEMA, props["calendar"], props["calendar"]["properties"]["holidays"], TEAMS_DEFS["team"],
              TEAMS_DEFS["member"]]
    assert all(schema["additionalProperties"] is False for schema in closed)


def test_teams_values_are_the_readers() -> None:
    team = TEAMS_DEFS["team"]["properties"]
    assert team["strategy"]["enum"] == list(teams_loader.STRATEGIES)
    assert (team["ring_seconds"]["minimum"], team["ring_seconds"]["maximum"]) == teams_loader.RING_SECONDS
    assert TEAMS_SCHEMA["properties"]["teams"]["propertyNames"]["pattern"] == teams_loader.ID_RE.pattern
    assert TEAMS_DEFS["date"]["pattern"] == teams_loader.DATE_RE.pattern
    assert TEAMS_DEFS["member"]["properties"]["languages"]["items"]["pattern"] == teams_loader.LANGUAGE_RE.pattern
    hours = TEAMS_DEFS["hours"]
    assert (hours["pattern"], hours["items"]["pattern"]) == ("^closed$|" + teams_loader.RANGE_RE.pattern, teams_loader.RANGE_RE.pattern)
    day = "(" + "|".join(teams_loader.DAYS) + ")"
    assert team["hours"]["propertyNames"]["pattern"] == f"^{day}(-{day})?$"
