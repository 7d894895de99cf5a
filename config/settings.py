"""Process settings, read once from the environment.

``Settings.from_env(os.environ)`` validates every variable and raises ``SettingsError`` listing
every problem, one line each, starting with the variable's name.  ``SETTINGS`` documents the
variables; it is the single source of the README's configuration table and of
``callvisor --help`` (``render_settings_table`` / ``render_settings_help``), and the documented
defaults are the defaults actually used.
"""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from . import env_values as env
from .env_values import LOG_LEVELS as LOG_LEVELS
from .env_values import Bind as Bind
from .env_values import EnvValueError
from .errors import SettingsError
from .phone import DEFAULT_REGION
from .prompts import DOWNTIME_GREETING, DOWNTIME_PROMPT


@frozen(kw_only=True)
class SettingDoc:
    """One environment variable as shown to humans."""

    name: str
    default: str  # as shown to humans; "" when there is none
    required: bool
    description: str
    secret: bool = False  # never echoed in problems, hidden from repr


def _doc(
    name: str, default: str, description: str, *, required: bool = False, secret: bool = False
) -> SettingDoc:
    return SettingDoc(
        name=name, default=default, required=required, description=description, secret=secret
    )


_EITHER_SOURCE = "One of CALLVISOR_TENANTS_FILE or MONGODB_URI is required."

SETTINGS: tuple[SettingDoc, ...] = (
    _doc("OPENAI_API_KEY", "", required=True, secret=True, description=(
        "API key for call control (accept, reject, hang up, refer) and the sideband session."
    )),
    _doc("OPENAI_WEBHOOK_SECRET", "", required=True, secret=True, description=(
        "Webhook signing secrets, separated by whitespace while rotating. A `whsec_` secret is "
        "base64-decoded; any other value is used as raw UTF-8 bytes."
    )),
    _doc("OPENAI_BASE_URL", "https://api.openai.com/v1", "Base URL of the OpenAI REST API."),
    _doc("OPENAI_REALTIME_URL", "wss://api.openai.com/v1/realtime",
         "URL of the Realtime websocket endpoint (ws or wss)."),
    _doc("SSL_CERT_FILE", "", (
        "PEM bundle of the CA certificates trusted for OpenAI (call control, sideband) and http "
        "tools, in place of the system bundle. To add a private CA, append it to a copy of the "
        "system bundle. Loaded once at start; a bundle without a certificate stops the start."
    )),
    _doc("SSL_CERT_DIR", "", (
        "OpenSSL hashed directory of trusted CA certificates, in place of the system directory."
    )),
    _doc("CALLVISOR_TENANTS_FILE", "", f"YAML file holding the tenants. {_EITHER_SOURCE}"),
    _doc("MONGODB_URI", "", f"Connection string of the MongoDB tenant store. {_EITHER_SOURCE}",
         secret=True),
    _doc("MONGODB_DATABASE", "callvisor", "Database of the MongoDB tenant store."),
    _doc("MONGODB_TIMEOUT_MS", "2000", (
        "Timeout of each MongoDB operation (server selection, connect, socket, overall), in "
        "milliseconds, at least 100. Server selection waits in 0.5 s steps, so values below "
        "500 still take about 0.5 s."
    )),
    _doc("CALLVISOR_CLUSTER", "none", (
        "`mongodb`: share capacity leases, webhook dedup and the call registry with other "
        "replicas through MONGODB_URI (required then). `none`: this process alone."
    )),
    _doc("CALLVISOR_LEASE_TTL_S", "30.0", (
        "Cluster mode: lifetime of a capacity lease, renewed every third of it; a crashed "
        "replica's slots come free within this time. At least 3 seconds."
    )),
    _doc("CALLVISOR_HTTP", "0.0.0.0:8000",
         "host:port of the public app (webhooks, health); IPv6 as [::1]:8000."),
    _doc("CALLVISOR_ADMIN", "127.0.0.1:8001",
         "host:port of the operator app. A non-loopback address requires ADMIN_TOKEN."),
    _doc("ADMIN_TOKEN", "", "Bearer token the operator app asks for.", secret=True),
    _doc("MAX_CONCURRENT_CALLS", "100", "Calls this process runs at once, all tenants together."),
    _doc("LOG_LEVEL", "INFO", "One of DEBUG, INFO, WARNING, ERROR."),
    _doc("CALLVISOR_WEBHOOK_TOLERANCE_S", "300",
         "Largest accepted age (and clock skew) of a webhook timestamp, in seconds."),
    _doc("CALLVISOR_CALL_CONTROL_TIMEOUT_S", "3.0",
         "Timeout of one accept, reject, hang up or refer request, in seconds."),
    _doc("CALL_SESSION_START_TIMEOUT_S", "10.0",
         "Time allowed for the sideband session to come up after accept, in seconds."),
    _doc("CALLVISOR_DRAIN_GRACE_S", "30.0",
         "On drain, time running calls get to finish before they are hung up, in seconds."),
    _doc("CALLVISOR_DEFAULT_REGION", DEFAULT_REGION,
         "Region (ISO 3166 alpha-2) for dialed numbers written without a country code."),
    _doc("CALLVISOR_REPLICA_ID", "<hostname>-<pid>",
         "Name of this process, shown by GET /health, GET /actors and the service_started log line."),
    _doc("CALLVISOR_TOOL_ALLOWED_HOSTS", "", (
        "Host names http tools may call, separated by commas or whitespace. "
        "When empty, no http tool can be built."
    )),
    _doc("CALLVISOR_TOOL_ALLOW_HTTP", "false",
         "Allow plain http:// tool URLs (local development and tests only)."),
    _doc("DOWNTIME_GREETING", DOWNTIME_GREETING,
         "Greeting used when the tenant store fails while a call is being decided."),
    _doc("DOWNTIME_PROMPT", DOWNTIME_PROMPT,
         "Instructions used when the tenant store fails while a call is being decided."),
)

# The Settings field each variable fills, and its parser; in the order of SETTINGS.
_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "OPENAI_API_KEY": ("openai_api_key", str.strip),
    "OPENAI_WEBHOOK_SECRET": ("webhook_secrets", env.parse_webhook_secrets),
    "OPENAI_BASE_URL": ("openai_base_url", env.url_parser("http", "https")),
    "OPENAI_REALTIME_URL": ("openai_realtime_url", env.url_parser("ws", "wss")),
    "SSL_CERT_FILE": ("ssl_cert_file", env.parse_readable_file),
    "SSL_CERT_DIR": ("ssl_cert_dir", env.parse_directory),
    "CALLVISOR_TENANTS_FILE": ("tenants_file", env.parse_readable_file),
    "MONGODB_URI": ("mongodb_uri", env.parse_mongodb_uri),
    "MONGODB_DATABASE": ("mongodb_database", env.parse_database_name),
    "MONGODB_TIMEOUT_MS": ("mongodb_timeout_ms", env.whole_number_parser(minimum=100)),
    "CALLVISOR_CLUSTER": ("cluster", env.parse_cluster_mode),
    "CALLVISOR_LEASE_TTL_S": ("lease_ttl_s", env.number_parser(at_least=3)),
    "CALLVISOR_HTTP": ("http_bind", env.parse_bind),
    "CALLVISOR_ADMIN": ("admin_bind", env.parse_bind),
    "ADMIN_TOKEN": ("admin_token", str.strip),
    "MAX_CONCURRENT_CALLS": ("max_concurrent_calls", env.whole_number_parser(minimum=1)),
    "LOG_LEVEL": ("log_level", env.parse_log_level),
    "CALLVISOR_WEBHOOK_TOLERANCE_S": ("webhook_tolerance_s", env.whole_number_parser(minimum=1)),
    "CALLVISOR_CALL_CONTROL_TIMEOUT_S": ("call_control_timeout_s", env.number_parser(above=0)),
    "CALL_SESSION_START_TIMEOUT_S": ("session_start_timeout_s", env.number_parser(above=0)),
    "CALLVISOR_DRAIN_GRACE_S": ("drain_grace_s", env.number_parser(at_least=0)),
    "CALLVISOR_DEFAULT_REGION": ("default_region", env.parse_region),
    "CALLVISOR_REPLICA_ID": ("replica_id", str.strip),
    "CALLVISOR_TOOL_ALLOWED_HOSTS": ("tool_allowed_hosts", env.parse_hosts),
    "CALLVISOR_TOOL_ALLOW_HTTP": ("tool_allow_plain_http", env.parse_flag),
    "DOWNTIME_GREETING": ("downtime_greeting", str),
    "DOWNTIME_PROMPT": ("downtime_prompt", str),
}

_HTTP_BIND = Bind("0.0.0.0", 8000)
_ADMIN_BIND = Bind("127.0.0.1", 8001)


def _default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@frozen(kw_only=True)
class Settings:
    """Everything the process is told through its environment.  Build with ``from_env``.

    The defaults below are those of ``SETTINGS``; constructing Settings directly (in tests)
    skips the validation ``from_env`` does.
    """

    openai_api_key: str = field(repr=False)
    webhook_secrets: tuple[bytes, ...] = field(repr=False)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_realtime_url: str = "wss://api.openai.com/v1/realtime"
    ssl_cert_file: Path | None = None
    ssl_cert_dir: Path | None = None
    tenants_file: Path | None = None
    mongodb_uri: str | None = field(default=None, repr=False)
    mongodb_database: str = "callvisor"
    mongodb_timeout_ms: int = 2000
    cluster: str = "none"
    lease_ttl_s: float = 30.0
    http_bind: Bind = _HTTP_BIND
    admin_bind: Bind = _ADMIN_BIND
    admin_token: str | None = field(default=None, repr=False)
    max_concurrent_calls: int = 100
    log_level: str = "INFO"
    webhook_tolerance_s: int = 300
    call_control_timeout_s: float = 3.0
    session_start_timeout_s: float = 10.0
    drain_grace_s: float = 30.0
    default_region: str = DEFAULT_REGION
    replica_id: str = field(factory=_default_replica_id)
    tool_allowed_hosts: frozenset[str] = frozenset()
    tool_allow_plain_http: bool = False
    downtime_greeting: str = DOWNTIME_GREETING
    downtime_prompt: str = DOWNTIME_PROMPT

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate ``environ`` and build the settings; raise SettingsError listing every problem.

        An empty (or blank) value counts as unset.  Unset variables take their documented
        default; the replica id defaults to ``<hostname>-<pid>``.
        """
        problems: list[str] = []
        computed = {"CALLVISOR_REPLICA_ID": _default_replica_id()}
        values: dict[str, Any] = {}
        for doc in SETTINGS:
            field_name, parse = _FIELDS[doc.name]
            values[field_name] = _read(environ, doc, parse, problems, computed.get(doc.name))
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


def read_variables(environ: Mapping[str, str], names: Sequence[str]) -> dict[str, Any]:
    """Validate only the variables ``names``, as ``from_env`` does, for commands needing a few.

    Returns ``{name: value}``, an unset variable taking its ``Settings`` default (None for
    ``MONGODB_URI`` and the others without one: whether it was needed is the caller's call).
    Raises SettingsError listing every problem.
    """
    docs = {doc.name: doc for doc in SETTINGS}
    fields = attrs.fields_dict(Settings)
    computed = {"CALLVISOR_REPLICA_ID": _default_replica_id()}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in names:
        field_name, parse = _FIELDS[name]
        doc = attrs.evolve(docs[name], required=False)
        value = _read(environ, doc, parse, problems, computed.get(name))
        values[name] = fields[field_name].default if value is None else value
    if problems:
        raise SettingsError(problems)
    return values


def _unset(environ: Mapping[str, str], name: str) -> bool:
    return not environ.get(name, "").strip()


def _read(
    environ: Mapping[str, str],
    doc: SettingDoc,
    parse: Callable[[str], object],
    problems: list[str],
    computed_default: str | None,
) -> object:
    """Parse one variable, or its default; None when it is unset without a default."""
    if not _unset(environ, doc.name):
        raw = environ[doc.name]
    elif computed_default is not None or doc.default:
        raw = computed_default or doc.default
    else:
        if doc.required:
            problems.append(f"{doc.name}: required, but not set")
        return None
    try:
        return parse(raw)
    except EnvValueError as exc:
        shown = "" if doc.secret else f", got {_shown(raw)}"
        problems.append(f"{doc.name}: {exc}{shown}")
        return None


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 80 else raw[:77] + "...")


def _described(doc: SettingDoc) -> str:
    return f"{doc.description} Secret: never logged." if doc.secret else doc.description


def render_settings_table() -> str:
    """The configuration table of the README, in Markdown."""
    lines = ["| Variable | Default | Required | Description |", "|---|---|---|---|"]
    for doc in SETTINGS:
        default = f"`{doc.default}`" if doc.default else ""
        cells = (f"`{doc.name}`", default, "yes" if doc.required else "", _described(doc))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def render_settings_help() -> str:
    """The environment section of ``callvisor --help``, in plain text."""
    lines = ["Environment variables (read by `serve`):"]
    for doc in SETTINGS:
        if doc.required:
            note = "required"
        elif doc.default:
            note = f"default: {doc.default}"
        else:
            note = "optional"
        lines.append(f"  {doc.name}  ({note})")
        indent = " " * 6
        wrapped = textwrap.wrap(
            _described(doc), width=96, initial_indent=indent, subsequent_indent=indent
        )
        lines.extend(wrapped)
    return "\n".join(lines) + "\n"
