"""The JSON Schema of flow files that editors use: valid, shipped, accepting what the linter loads, rejecting
shapes the linter rejects, and naming the same kinds, keys and built-in names as the code.

Files are read the way an editor's YAML server sees them: every mapping key is text (`2:` is the key "2").
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

from ivr.flows import loader, messages, teams
from ivr.flows.actions import ACTIONS
from ivr.flows.model import ASK_TYPES, NODE_KINDS, Keys
from ivr.flows.validators import VALIDATORS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((resources.files("ivr.flows") / "flow.schema.json").read_text(encoding="utf-8"))
DEFS = SCHEMA["$defs"]
VALIDATOR = Draft202012Validator(SCHEMA)

SHIPPED = loader.flow_files([ROOT / "flows"])  # not teams.yaml
# The test flows the linter loads: the demo, and golden files that draw only warnings.
LOADED = [p for p in sorted((ROOT / "tests" / "flows").rglob("*.yaml")) if loader.lint_file(p)[0] is not None]

# What draft-07 also knows: editors' YAML servers validate by draft-07, so the schema keeps to these.
DRAFT_07_KEYWORDS = {
    "$schema", "$ref", "$defs", "title", "description", "type", "enum", "const", "pattern", "minimum", "maximum",
    "minItems", "minProperties", "items", "properties", "additionalProperties", "propertyNames", "required",
    "anyOf", "oneOf", "allOf", "not", "if", "then", "else",
}


class _EditorLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with every mapping key kept as its text."""


def _mapping(reader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    reader.flatten_mapping(node)
    return {key.value if isinstance(key, yaml.ScalarNode) else reader.construct_object(key):
            reader.construct_object(value, deep=True) for key, value in node.value}


_EditorLoader.add_constructor("tag:yaml.org,2002:map", _mapping)


def read(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_EditorLoader)


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

def test_the_schema_is_a_valid_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_the_schema_keeps_to_keywords_editors_know() -> None:
    used = {key for sub in walk(SCHEMA) for key in sub}
    assert used <= DRAFT_07_KEYWORDS, used - DRAFT_07_KEYWORDS


def test_every_ref_stands_alone_and_resolves() -> None:
    # Draft-07 ignores whatever sits beside a $ref, so only a description may.
    for sub in walk(SCHEMA):
        if "$ref" in sub:
            assert set(sub) <= {"$ref", "description"}, sub
            assert sub["$ref"].removeprefix("#/$defs/") in DEFS


def test_every_property_has_a_description() -> None:
    # An `if` only tests a property that is described where it is defined.
    missing = [name for sub in walk(SCHEMA, skip=("if",)) for name, prop in sub.get("properties", {}).items()
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


@pytest.mark.parametrize(("where", "value"), [
    (("nodes", "member", "finish_key"), "#"),
    (("settings", "keys"), {"back": None, "repeat": 8}),
    (("settings", "messages"), {"goodbye": "Bye."}),
    (("nodes", "bye"), {"hangup": None}),
    (("nodes", "hello", "say"), [{"en": "One."}, "Two."]),
    (("nodes", "hello", "next"), None),
    (("values",), {"notice_days": 2}),
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
    ask = kind_schemas()["ask"]["properties"]
    assert ask["expect"]["enum"] == list(ASK_TYPES)
    assert set(ask["validate"]["enum"]) == set(VALIDATORS)


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
    assert DEFS["language"]["pattern"] == teams.LANGUAGE_RE.pattern
    assert set(DEFS["keypadKey"]["anyOf"][0]["enum"]) == loader.KEYPAD
    voices = SCHEMA["properties"]["settings"]["properties"]["voices"]["additionalProperties"]
    assert voices["pattern"] == loader.VOICE_RE.pattern
    numbers = SCHEMA["properties"]["teams"]["additionalProperties"]["items"]
    assert numbers["pattern"] == loader.E164_RE.pattern

