"""A tenant's configuration and its tools, as frozen attrs classes.

``TenantConfig`` is what the config document of a tenant holds once ``config.convert`` has
structured it.  Its ``tools`` stay raw mappings: a broken tool must not break the config (it is
reported as ``tool_build_error`` and the call goes on without tools), so tools are built apart,
by ``config.resolve.build_tools``, into the tool specs below.

Validators raise ``InvalidField``, which names the field so that a failure is reported at the
field's path (``config.limits.max_call_duration_s``).
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any, ClassVar

from attrs import Attribute, Factory, field, frozen

from .errors import InvalidField

CURRENT_SCHEMA_VERSION = 1
"""The only ``schema_version`` a config document may have."""

MAX_CALL_DURATION_S = 86_400.0
MAX_HTTP_TIMEOUT_S = 30.0
MAX_HTTP_RESPONSE_BYTES = 1024 * 1024

#: The runtimes a tenant's calls can run on: OpenAI's Realtime API or GPT-Live.
RUNTIMES = ("realtime", "live")
#: The model a tenant gets when its config names none, by runtime.
DEFAULT_MODEL_BY_RUNTIME = {"realtime": "gpt-realtime", "live": "gpt-live-1"}
#: The Responses model that runs a Live tenant's tools when ``live.delegation_model`` is unset.
DEFAULT_DELEGATION_MODEL = "gpt-5.4-mini"
#: The backend prompt of a Live tenant's Responses delegation when
#: ``live.delegation_instructions`` is unset.
DEFAULT_DELEGATION_INSTRUCTIONS = (
    "You act for a voice agent on a phone call. When it hands you a task, call the one function "
    "that does it, then reply in one short sentence the agent can say to the caller."
)

#: The values of a Live tenant's ``live.greeting_event``.
GREETING_EVENTS = ("commentary", "instructions")

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
TRANSFER_SCHEMES = ("tel:", "sip:", "sips:")


def _non_empty(_inst: object, attribute: Attribute[str], value: str) -> None:
    if not value.strip():
        raise InvalidField(attribute.name, "must not be empty")


def _positive_up_to(limit: float) -> Any:
    def check(_inst: object, attribute: Attribute[float], value: float) -> None:
        if not (math.isfinite(value) and 0 < value <= limit):
            raise InvalidField(attribute.name, f"must be > 0 and <= {limit:g}, got {value:g}")

    return check


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_inst: object, attribute: Attribute[str], value: str) -> None:
        if value not in choices:
            raise InvalidField(attribute.name, f"must be one of {', '.join(choices)}, got {value!r}")

    return check


def _tool_name(_inst: object, attribute: Attribute[str], value: str) -> None:
    if not TOOL_NAME.fullmatch(value):
        raise InvalidField(attribute.name, "must be 1-64 characters of a-z, A-Z, 0-9, _ and -")


@frozen(kw_only=True)
class Limits:
    """Per-tenant limits; ``max_concurrent_calls`` None means only the global limit applies."""

    max_concurrent_calls: int | None = field(default=None)
    max_call_duration_s: float = field(
        default=3600.0, validator=_positive_up_to(MAX_CALL_DURATION_S)
    )

    @max_concurrent_calls.validator
    def _check_max_concurrent_calls(
        self, attribute: Attribute[int | None], value: int | None
    ) -> None:
        if value is not None and value < 1:
            raise InvalidField(attribute.name, f"must be >= 1, got {value}")


@frozen(kw_only=True)
class LiveOptions:
    """The keys only a Live tenant has: the Responses delegation that runs its tools.

    GPT-Live has no function tools of its own; it hands tasks to a Responses model, whose
    model and prompt these are.  The tenant's voice-facing instructions stay its prompts'.
    """

    delegation_model: str = field(default=DEFAULT_DELEGATION_MODEL, validator=_non_empty)
    delegation_instructions: str = field(
        default=DEFAULT_DELEGATION_INSTRUCTIONS, validator=_non_empty
    )
    #: Which append asks the Live model to speak the greeting (GPT-Live has no speech-triggering
    #: ``response.create``): ``commentary`` (``session.commentary.append`` with the greeting's
    #: words) or ``instructions`` (``session.instructions.append`` telling it to greet).
    #: docs/decisions/0013-live-greeting-by-commentary.md says why commentary is the default.
    greeting_event: str = field(default="commentary", validator=_one_of(GREETING_EVENTS))


def _default_model(config: TenantConfig) -> str:
    return DEFAULT_MODEL_BY_RUNTIME.get(config.runtime, DEFAULT_MODEL_BY_RUNTIME["realtime"])


@frozen(kw_only=True)
class TenantConfig:
    """A tenant's validated config document."""

    schema_version: int = field()
    runtime: str = field(default="realtime", validator=_one_of(RUNTIMES))
    # After ``runtime``: its default depends on it.
    model: str = field(default=Factory(_default_model, takes_self=True), validator=_non_empty)
    voice: str = field(default="marin", validator=_non_empty)
    limits: Limits = field(factory=Limits)
    tools: tuple[dict[str, Any], ...] = ()
    #: Only for ``runtime: live``; None there means the defaults (see ``live_options``).
    live: LiveOptions | None = field(default=None)

    @live.validator
    def _check_live(self, attribute: Attribute[LiveOptions | None], value: LiveOptions | None) -> None:
        if value is not None and self.runtime != "live":
            raise InvalidField(attribute.name, f"only for runtime live (this tenant's is {self.runtime})")

    @property
    def live_options(self) -> LiveOptions:
        """The Live keys, defaults filled in (meaningful for a Live tenant only)."""
        return self.live if self.live is not None else LiveOptions()

    @schema_version.validator
    def _check_schema_version(self, attribute: Attribute[int], value: int) -> None:
        if value != CURRENT_SCHEMA_VERSION:
            raise InvalidField(
                attribute.name,
                f"unsupported schema version {value} (supported version: {CURRENT_SCHEMA_VERSION})",
            )


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "name": name, "description": description, "parameters": parameters}


@frozen(kw_only=True)
class EndCallTool:
    """Lets the model hang up once it has said goodbye."""

    kind: ClassVar[str] = "end_call"

    name: str = field(default="end_call", validator=_tool_name)
    description: str = field(
        default=(
            "Hang up the phone call. Use it after saying goodbye, once the caller's request is "
            "handled or the caller asks to end the call."
        ),
        validator=_non_empty,
    )
    goodbye_timeout_s: float = field(default=10.0, validator=_positive_up_to(60.0))

    def to_openai(self) -> dict[str, Any]:
        """The Realtime function tool announced to the model."""
        reason = {"type": "string", "description": "Why the call ends, in a few words."}
        parameters = {
            "type": "object",
            "properties": {"reason": reason},
            "additionalProperties": False,
        }
        return _function(self.name, self.description, parameters)


@frozen(kw_only=True)
class TransferCallTool:
    """Lets the model hand the caller over to ``target_uri`` (a SIP REFER)."""

    kind: ClassVar[str] = "transfer_call"

    target_uri: str = field()
    name: str = field(default="transfer_call", validator=_tool_name)
    description: str = field(
        default=(
            "Transfer the caller to a person. Use it when the caller asks for a human or needs "
            "help you cannot give."
        ),
        validator=_non_empty,
    )
    close_timeout_s: float = field(default=15.0, validator=_positive_up_to(60.0))

    @target_uri.validator
    def _check_target_uri(self, attribute: Attribute[str], value: str) -> None:
        scheme = next((s for s in TRANSFER_SCHEMES if value.lower().startswith(s)), None)
        if scheme is None or not value[len(scheme) :].strip():
            raise InvalidField(attribute.name, "must be a tel:, sip: or sips: URI")

    def to_openai(self) -> dict[str, Any]:
        """The Realtime function tool announced to the model."""
        parameters = {"type": "object", "properties": {}, "additionalProperties": False}
        return _function(self.name, self.description, parameters)


def _empty_object_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@frozen(kw_only=True)
class HttpTool:
    """A tool the model calls with JSON arguments, answered by POSTing them to ``url``.

    The URL's scheme and host are checked against the process settings by ``build_tools``.
    """

    kind: ClassVar[str] = "http"

    name: str = field(validator=_tool_name)
    description: str = field(validator=_non_empty)
    url: str = field(validator=_non_empty)
    parameters: dict[str, Any] = field(factory=_empty_object_schema)
    timeout_s: float = field(default=5.0, validator=_positive_up_to(MAX_HTTP_TIMEOUT_S))
    max_response_bytes: int = field(default=65536)

    @parameters.validator
    def _check_parameters(
        self, attribute: Attribute[dict[str, Any]], value: dict[str, Any]
    ) -> None:
        if value.get("type") != "object":
            raise InvalidField(attribute.name, 'must be a JSON schema with "type": "object"')
        if not isinstance(value.get("properties", {}), dict):
            raise InvalidField(attribute.name, '"properties" must be a mapping')

    @max_response_bytes.validator
    def _check_max_response_bytes(self, attribute: Attribute[int], value: int) -> None:
        if not 1 <= value <= MAX_HTTP_RESPONSE_BYTES:
            raise InvalidField(attribute.name, f"must be 1..{MAX_HTTP_RESPONSE_BYTES}, got {value}")

    def to_openai(self) -> dict[str, Any]:
        """The Realtime function tool announced to the model: a fresh copy, the caller's to keep.

        Built tools are shared by every call of the tenant (``config.resolve`` caches them), so
        the schema is copied, by ``fresh_copy`` (a third of the cost of ``copy.deepcopy``).
        """
        return _function(self.name, self.description, fresh_copy(self.parameters))


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def fresh_copy(value: Any) -> Any:
    """A deep copy of a JSON-shaped value: new dicts and lists, the same immutable leaves.

    Anything else YAML or BSON can hold (a set, a date) goes through ``copy.deepcopy``.
    """
    kind = type(value)
    if kind is dict:
        return {key: fresh_copy(item) for key, item in value.items()}
    if kind is list:
        return [fresh_copy(item) for item in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


ToolSpec = EndCallTool | TransferCallTool | HttpTool
"""A built tool, ready to be announced to the model (``to_openai``)."""

TOOL_KINDS: dict[str, type[ToolSpec]] = {
    cls.kind: cls for cls in (EndCallTool, TransferCallTool, HttpTool)
}
"""Tool classes by the ``kind`` a raw tool mapping names."""
