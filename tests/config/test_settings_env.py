"""Settings.from_env: defaults, validation, problem lines, secrets, and the documentation table."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path

import attrs
import pytest

from config.errors import ApplicationError, SettingsError
from config.prompts import DOWNTIME_GREETING, DOWNTIME_PROMPT
from config.settings import (
    SETTINGS,
    Bind,
    Settings,
    render_settings_help,
    render_settings_table,
)

KEY = b"\x01\x02 webhook signing key \xfe\xff"
WHSEC = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text("tenants: []\n")
    return {
        "OPENAI_API_KEY": "sk-test-key-123",
        "OPENAI_WEBHOOK_SECRET": WHSEC,
        "CALLVISOR_TENANTS_FILE": str(tenants),
    }


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(environ)
    return info.value.problems


def test_minimal_environment_gets_the_documented_defaults(env: dict[str, str]) -> None:
    """With only the required variables set, every other setting takes its documented default."""
    settings = Settings.from_env(env)
    assert settings.openai_api_key == "sk-test-key-123"
    assert settings.webhook_secrets == (KEY,)
    assert settings.tenants_file == Path(env["CALLVISOR_TENANTS_FILE"])
    assert settings.mongodb_uri is None
    assert settings.openai_base_url == "https://api.openai.com/v1"
    assert settings.openai_realtime_url == "wss://api.openai.com/v1/realtime"
    assert settings.http_bind == Bind("0.0.0.0", 8000)
    assert settings.admin_bind == Bind("127.0.0.1", 8001)
    assert settings.admin_token is None
    assert settings.max_concurrent_calls == 100
    assert settings.log_level == "INFO"
    assert settings.webhook_tolerance_s == 300
    assert settings.call_control_timeout_s == 3.0
    assert settings.session_start_timeout_s == 10.0
    assert settings.drain_grace_s == 30.0
    assert settings.default_region == "US"
    assert settings.replica_id == f"{socket.gethostname()}-{os.getpid()}"
    assert settings.tool_allowed_hosts == frozenset()
    assert settings.tool_allow_plain_http is False
    assert settings.downtime_greeting == DOWNTIME_GREETING
    assert settings.downtime_prompt == DOWNTIME_PROMPT


def test_downtime_defaults_are_the_guides_fallback_texts() -> None:
    """The fallback prompts are exactly the texts of the troubleshooting guide."""
    assert DOWNTIME_GREETING == "Thank you for calling. We're experiencing technical difficulties."
    assert DOWNTIME_PROMPT == "Apologize and ask caller to try again later."


def test_every_variable_is_read(env: dict[str, str]) -> None:
    """Each documented variable sets its field when given."""
    env |= {
        "OPENAI_BASE_URL": "http://127.0.0.1:9000/v1",
        "OPENAI_REALTIME_URL": "ws://127.0.0.1:9000/v1/realtime",
        "MONGODB_URI": "mongodb://db.internal:27017/callvisor",
        "CALLVISOR_HTTP": "[::]:8080",
        "CALLVISOR_ADMIN": "10.0.0.5:9001",
        "ADMIN_TOKEN": "admin-token-xyz",
        "MAX_CONCURRENT_CALLS": "7",
        "LOG_LEVEL": "debug",
        "CALLVISOR_WEBHOOK_TOLERANCE_S": "60",
        "CALLVISOR_CALL_CONTROL_TIMEOUT_S": "1.5",
        "CALL_SESSION_START_TIMEOUT_S": "4",
        "CALLVISOR_DRAIN_GRACE_S": "0",
        "CALLVISOR_DEFAULT_REGION": "gb",
        "CALLVISOR_REPLICA_ID": "replica-a",
        "CALLVISOR_TOOL_ALLOWED_HOSTS": "Tools.Acme.example, api.example.org\tlocalhost",
        "CALLVISOR_TOOL_ALLOW_HTTP": "yes",
        "DOWNTIME_GREETING": "We are closed for maintenance.",
        "DOWNTIME_PROMPT": "Say sorry and suggest calling back tomorrow.",
    }
    settings = Settings.from_env(env)
    assert settings.openai_base_url == "http://127.0.0.1:9000/v1"
    assert settings.openai_realtime_url == "ws://127.0.0.1:9000/v1/realtime"
    assert settings.mongodb_uri == "mongodb://db.internal:27017/callvisor"
    assert settings.http_bind == Bind("::", 8080)
    assert settings.admin_bind == Bind("10.0.0.5", 9001)
    assert settings.admin_token == "admin-token-xyz"
    assert settings.max_concurrent_calls == 7
    assert settings.log_level == "DEBUG"
    assert settings.webhook_tolerance_s == 60
    assert settings.call_control_timeout_s == 1.5
    assert settings.session_start_timeout_s == 4.0
    assert settings.drain_grace_s == 0.0
    assert settings.default_region == "GB"
    assert settings.replica_id == "replica-a"
    assert settings.tool_allowed_hosts == {"tools.acme.example", "api.example.org", "localhost"}
    assert settings.tool_allow_plain_http is True
    assert settings.downtime_greeting == "We are closed for maintenance."
    assert settings.downtime_prompt == "Say sorry and suggest calling back tomorrow."


def test_problem_line_names_the_variable_and_the_value() -> None:
    """A bad value gives one line: variable, what was expected, what was found."""
    problems = problems_of({"MAX_CONCURRENT_CALLS": "lots"})
    assert "MAX_CONCURRENT_CALLS: expected a whole number >= 1, got 'lots'" in problems


def test_all_problems_are_collected(env: dict[str, str]) -> None:
    """Every problem is reported at once, one line each, in the documented order."""
    del env["OPENAI_API_KEY"]
    env |= {
        "OPENAI_REALTIME_URL": "https://api.openai.com/v1/realtime",
        "CALLVISOR_HTTP": "8000",
        "MAX_CONCURRENT_CALLS": "0",
        "LOG_LEVEL": "loud",
        "CALLVISOR_CALL_CONTROL_TIMEOUT_S": "0",
        "CALLVISOR_DRAIN_GRACE_S": "-1",
        "CALLVISOR_DEFAULT_REGION": "XX",
        "CALLVISOR_TOOL_ALLOW_HTTP": "maybe",
    }
    assert problems_of(env) == [
        "OPENAI_API_KEY: required, but not set",
        "OPENAI_REALTIME_URL: expected a ws:// or wss:// URL, got 'https://api.openai.com/v1/realtime'",
        "CALLVISOR_HTTP: expected host:port with a port 0-65535 (IPv6 as [::1]:8000), got '8000'",
        "MAX_CONCURRENT_CALLS: expected a whole number >= 1, got '0'",
        "LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, got 'loud'",
        "CALLVISOR_CALL_CONTROL_TIMEOUT_S: expected a number > 0, got '0'",
        "CALLVISOR_DRAIN_GRACE_S: expected a number >= 0, got '-1'",
        "CALLVISOR_DEFAULT_REGION: expected a supported ISO 3166 alpha-2 region code such as US "
        "or GB, got 'XX'",
        "CALLVISOR_TOOL_ALLOW_HTTP: expected one of 1, 0, true, false, yes, no, got 'maybe'",
    ]


def test_empty_environment_lists_every_required_variable() -> None:
    """An empty environment names both required secrets and the missing tenant source."""
    assert problems_of({}) == [
        "OPENAI_API_KEY: required, but not set",
        "OPENAI_WEBHOOK_SECRET: required, but not set",
        "CALLVISOR_TENANTS_FILE: One of CALLVISOR_TENANTS_FILE or MONGODB_URI is required",
    ]


def test_empty_values_count_as_unset(env: dict[str, str]) -> None:
    """An empty or blank value is treated as if the variable were not set."""
    env |= {"MAX_CONCURRENT_CALLS": "", "LOG_LEVEL": "  ", "ADMIN_TOKEN": ""}
    settings = Settings.from_env(env)
    assert (settings.max_concurrent_calls, settings.log_level) == (100, "INFO")
    assert settings.admin_token is None
    assert problems_of(env | {"OPENAI_API_KEY": ""}) == ["OPENAI_API_KEY: required, but not set"]


def test_settings_error_is_not_an_application_error() -> None:
    """SettingsError stops startup; it is not one of the per-call errors."""
    assert not issubclass(SettingsError, ApplicationError)
    assert issubclass(SettingsError, Exception)


def test_webhook_secret_rotation_accepts_several_secrets(env: dict[str, str]) -> None:
    """Whitespace-separated secrets are all kept, in order; raw ones are used as UTF-8 bytes."""
    env["OPENAI_WEBHOOK_SECRET"] = f"  {WHSEC}\n plain-sécret  "
    assert Settings.from_env(env).webhook_secrets == (KEY, "plain-sécret".encode())


def test_whsec_secret_is_base64_decoded(env: dict[str, str]) -> None:
    """A whsec_ secret yields the bytes its base64 part encodes."""
    env["OPENAI_WEBHOOK_SECRET"] = "whsec_" + base64.b64encode(b"0123456789abcdef").decode()
    assert Settings.from_env(env).webhook_secrets == (b"0123456789abcdef",)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("whsec_not*base64!", "secret 1 of 1 is not valid base64 after 'whsec_'"),
        (f"{WHSEC} whsec_abc", "secret 2 of 2 is not valid base64 after 'whsec_'"),
        ("whsec_", "secret 1 of 1 is empty after 'whsec_'"),
    ],
)
def test_invalid_webhook_secret_is_reported_without_its_value(
    env: dict[str, str], value: str, problem: str
) -> None:
    """A bad webhook secret gives a problem line that never shows the secret."""
    env["OPENAI_WEBHOOK_SECRET"] = value
    assert problems_of(env) == [f"OPENAI_WEBHOOK_SECRET: {problem}"]


def test_secret_values_never_appear_in_problems(env: dict[str, str]) -> None:
    """Problems about secret variables do not echo the secret."""
    env |= {
        "OPENAI_WEBHOOK_SECRET": "whsec_hunter2hunter2*",
        "MONGODB_URI": "postgres://admin:s3cr3t-pass@db",
    }
    problems = problems_of(env)
    assert problems == [
        "OPENAI_WEBHOOK_SECRET: secret 1 of 1 is not valid base64 after 'whsec_'",
        "MONGODB_URI: expected a mongodb:// or mongodb+srv:// URI",
    ]
    assert "hunter2" not in str(problems)
    assert "s3cr3t" not in str(problems)


def test_secrets_are_hidden_from_repr(env: dict[str, str]) -> None:
    """repr(settings) shows no API key, webhook secret, admin token or MongoDB URI."""
    env |= {"ADMIN_TOKEN": "tok-very-secret", "MONGODB_URI": "mongodb://u:pw-secret@db/x"}
    text = repr(Settings.from_env(env))
    for secret in ("sk-test-key-123", WHSEC, repr(KEY), "tok-very-secret", "pw-secret"):
        assert secret not in text
    assert "max_concurrent_calls=100" in text


@pytest.mark.parametrize(
    ("value", "bind"),
    [
        ("0.0.0.0:8000", Bind("0.0.0.0", 8000)),
        ("[::1]:8000", Bind("::1", 8000)),
        ("localhost:0", Bind("localhost", 0)),
        ("callvisor.internal:65535", Bind("callvisor.internal", 65535)),
        (" 127.0.0.1:9 ", Bind("127.0.0.1", 9)),
    ],
)
def test_bind_parsing(env: dict[str, str], value: str, bind: Bind) -> None:
    """host:port and [ipv6]:port are read into a Bind."""
    assert Settings.from_env(env | {"CALLVISOR_HTTP": value}).http_bind == bind


@pytest.mark.parametrize(
    "value", ["8000", "host:", ":8000", "[::1]", "::1:8000", "host:65536", "[zz]:1", "a b:1"]
)
def test_bad_bind_is_a_problem(env: dict[str, str], value: str) -> None:
    """A value that is not host:port with a port 0-65535 is reported."""
    [problem] = problems_of(env | {"CALLVISOR_HTTP": value})
    assert problem.startswith("CALLVISOR_HTTP: expected ")
    assert problem.endswith(f", got {value!r}")


def test_bind_renders_as_host_port() -> None:
    """str(Bind) gives back the host:port form, IPv6 in brackets."""
    assert (str(Bind("0.0.0.0", 8000)), str(Bind("::1", 8001))) == ("0.0.0.0:8000", "[::1]:8001")


@pytest.mark.parametrize("admin", ["0.0.0.0:8001", "10.1.2.3:8001", "[::]:8001", "ops.example:1"])
def test_non_loopback_admin_requires_a_token(env: dict[str, str], admin: str) -> None:
    """The operator app may listen beyond loopback only with ADMIN_TOKEN set."""
    assert problems_of(env | {"CALLVISOR_ADMIN": admin}) == [
        "CALLVISOR_ADMIN: binding a non-loopback address requires ADMIN_TOKEN"
    ]
    with_token = Settings.from_env(env | {"CALLVISOR_ADMIN": admin, "ADMIN_TOKEN": "t0k"})
    assert with_token.admin_token == "t0k"


@pytest.mark.parametrize("admin", ["127.0.0.1:8001", "127.3.2.1:1", "[::1]:8001", "LocalHost:9"])
def test_loopback_admin_needs_no_token(env: dict[str, str], admin: str) -> None:
    """Loopback addresses (127.0.0.0/8, ::1, localhost) are fine without a token."""
    assert Settings.from_env(env | {"CALLVISOR_ADMIN": admin}).admin_token is None


def test_mongodb_uri_alone_is_a_tenant_source(env: dict[str, str]) -> None:
    """MONGODB_URI satisfies the tenant source rule without a tenants file."""
    del env["CALLVISOR_TENANTS_FILE"]
    settings = Settings.from_env(env | {"MONGODB_URI": "mongodb+srv://cluster.example/db"})
    assert settings.tenants_file is None
    assert settings.mongodb_uri == "mongodb+srv://cluster.example/db"


def test_tenants_file_must_exist(env: dict[str, str], tmp_path: Path) -> None:
    """A tenants file that does not exist (or is a directory) is a problem."""
    missing = str(tmp_path / "nope.yaml")
    assert problems_of(env | {"CALLVISOR_TENANTS_FILE": missing}) == [
        f"CALLVISOR_TENANTS_FILE: expected an existing file, got {missing!r}"
    ]
    [problem] = problems_of(env | {"CALLVISOR_TENANTS_FILE": str(tmp_path)})
    assert problem.startswith("CALLVISOR_TENANTS_FILE: expected an existing file")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENAI_BASE_URL", "ftp://api.openai.com/v1"),
        ("OPENAI_BASE_URL", "api.openai.com/v1"),
        ("OPENAI_BASE_URL", "https://"),
        ("OPENAI_REALTIME_URL", "https://api.openai.com/v1/realtime"),
        ("CALLVISOR_WEBHOOK_TOLERANCE_S", "0"),
        ("CALLVISOR_WEBHOOK_TOLERANCE_S", "2.5"),
        ("MAX_CONCURRENT_CALLS", "1_000"),
        ("CALL_SESSION_START_TIMEOUT_S", "nan"),
        ("CALL_SESSION_START_TIMEOUT_S", "inf"),
        ("CALLVISOR_CALL_CONTROL_TIMEOUT_S", "soon"),
        ("CALLVISOR_TOOL_ALLOWED_HOSTS", "tools.example, bad/host"),
        ("CALLVISOR_DEFAULT_REGION", "USA"),
    ],
)
def test_invalid_values_are_problems(env: dict[str, str], name: str, value: str) -> None:
    """Each malformed value gives exactly one problem line for its variable."""
    [problem] = problems_of(env | {name: value})
    assert problem.startswith(f"{name}: expected ") or problem.startswith(f"{name}: not host")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("False", False), ("no", False)],
)
def test_plain_http_flag_values(env: dict[str, str], value: str, expected: bool) -> None:
    """The tool http flag accepts 1/0, true/false and yes/no in any case."""
    settings = Settings.from_env(env | {"CALLVISOR_TOOL_ALLOW_HTTP": value})
    assert settings.tool_allow_plain_http is expected


def test_every_settings_field_is_documented() -> None:
    """SETTINGS documents one variable per Settings field, each with a description."""
    assert len(SETTINGS) == len(attrs.fields(Settings))
    assert len({doc.name for doc in SETTINGS}) == len(SETTINGS)
    assert all(doc.description for doc in SETTINGS)
    assert {doc.name for doc in SETTINGS if doc.required} == {
        "OPENAI_API_KEY",
        "OPENAI_WEBHOOK_SECRET",
    }


def test_settings_table_is_markdown_with_one_row_per_variable() -> None:
    """The README table has a header, a rule and one row per variable, defaults in code spans."""
    lines = render_settings_table().splitlines()
    assert lines[0] == "| Variable | Default | Required | Description |"
    assert len(lines) == len(SETTINGS) + 2
    assert lines[2].startswith("| `OPENAI_API_KEY` |  | yes | ")
    assert "| `MAX_CONCURRENT_CALLS` | `100` |  | " in render_settings_table()


def test_settings_help_lists_every_variable_with_its_default() -> None:
    """--help names each variable with "required" or its default."""
    text = render_settings_help()
    assert "  OPENAI_API_KEY  (required)\n" in text
    assert "  CALLVISOR_ADMIN  (default: 127.0.0.1:8001)\n" in text
    assert "  ADMIN_TOKEN  (optional)\n" in text
    assert all(f"  {doc.name}  (" in text for doc in SETTINGS)
