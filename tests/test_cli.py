"""The ``callvisor`` command as an operator runs it: a subprocess with a small environment.

What is pinned is what the operator reads: the exit status, one ``callvisor: VARIABLE: ...``
line per problem on stderr, never a traceback, never a secret's value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "examples" / "tenants.yaml"
#: Real-clock bound for one command (they take well under a second or two).
COMMAND_TIMEOUT_S = 60

CLEAN_TENANTS = """\
tenants:
  - id: clean-co
    phone_numbers: ["+18005550150"]
    state: {greeting_id: hello, instruction_id: main}
    config:
      schema_version: 1
      tools:
        - kind: end_call
        - kind: http
          name: lookup_order
          description: Look up an order.
          url: https://tools.acme.example/orders
    prompts:
      greetings: {hello: "Clean Co, hello."}
      instructions: {main: "You answer the phone for Clean Co."}
"""


def callvisor(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m supervisor.commands.cli ARGS`` in the repo with only PATH, LANG and ``env`` set."""
    environ = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "supervisor.commands.cli", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def problem_names(stderr: str) -> list[str]:
    """The variable each ``callvisor: NAME: ...`` line names; fails on any other line."""
    names = []
    for line in stderr.splitlines():
        prefix, _, rest = line.partition(": ")
        assert prefix == "callvisor", line
        name, _, message = rest.partition(": ")
        assert message, line
        names.append(name)
    return names


def test_serve_without_settings_exits_2_with_one_line_per_problem() -> None:
    """`callvisor` with an empty environment: exit 2, each missing variable named on one line."""
    result = callvisor()

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert problem_names(result.stderr) == [
        "OPENAI_API_KEY",
        "OPENAI_WEBHOOK_SECRET",
        "CALLVISOR_TENANTS_FILE",
    ]
    assert "callvisor: OPENAI_API_KEY: required, but not set" in result.stderr.splitlines()


def test_serve_with_bad_values_lists_every_problem_without_secrets() -> None:
    """Every bad value gets its own line naming its variable; secret values are never printed."""
    result = callvisor(
        "serve",
        OPENAI_API_KEY="sk-cli-test-key",
        OPENAI_WEBHOOK_SECRET="whsec_!!!notbase64",
        MONGODB_URI="postgres://admin:hunter2secret@db.example",
        OPENAI_BASE_URL="ftp://api.example",
        CALLVISOR_TENANTS_FILE="/nonexistent/tenants.yaml",
        CALLVISOR_HTTP="nope",
        MAX_CONCURRENT_CALLS="zero",
        LOG_LEVEL="loud",
        CALLVISOR_CALL_CONTROL_TIMEOUT_S="-1",
        CALLVISOR_ADMIN="0.0.0.0:8001",
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    names = problem_names(result.stderr)
    assert sorted(names) == sorted(
        [
            "OPENAI_WEBHOOK_SECRET",
            "OPENAI_BASE_URL",
            "CALLVISOR_TENANTS_FILE",
            "MONGODB_URI",
            "CALLVISOR_HTTP",
            "MAX_CONCURRENT_CALLS",
            "LOG_LEVEL",
            "CALLVISOR_CALL_CONTROL_TIMEOUT_S",
            "CALLVISOR_ADMIN",
        ]
    )
    assert len(names) == len(set(names))  # one line per problem
    output = result.stdout + result.stderr
    for secret in ("!!!notbase64", "hunter2secret", "postgres://", "sk-cli-test-key"):
        assert secret not in output
    assert "'zero'" in result.stderr  # a value that is no secret is shown, to help fix it
    assert "'/nonexistent/tenants.yaml'" in result.stderr


def test_serve_with_unusable_tenants_file_exits_2(tmp_path: Path) -> None:
    """A tenants file that is not YAML stops `serve` with exit 2 and one CALLVISOR_TENANTS_FILE line."""
    broken = tmp_path / "tenants.yaml"
    broken.write_text("tenants: [\n", encoding="utf-8")

    result = callvisor(
        "serve",
        OPENAI_API_KEY="sk-cli-test-key",
        OPENAI_WEBHOOK_SECRET="plain-secret-value",
        CALLVISOR_TENANTS_FILE=str(broken),
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert problem_names(result.stderr) == ["CALLVISOR_TENANTS_FILE"]
    assert "not valid YAML" in result.stderr
    assert "plain-secret-value" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "SSL_CERT_FILE: expected an existing file"),
        ("not a certificate\n", "holds no usable PEM certificate"),
        ("", "holds no usable PEM certificate"),
    ],
    ids=["missing", "garbage", "empty"],
)
def test_serve_with_a_bad_ssl_cert_file_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    """A trust store callvisor cannot use stops `serve` with exit 2 and one SSL_CERT_FILE line."""
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_text(content, encoding="utf-8")

    result = callvisor(
        "serve",
        OPENAI_API_KEY="sk-cli-test-key",
        OPENAI_WEBHOOK_SECRET="plain-secret-value",
        CALLVISOR_TENANTS_FILE=str(EXAMPLE),
        SSL_CERT_FILE=str(bundle),
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert problem_names(result.stderr) == ["SSL_CERT_FILE"]
    assert message in result.stderr


def test_tenants_check_reports_the_four_broken_example_tenants() -> None:
    """`tenants check` on the example file: exit 1, one line each for initech, umbrella, hooli, piedpiper."""
    result = callvisor(
        "tenants", "check", "config/examples/tenants.yaml",
        CALLVISOR_TOOL_ALLOWED_HOSTS="tools.acme.example",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert [line.split(": ", 1)[0] for line in lines] == ["initech", "umbrella", "hooli", "piedpiper"]
    assert lines[0].startswith("initech: tenant_not_configured (state_doc_missing): ")
    assert lines[1].startswith("umbrella: instructions_missing (greeting_text_empty): ")
    assert lines[2].startswith("hooli: tenant_config_parse_error (config_invalid): ")
    assert "@ config.limits.max_concurrent_calls" in lines[2]
    assert lines[3].startswith("piedpiper: tool_build_error (tool_config_invalid): ")
    assert "@ config.tools[1].url" in lines[3]
    assert result.stderr.strip().endswith("6 tenants, 4 problems")


def test_tenants_check_without_allowed_hosts_also_flags_acme() -> None:
    """Without CALLVISOR_TOOL_ALLOWED_HOSTS acme's http tool cannot be built: a fifth problem."""
    result = callvisor("tenants", "check", str(EXAMPLE))

    assert result.returncode == 1
    tenants = [line.split(": ", 1)[0] for line in result.stdout.splitlines()]
    assert tenants == ["acme-corp", "initech", "umbrella", "hooli", "piedpiper"]
    assert "CALLVISOR_TOOL_ALLOWED_HOSTS" in result.stdout.splitlines()[0]


def test_tenants_check_clean_file_exits_0(tmp_path: Path) -> None:
    """A file whose every tenant would be accepted: exit 0, nothing on stdout."""
    clean = tmp_path / "tenants.yaml"
    clean.write_text(CLEAN_TENANTS, encoding="utf-8")

    result = callvisor(
        "tenants", "check", str(clean), CALLVISOR_TOOL_ALLOWED_HOSTS="tools.acme.example"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"{clean}: 1 tenants, 0 problems"


def test_tenants_check_with_bad_setting_exits_2() -> None:
    """A bad CALLVISOR_TOOL_ALLOW_HTTP / CALLVISOR_DEFAULT_REGION stops `tenants check` with exit 2."""
    result = callvisor(
        "tenants", "check", str(EXAMPLE),
        CALLVISOR_TOOL_ALLOW_HTTP="maybe",
        CALLVISOR_DEFAULT_REGION="XX",
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert sorted(problem_names(result.stderr)) == ["CALLVISOR_DEFAULT_REGION", "CALLVISOR_TOOL_ALLOW_HTTP"]


def test_tenants_check_of_missing_file_names_it_once(tmp_path: Path) -> None:
    """`tenants check` of a file that does not exist: exit 1 and one line naming the file once."""
    missing = tmp_path / "missing.yaml"

    result = callvisor("tenants", "check", str(missing))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [f"{missing}: cannot read the file (No such file or directory)"]


def test_help_lists_every_setting() -> None:
    """`callvisor --help` names every environment variable of config.settings.SETTINGS."""
    result = callvisor("--help")

    assert result.returncode == 0
    missing = [doc.name for doc in SETTINGS if doc.name not in result.stdout]
    assert missing == []
    for command in ("serve", "demo", "tenants", "docs"):
        assert command in result.stdout


def test_simulate_ca_file_without_tls_is_a_usage_error(tmp_path: Path) -> None:
    """`simulate --ca-file` alone: exit 2, a usage line, and no file written."""
    result = callvisor("simulate", "--ca-file", str(tmp_path / "ca.pem"))
    assert result.returncode == 2
    assert "--ca-file needs --tls" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ca.pem").exists()


def test_unknown_command_is_a_usage_error() -> None:
    """An unknown command exits 2 with argparse's usage line, not a traceback."""
    result = callvisor("bogus")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: callvisor")


def test_docs_troubleshooting_prints_the_committed_page() -> None:
    """`callvisor docs troubleshooting` prints exactly docs/troubleshooting.md."""
    result = callvisor("docs", "troubleshooting")

    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout == (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
