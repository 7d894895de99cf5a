"""What callvisor sends on a sideband, checked against the openai SDK's own types.

:func:`check_client_event` validates one client event against the member of the SDK's client
event union its ``type`` names (``openai.types.live.ConnectClientEventParam`` for GPT-Live,
``openai.types.realtime.RealtimeClientEventParam`` for Realtime): pydantic checks the types,
and the keys are checked by hand, since a ``TypedDict`` lets unknown keys through and the Live
API rejects them.  A ``function_call_output`` item is checked the same way.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

import pydantic
from openai.types.live.connect_client_event_param import ConnectClientEventParam
from openai.types.realtime.realtime_client_event_param import RealtimeClientEventParam
from openai.types.responses.response_input_item_param import (
    FunctionCallOutput as LiveFunctionCallOutput,
)

UNIONS: dict[str, Any] = {"live": ConnectClientEventParam, "realtime": RealtimeClientEventParam}


@functools.cache
def _members(runtime: str) -> dict[str, Any]:
    """The union's TypedDicts by the ``type`` literal each names."""
    members = {}
    for member in typing.get_args(UNIONS[runtime]):
        (literal,) = typing.get_args(typing.get_type_hints(member)["type"])
        members[literal] = member
    return members


def _keys(typed_dict: Any) -> frozenset[str]:
    return frozenset(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def check_client_event(runtime: str, event: dict[str, Any]) -> None:
    """Raise unless ``event`` is a client event of ``runtime``'s sideband, as the SDK types it."""
    member = _members(runtime).get(event.get("type"))
    assert member is not None, f"{event.get('type')!r} is no {runtime} client event"
    pydantic.TypeAdapter(member).validate_python(event)
    assert set(event) <= _keys(member), f"keys the SDK does not name: {set(event) - _keys(member)}"
    item = event.get("item")
    if runtime == "live" and isinstance(item, dict) and item.get("type") == "function_call_output":
        pydantic.TypeAdapter(LiveFunctionCallOutput).validate_python(item)
        assert set(item) <= _keys(LiveFunctionCallOutput)


def check_client_events(runtime: str, events: list[dict[str, Any]]) -> int:
    """Check every event; returns how many there were."""
    for event in events:
        check_client_event(runtime, event)
    return len(events)
