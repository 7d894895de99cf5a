"""Process settings, read once from the environment.

Each environment variable is declared once, as the ``Settings`` field it fills:
``variable(NAME, parser, description, default=..., required=..., secret=...)``.  Everything else
is derived from those declarations: ``Settings.from_env`` and ``read_variables`` (parsing and
validation), the attribute defaults of ``Settings`` (the documented default, parsed), and
``SETTINGS``, the source of the README's configuration table and of ``callvisor --help``
(``render_settings_table`` / ``render_settings_help``).

``Settings.from_env(os.environ)`` validates every variable and raises ``SettingsError`` listing
every problem, one line each, starting with the variable's name.
"""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
from attrs import field, frozen

from . import env_values as env
from .env_values import LOG_LEVELS as LOG_LEVELS
from .env_values import Bind as Bind
from .env_values import EnvValueError
from .errors import SettingsError
from .phone import DEFAULT_REGION
from .prompts import DOWNTIME_GREETING, DOWNTIME_PROMPT

T = TypeVar("T")


@frozen(kw_only=True)
class Variable:
    """One environment variable: how it is read, shown to humans, and the field it fills."""

    name: str
    parse: Callable[[str], object] = field(repr=False)
    description: str
    default: str  # as shown to humans and parsed when unset; "" when there is none
    required: bool
    secret: bool  # never echoed in problems, hidden from repr
    unset: object  # the value when unset without a default
    computed_default: Callable[[], str] | None = field(repr=False)  # replaces ``default`` if set
    attribute: str = ""  # the Settings field it fills; set when SETTINGS is built


_VARIABLE = "callvisor.variable"  # the key of the Variable in a Settings field's metadata


def variable(
    name: str,
    parse: Callable[[str], T],
    description: str,
    *,
    default: str = "",
    required: bool = False,
    secret: bool = False,
    unset: T | None = None,
    computed_default: Callable[[], str] | None = None,
) -> T:
    """Declare a ``Settings`` field read from the environment variable ``name``.

    The field's default is ``parse(default)`` (``parse(computed_default())`` when given, computed
    per instance), else ``unset``; a required variable has none.  Secrets are left out of repr.
    Typed as the parsed value so that mypy checks the parser against the field's annotation; the
    attrs plugin of mypy then believes every field has a default, required ones included.
    """
    declared = Variable(
        name=name, parse=parse, description=description, default=default, required=required,
        secret=secret, unset=unset, computed_default=computed_default,
    )
    default_value: Any
    if required:
        default_value = attrs.NOTHING
    elif computed_default is not None:
        default_value = attrs.Factory(lambda: parse(computed_default()))
    elif default:
        default_value = parse(default)
    else:
        default_value = unset
    made: T = field(default=default_value, repr=not secret, metadata={_VARIABLE: declared})
    return made


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


_EITHER_SOURCE = "One of CALLVISOR_TENANTS_FILE or MONGODB_URI is required."


@frozen(kw_only=True)
class Settings:
    """Everything the process is told through its environment.  Build with ``from_env``.

    Constructing Settings directly (in tests) takes the same documented defaults but skips the
    validation ``from_env`` does.
    """

    openai_api_key: str = variable(
        "OPENAI_API_KEY", str.strip, required=True, secret=True, description=(
            "API key for call control (accept, reject, hang up, refer) and the sideband session."
        ),
    )
    webhook_secrets: tuple[bytes, ...] = variable(
        "OPENAI_WEBHOOK_SECRET", env.parse_webhook_secrets, required=True, secret=True,
        description=(
            "Webhook signing secrets, separated by whitespace while rotating. A `whsec_` secret is "
            "base64-decoded; any other value is used as raw UTF-8 bytes."
        ),
    )
    openai_base_url: str = variable(
        "OPENAI_BASE_URL", env.url_parser("http", "https"), default="https://api.openai.com/v1",
        description="Base URL of the OpenAI REST API.",
    )
    openai_realtime_url: str = variable(
        "OPENAI_REALTIME_URL", env.url_parser("ws", "wss"),
        default="wss://api.openai.com/v1/realtime",
        description="URL of the Realtime websocket endpoint (ws or wss).",
    )
    openai_live_url: str = variable(
        "OPENAI_LIVE_URL", env.url_parser("ws", "wss"),
        default="wss://api.openai.com/v1/live",
        description="Base URL of the GPT-Live websocket endpoints (ws or wss); a Live call's "
        "sideband attaches at {OPENAI_LIVE_URL}/sessions/{session_id}/attach.",
    )
    ssl_cert_file: Path | None = variable("SSL_CERT_FILE", env.parse_readable_file, description=(
        "PEM bundle of the CA certificates trusted for OpenAI (call control, sideband) and http "
        "tools, in place of the system bundle. To add a private CA, append it to a copy of the "
        "system bundle. Loaded once at start; a bundle without a certificate stops the start."
    ))
    ssl_cert_dir: Path | None = variable("SSL_CERT_DIR", env.parse_directory, description=(
        "OpenSSL hashed directory of trusted CA certificates, in place of the system directory."
    ))
    tenants_file: Path | None = variable(
        "CALLVISOR_TENANTS_FILE", env.parse_readable_file,
        f"YAML file holding the tenants. {_EITHER_SOURCE}",
    )
    mongodb_uri: str | None = variable(
        "MONGODB_URI", env.parse_mongodb_uri,
        f"Connection string of the MongoDB tenant store. {_EITHER_SOURCE}", secret=True,
    )
    mongodb_database: str = variable(
        "MONGODB_DATABASE", env.parse_database_name, "Database of the MongoDB tenant store.",
        default="callvisor",
    )
    mongodb_timeout_ms: int = variable(
        "MONGODB_TIMEOUT_MS", env.whole_number_parser(minimum=100), default="2000", description=(
            "Timeout of each MongoDB operation (server selection, connect, socket, overall), in "
            "milliseconds, at least 100. Server selection waits in 0.5 s steps, so values below "
            "500 still take about 0.5 s."
        ),
    )
    cluster: str = variable(
        "CALLVISOR_CLUSTER", env.parse_cluster_mode, default="none", description=(
            "`mongodb`: share capacity leases, webhook dedup and the call registry with other "
            "replicas through MONGODB_URI (required then). `none`: this process alone."
        ),
    )
    lease_ttl_s: float = variable(
        "CALLVISOR_LEASE_TTL_S", env.number_parser(at_least=3), default="30.0", description=(
            "Cluster mode: lifetime of a capacity lease, renewed every third of it; a crashed "
            "replica's slots come free within this time. At least 3 seconds."
        ),
    )
    http_bind: Bind = variable(
        "CALLVISOR_HTTP", env.parse_bind, default="0.0.0.0:8000",
        description="host:port of the public app (webhooks, health); IPv6 as [::1]:8000.",
    )
    admin_bind: Bind = variable(
        "CALLVISOR_ADMIN", env.parse_bind, default="127.0.0.1:8001",
        description="host:port of the operator app. A non-loopback address requires ADMIN_TOKEN.",
    )
    admin_token: str | None = variable(
        "ADMIN_TOKEN", str.strip, "Bearer token the operator app asks for.", secret=True
    )
    max_concurrent_calls: int = variable(
        "MAX_CONCURRENT_CALLS", env.whole_number_parser(minimum=1), default="100",
        description="Calls this process runs at once, all tenants together.",
    )
    log_level: str = variable(
        "LOG_LEVEL", env.parse_log_level, "One of DEBUG, INFO, WARNING, ERROR.", default="INFO"
    )
    webhook_tolerance_s: int = variable(
        "CALLVISOR_WEBHOOK_TOLERANCE_S", env.whole_number_parser(minimum=1), default="300",
        description="Largest accepted age (and clock skew) of a webhook timestamp, in seconds.",
    )
    call_control_timeout_s: float = variable(
        "CALLVISOR_CALL_CONTROL_TIMEOUT_S", env.number_parser(above=0), default="3.0",
        description="Timeout of one accept, reject, hang up or refer request, in seconds.",
    )
    session_start_timeout_s: float = variable(
        "CALL_SESSION_START_TIMEOUT_S", env.number_parser(above=0), default="10.0",
        description="Time allowed for the sideband session to come up after accept, in seconds.",
    )
    drain_grace_s: float = variable(
        "CALLVISOR_DRAIN_GRACE_S", env.number_parser(at_least=0), default="30.0",
        description=(
            "On drain, time running calls get to finish before they are hung up, in seconds."
        ),
    )
    default_region: str = variable(
        "CALLVISOR_DEFAULT_REGION", env.parse_region, default=DEFAULT_REGION,
        description="Region (ISO 3166 alpha-2) for dialed numbers written without a country code.",
    )
    replica_id: str = variable(
        "CALLVISOR_REPLICA_ID", str.strip, default="<hostname>-<pid>",
        computed_default=_default_replica_id,
        description=(
            "Name of this process, shown by GET /health, GET /actors and the service_started "
            "log line."
        ),
    )
    tool_allowed_hosts: frozenset[str] = variable(
        "CALLVISOR_TOOL_ALLOWED_HOSTS", env.parse_hosts, unset=frozenset(), description=(
            "Host names http tools may call, separated by commas or whitespace. "
            "When empty, no http tool can be built."
        ),
    )
    tool_allow_plain_http: bool = variable(
        "CALLVISOR_TOOL_ALLOW_HTTP", env.parse_flag, default="false",
        description="Allow plain http:// tool URLs (local development and tests only).",
    )
    downtime_greeting: str = variable(
        "DOWNTIME_GREETING", str, default=DOWNTIME_GREETING,
        description="Greeting used when the tenant store fails while a call is being decided.",
    )
    downtime_prompt: str = variable(
        "DOWNTIME_PROMPT", str, default=DOWNTIME_PROMPT,
        description="Instructions used when the tenant store fails while a call is being decided.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate ``environ`` and build the settings; raise SettingsError listing every problem.

        An empty (or blank) value counts as unset.  Unset variables take their documented
        default; the replica id defaults to ``<hostname>-<pid>``.
        """
        problems: list[str] = []
        values: dict[str, Any] = {}
        for declared in SETTINGS:
            values[declared.attribute] = _read(environ, declared, problems)
        if _unset(environ, "CALLVISOR_TENANTS_FILE") and _unset(environ, "MONGODB_URI"):
            problems.append(f"CALLVISOR_TENANTS_FILE: {_EITHER_SOURCE.removesuffix('.')}")
        if values["cluster"] == "mongodb" and _unset(environ, "MONGODB_URI"):
            problems.append("CALLVISOR_CLUSTER: mongodb requires MONGODB_URI")
        admin_bind = values["admin_bind"]
        if admin_bind is not None and not admin_bind.is_loopback and values["admin_token"] is None:
            problems.append("CALLVISOR_ADMIN: binding a non-loopback address requires ADMIN_TOKEN")
        if problems:
            raise SettingsError(problems)
        return cls(**{name: value for name, value in values.items() if value is not None})


SETTINGS: tuple[Variable, ...] = tuple(
    attrs.evolve(attribute.metadata[_VARIABLE], attribute=attribute.name)
    for attribute in attrs.fields(Settings)
)
"""Every variable, in the order of the Settings fields (that of the README and --help)."""

_BY_NAME = {declared.name: declared for declared in SETTINGS}


def read_variables(environ: Mapping[str, str], names: Sequence[str]) -> dict[str, Any]:
    """Validate only the variables ``names``, as ``from_env`` does, for commands needing a few.

    Returns ``{name: value}``, an unset variable taking its ``Settings`` default (None for
    ``MONGODB_URI`` and the others without one: whether it was needed is the caller's call).
    Raises SettingsError listing every problem.
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in names:
        declared = attrs.evolve(_BY_NAME[name], required=False)
        value = _read(environ, declared, problems)
        values[name] = declared.unset if value is None else value
    if problems:
        raise SettingsError(problems)
    return values


def _unset(environ: Mapping[str, str], name: str) -> bool:
    return not environ.get(name, "").strip()


def _read(environ: Mapping[str, str], declared: Variable, problems: list[str]) -> object:
    """Parse one variable, or its default; None when it is unset without a default."""
    if not _unset(environ, declared.name):
        raw = environ[declared.name]
    elif declared.computed_default is not None:
        raw = declared.computed_default()
    elif declared.default:
        raw = declared.default
    else:
        if declared.required:
            problems.append(f"{declared.name}: required, but not set")
        return None
    try:
        return declared.parse(raw)
    except EnvValueError as exc:
        shown = "" if declared.secret else f", got {_shown(raw)}"
        problems.append(f"{declared.name}: {exc}{shown}")
        return None


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 80 else raw[:77] + "...")


def _described(declared: Variable) -> str:
    if declared.secret:
        return f"{declared.description} Secret: never logged."
    return declared.description


def render_settings_table() -> str:
    """The configuration table of the README, in Markdown."""
    lines = ["| Variable | Default | Required | Description |", "|---|---|---|---|"]
    for declared in SETTINGS:
        default = f"`{declared.default}`" if declared.default else ""
        cells = (
            f"`{declared.name}`", default, "yes" if declared.required else "", _described(declared)
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def render_settings_help() -> str:
    """The environment section of ``callvisor --help``, in plain text."""
    lines = ["Environment variables (read by `serve`):"]
    for declared in SETTINGS:
        if declared.required:
            note = "required"
        elif declared.default:
            note = f"default: {declared.default}"
        else:
            note = "optional"
        lines.append(f"  {declared.name}  ({note})")
        indent = " " * 6
        wrapped = textwrap.wrap(
            _described(declared), width=96, initial_indent=indent, subsequent_indent=indent
        )
        lines.extend(wrapped)
    return "\n".join(lines) + "\n"
