"""The strict converter and the tenant models: no coercion, no unknown keys, exact error paths."""

from __future__ import annotations

from typing import Any

import pytest

from config.convert import structure, structure_config
from config.errors import ConfigStructureError
from config.models import (
    CURRENT_SCHEMA_VERSION,
    DEFAULT_DELEGATION_INSTRUCTIONS,
    DEFAULT_DELEGATION_MODEL,
    EndCallTool,
    HttpTool,
    Limits,
    LiveOptions,
    TenantConfig,
    TransferCallTool,
)


def errors_of(raw: object) -> list[str]:
    with pytest.raises(ConfigStructureError) as info:
        structure_config(raw)
    return info.value.errors


def test_minimal_config_takes_the_defaults() -> None:
    """schema_version alone gives the default model, voice, limits and no tools."""
    config = structure_config({"schema_version": 1})
    assert config == TenantConfig(schema_version=1)
    assert (config.model, config.voice) == ("gpt-realtime", "marin")
    assert config.limits == Limits(max_concurrent_calls=None, max_call_duration_s=3600.0)
    assert config.tools == ()
    assert CURRENT_SCHEMA_VERSION == 1


def test_full_config_is_structured() -> None:
    """Every field is read; tools come from a list into a tuple of raw mappings."""
    raw = {
        "schema_version": 1,
        "model": "gpt-realtime-mini",
        "voice": "cedar",
        "limits": {"max_concurrent_calls": 3, "max_call_duration_s": 600},
        "tools": [{"kind": "end_call"}, {"kind": "anything", "extra": [1, 2]}],
    }
    config = structure_config(raw)
    assert config.limits == Limits(max_concurrent_calls=3, max_call_duration_s=600.0)
    assert type(config.limits.max_call_duration_s) is float
    assert config.tools == ({"kind": "end_call"}, {"kind": "anything", "extra": [1, 2]})


@pytest.mark.parametrize("value", [True, False, "1", 1.0])
def test_int_field_refuses_bool_str_and_float(value: object) -> None:
    """An int field takes only an int: not a bool, a digit string or a float."""
    assert errors_of({"schema_version": value}) == [
        "invalid value for type, expected int @ config.schema_version"
    ]


def test_digit_string_for_an_int_is_refused() -> None:
    """"5" is not silently turned into 5."""
    raw = {"schema_version": 1, "limits": {"max_concurrent_calls": "5"}}
    assert errors_of(raw) == [
        "invalid value for type, expected int @ config.limits.max_concurrent_calls"
    ]


@pytest.mark.parametrize("value", [True, "60", None])
def test_float_field_refuses_bool_and_str(value: object) -> None:
    """A float field takes an int or a float only."""
    raw = {"schema_version": 1, "limits": {"max_call_duration_s": value}}
    assert errors_of(raw) == [
        "invalid value for type, expected float @ config.limits.max_call_duration_s"
    ]


def test_float_field_refuses_non_finite_numbers() -> None:
    """inf and nan are not durations."""
    raw = {"schema_version": 1, "limits": {"max_call_duration_s": float("inf")}}
    assert errors_of(raw) == [
        "invalid value for type, expected a finite number @ config.limits.max_call_duration_s"
    ]


@pytest.mark.parametrize("value", [5, True, None, ["marin"]])
def test_str_field_refuses_non_strings(value: object) -> None:
    """A str field takes only a str; 5 does not become "5"."""
    assert errors_of({"schema_version": 1, "voice": value}) == [
        "invalid value for type, expected str @ config.voice"
    ]


@pytest.mark.parametrize("value", [1, 0, "true", None])
def test_bool_hook_takes_only_bools(value: object) -> None:
    """The converter's bool hook refuses 1, 0 and strings."""
    assert structure(True, bool, path="flag") is True
    with pytest.raises(ConfigStructureError) as info:
        structure(value, bool, path="flag")
    assert info.value.errors == ["invalid value for type, expected bool @ flag"]


def test_unknown_keys_are_refused_at_every_level() -> None:
    """Unknown keys, top-level or nested, are errors at their mapping's path."""
    raw = {"schema_version": 1, "colour": "blue", "limits": {"max_calls": 3}}
    assert errors_of(raw) == [
        "extra fields found (max_calls) @ config.limits",
        "extra fields found (colour) @ config",
    ]


def test_every_error_is_listed_with_its_path() -> None:
    """All field errors of one document come back together, each with its exact path."""
    raw = {
        "schema_version": "one",
        "model": 4,
        "limits": {"max_concurrent_calls": "lots", "max_call_duration_s": "long", "window": 1},
        "tools": "end_call",
        "colour": "blue",
    }
    assert errors_of(raw) == [
        "invalid value for type, expected int @ config.schema_version",
        "invalid value for type, expected str @ config.model",
        "invalid value for type, expected int @ config.limits.max_concurrent_calls",
        "invalid value for type, expected float @ config.limits.max_call_duration_s",
        "extra fields found (window) @ config.limits",
        "invalid value for type, expected a list @ config.tools",
        "extra fields found (colour) @ config",
    ]


@pytest.mark.parametrize(
    ("tools", "errors"),
    [
        ({"kind": "end_call"}, ["invalid value for type, expected a list @ config.tools"]),
        ([{"kind": "end_call"}, "end_call"],
         ["invalid value for type, expected a mapping @ config.tools[1]"]),
    ],
)
def test_tools_must_be_a_list_of_mappings(tools: object, errors: list[str]) -> None:
    """tools is a list (not a mapping or a string) of mappings."""
    assert errors_of({"schema_version": 1, "tools": tools}) == errors


def test_missing_schema_version_is_reported() -> None:
    """schema_version is required."""
    assert errors_of({"model": "gpt-realtime"}) == ["required field missing @ config.schema_version"]


def test_other_schema_version_names_the_supported_one() -> None:
    """A schema_version other than 1 is refused with the supported version in the message."""
    assert errors_of({"schema_version": 2}) == [
        "unsupported schema version 2 (supported version: 1) @ config.schema_version"
    ]


@pytest.mark.parametrize("raw", [None, [], "schema_version: 1", 1])
def test_document_must_be_a_mapping(raw: object) -> None:
    """A config document that is not a mapping is one error at config."""
    assert errors_of(raw) == ["invalid value for type, expected a mapping @ config"]


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"max_concurrent_calls": 0}, "must be >= 1, got 0 @ config.limits.max_concurrent_calls"),
        ({"max_call_duration_s": 0}, "must be > 0 and <= 86400, got 0 @ config.limits.max_call_duration_s"),
        ({"max_call_duration_s": 86401}, "must be > 0 and <= 86400, got 86401 @ config.limits.max_call_duration_s"),
        (None, "invalid value for type, expected a mapping @ config.limits"),
    ],
)
def test_limit_values_are_validated(limits: object, error: str) -> None:
    """Limits out of range are reported at the limit's path."""
    assert errors_of({"schema_version": 1, "limits": limits}) == [error]


@pytest.mark.parametrize("field", ["model", "voice"])
def test_model_and_voice_must_not_be_empty(field: str) -> None:
    """Blank model or voice names are refused."""
    assert errors_of({"schema_version": 1, field: "  "}) == [f"must not be empty @ config.{field}"]


def tool_errors(raw: dict[str, Any], cls: type[Any]) -> list[str]:
    with pytest.raises(ConfigStructureError) as info:
        structure(raw, cls, path="config.tools[0]")
    return info.value.errors


def test_end_call_tool_announces_an_optional_reason() -> None:
    """end_call is a function tool whose only parameter is an optional string reason."""
    tool = structure({}, EndCallTool, path="config.tools[0]")
    assert (tool.name, tool.goodbye_timeout_s) == ("end_call", 10.0)
    announced = tool.to_openai()
    assert announced["type"] == "function"
    assert announced["name"] == "end_call"
    assert announced["description"] == tool.description
    assert announced["parameters"]["type"] == "object"
    assert announced["parameters"]["properties"]["reason"]["type"] == "string"
    assert announced["parameters"].get("required", []) == []


def test_transfer_call_tool_takes_no_arguments() -> None:
    """transfer_call announces an empty parameters object and keeps its target for the REFER."""
    tool = structure({"target_uri": "sip:desk@pbx.example"}, TransferCallTool, path="p")
    assert (tool.name, tool.target_uri, tool.close_timeout_s) == (
        "transfer_call",
        "sip:desk@pbx.example",
        15.0,
    )
    announced = tool.to_openai()
    assert announced["parameters"]["type"] == "object"
    assert announced["parameters"]["properties"] == {}


@pytest.mark.parametrize("target", ["mailto:desk@example.com", "+14155550123", "tel:", ""])
def test_transfer_target_must_be_tel_or_sip(target: str) -> None:
    """A transfer target that is not a tel:, sip: or sips: URI is refused."""
    assert tool_errors({"target_uri": target}, TransferCallTool) == [
        "must be a tel:, sip: or sips: URI @ config.tools[0].target_uri"
    ]


def test_http_tool_announces_its_schema_and_keeps_it_private() -> None:
    """An http tool announces its JSON schema; changing the announcement leaves the tool as is."""
    schema = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}
    raw = {"name": "lookup_order", "description": "Find an order.", "url": "https://t.example/o",
           "parameters": schema}
    tool = structure(raw, HttpTool, path="config.tools[0]")
    assert (tool.timeout_s, tool.max_response_bytes) == (5.0, 65536)
    announced = tool.to_openai()
    assert announced == {"type": "function", "name": "lookup_order",
                         "description": "Find an order.", "parameters": schema}
    announced["parameters"]["properties"].clear()
    assert tool.parameters["properties"] == {"order": {"type": "string"}}


def test_http_tool_defaults_to_an_empty_object_schema() -> None:
    """Without parameters, an http tool takes an empty object."""
    tool = structure({"name": "ping", "description": "d", "url": "https://x"}, HttpTool, path="p")
    assert tool.to_openai()["parameters"] == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"name": "has space"}, "must be 1-64 characters of a-z, A-Z, 0-9, _ and - @ config.tools[0].name"),
        ({"name": "x" * 65}, "must be 1-64 characters of a-z, A-Z, 0-9, _ and - @ config.tools[0].name"),
        ({"description": " "}, "must not be empty @ config.tools[0].description"),
        ({"parameters": {"type": "array"}}, 'must be a JSON schema with "type": "object" @ config.tools[0].parameters'),
        ({"parameters": {"type": "object", "properties": []}}, '"properties" must be a mapping @ config.tools[0].parameters'),
        ({"timeout_s": 0}, "must be > 0 and <= 30, got 0 @ config.tools[0].timeout_s"),
        ({"timeout_s": 31}, "must be > 0 and <= 30, got 31 @ config.tools[0].timeout_s"),
        ({"max_response_bytes": 0}, "must be 1..1048576, got 0 @ config.tools[0].max_response_bytes"),
        ({"max_response_bytes": 2**20 + 1}, "must be 1..1048576, got 1048577 @ config.tools[0].max_response_bytes"),
        ({"timeout_s": "5"}, "invalid value for type, expected float @ config.tools[0].timeout_s"),
        ({"method": "GET"}, "extra fields found (method) @ config.tools[0]"),
    ],
)
def test_http_tool_fields_are_validated(extra: dict[str, Any], error: str) -> None:
    """Each invalid http tool field is reported at its path."""
    raw = {"name": "lookup", "description": "Look it up.", "url": "https://t.example"} | extra
    assert tool_errors(raw, HttpTool) == [error]


def test_http_tool_requires_name_description_and_url() -> None:
    """name, description and url have no defaults."""
    assert tool_errors({}, HttpTool) == [
        "required field missing @ config.tools[0].name",
        "required field missing @ config.tools[0].description",
        "required field missing @ config.tools[0].url",
    ]


def test_runtime_defaults_to_realtime() -> None:
    """A config without ``runtime`` is a Realtime tenant's, with the Realtime model."""
    config = structure_config({"schema_version": 1})
    assert (config.runtime, config.model, config.live) == ("realtime", "gpt-realtime", None)


def test_live_tenant_needs_only_runtime() -> None:
    """``runtime: live`` alone gives the Live model and the documented delegation defaults."""
    config = structure_config({"schema_version": 1, "runtime": "live"})
    assert (config.runtime, config.model) == ("live", "gpt-live-1")
    assert config.live_options == LiveOptions(
        delegation_model=DEFAULT_DELEGATION_MODEL,
        delegation_instructions=DEFAULT_DELEGATION_INSTRUCTIONS,
    )
    assert DEFAULT_DELEGATION_MODEL == "gpt-5.4-mini"


def test_live_keys_are_read() -> None:
    """The delegation's model and prompt come from ``live``; the model named wins its default."""
    raw = {
        "schema_version": 1,
        "runtime": "live",
        "model": "gpt-live-1.1",
        "live": {"delegation_model": "gpt-5.4", "delegation_instructions": "Be brief."},
    }
    config = structure_config(raw)
    assert config.model == "gpt-live-1.1"
    assert config.live_options == LiveOptions(delegation_model="gpt-5.4", delegation_instructions="Be brief.")
    assert config.live_options.greeting_event == "commentary"
    instructed = structure_config({**raw, "live": {"greeting_event": "instructions"}})
    assert instructed.live_options.greeting_event == "instructions"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"runtime": "gpt-live"}, "must be one of realtime, live, got 'gpt-live' @ config.runtime"),
        ({"runtime": 1}, "invalid value for type, expected str @ config.runtime"),
        ({"live": {}}, "only for runtime live (this tenant's is realtime) @ config.live"),
        ({"runtime": "live", "live": "fast"}, "invalid value for type, expected a mapping @ config.live"),
        ({"runtime": "live", "live": {"model": "x"}}, "extra fields found (model) @ config.live"),
        (
            {"runtime": "live", "live": {"delegation_model": " "}},
            "must not be empty @ config.live.delegation_model",
        ),
        (
            {"runtime": "live", "live": {"greeting_event": "fixture"}},
            "must be one of commentary, instructions, got 'fixture' @ config.live.greeting_event",
        ),
        (
            {"runtime": "live", "live": {"delegation_instructions": 7}},
            "invalid value for type, expected str @ config.live.delegation_instructions",
        ),
    ],
)
def test_bad_runtime_keys_are_reported_at_their_path(raw: dict[str, Any], expected: str) -> None:
    """A wrong runtime, Live keys on a Realtime tenant, or a bad Live key: one line at its path."""
    assert errors_of({"schema_version": 1, **raw}) == [expected]
