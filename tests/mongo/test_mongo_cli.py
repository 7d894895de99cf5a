"""``callvisor tenants import|check|list`` against MongoDB: exit status and what is printed.

The process tests run the real command (no MongoDB server here: a closed port stands for a dead
one); the output of ``check`` and ``list`` over MongoDB is pinned in-process over mongomock.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio.testing

from config.mongo import MongoStore, MongoTenantSource, import_tenants
from config.tenants_file import FileTenantSource
from supervisor.commands.cli import print_import_report, print_tenants_check, print_tenants_list

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "tenants.yaml"


def callvisor(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``callvisor ARGS`` with only ``env`` among the callvisor and MongoDB variables."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "CALLVISOR_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "supervisor.commands.cli", *args],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_import_without_mongodb_uri_is_bad_settings() -> None:
    """tenants import needs MONGODB_URI: exit 2, one line naming the variable."""
    done = callvisor("tenants", "import", str(EXAMPLE), "--dry-run")
    assert done.returncode == 2
    assert done.stderr == "callvisor: MONGODB_URI: required by `tenants import`, but not set\n"
    assert done.stdout == ""


def test_bad_mongodb_settings_are_listed_one_per_line() -> None:
    """Every bad MongoDB setting is reported (exit 2), the URI never echoed."""
    done = callvisor(
        "tenants", "import", str(EXAMPLE),
        MONGODB_URI="postgres://user:s3cret@db", MONGODB_TIMEOUT_MS="50",
        MONGODB_DATABASE="no/slashes",
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "callvisor: MONGODB_URI: expected a mongodb:// or mongodb+srv:// URI",
        "callvisor: MONGODB_DATABASE: expected a database name of 1 to 63 bytes without "
        "/\\. \"$*<>:|?, got 'no/slashes'",
        "callvisor: MONGODB_TIMEOUT_MS: expected a whole number >= 100, got '50'",
    ]
    assert "s3cret" not in done.stderr


def test_import_into_a_dead_server_exits_1_with_the_reason(dead_uri: str) -> None:
    """With MongoDB unreachable, the import fails in bounded time: exit 1, db_timeout printed."""
    done = callvisor(
        "tenants", "import", str(EXAMPLE), "--dry-run",
        MONGODB_URI=dead_uri, MONGODB_TIMEOUT_MS="500",
    )
    assert done.returncode == 1
    assert done.stderr == (
        "callvisor: MongoDB import failed: db_timeout (ServerSelectionTimeoutError)\n"
    )
    assert done.stdout == ""


def test_check_without_a_file_reads_mongodb(dead_uri: str) -> None:
    """tenants check with no FILE checks MONGODB_URI's store (and says so when it is unset)."""
    unset = callvisor("tenants", "check")
    assert unset.returncode == 2
    assert unset.stderr == (
        "callvisor: MONGODB_URI: not set; give `tenants check` FILE or set MONGODB_URI\n"
    )
    dead = callvisor("tenants", "check", MONGODB_URI=dead_uri, MONGODB_TIMEOUT_MS="500")
    assert dead.returncode == 1
    assert "db_timeout" in dead.stderr


def test_list_of_a_file() -> None:
    """tenants list --file prints one line per tenant with numbers, pointers and problems."""
    done = callvisor(
        "tenants", "list", "--file", str(EXAMPLE),
        CALLVISOR_TOOL_ALLOWED_HOSTS="tools.acme.example",
    )
    assert done.returncode == 0
    assert done.stdout.splitlines()[:3] == [
        "acme-corp  numbers=+18005551212  greeting_id=greeting_main  instruction_id=inst_main  "
        "problems=0",
        "globex  numbers=+18005550100  greeting_id=welcome  instruction_id=reception  problems=0",
        "initech  numbers=+18005550101  greeting_id=-  instruction_id=-  problems=1",
    ]
    assert done.stderr == f"{EXAMPLE}: 6 tenants\n"


async def test_check_and_list_over_mongodb(
    store: MongoStore,
    example_file: FileTenantSource,
    capsys: pytest.CaptureFixture[str],
    mock_clock: trio.testing.MockClock,
) -> None:
    """Over MongoDB, check and list print what they print for the file (tenants in _id order)."""
    await import_tenants(store, example_file, dry_run=False)
    source = MongoTenantSource(store)
    rules: dict[str, Any] = {
        "allowed_hosts": frozenset({"tools.acme.example"}),
        "allow_plain_http": False,
    }
    assert await print_tenants_check(source, "MongoDB database callvisor", **rules) == 1
    check = capsys.readouterr()
    assert await print_tenants_check(example_file, "file", **rules) == 1
    assert sorted(check.out.splitlines()) == sorted(capsys.readouterr().out.splitlines())
    assert check.err == "MongoDB database callvisor: 6 tenants, 4 problems\n"

    assert await print_tenants_list(source, "MongoDB database callvisor", **rules) == 0
    listed = capsys.readouterr()
    assert await print_tenants_list(example_file, "file", **rules) == 0
    assert sorted(listed.out.splitlines()) == sorted(capsys.readouterr().out.splitlines())
    assert listed.out.splitlines()[0].startswith("acme-corp  numbers=+18005551212  ")


async def test_import_report_output(
    store: MongoStore,
    example_file: FileTenantSource,
    capsys: pytest.CaptureFixture[str],
    mock_clock: trio.testing.MockClock,
) -> None:
    """tenants import prints one line per collection, and says when nothing was written."""
    report = await import_tenants(store, example_file, dry_run=True)
    assert print_import_report("t.yaml", ["a problem"], report) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [*report.lines(), "dry run: nothing was written"]
    assert err == "t.yaml: a problem\n"
