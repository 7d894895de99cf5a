"""The ``callvisor`` command.

``callvisor serve`` runs the service from the environment (the default command);
``callvisor demo`` runs every scenario against the simulated platform; ``callvisor tenants check
FILE`` reports every tenant problem up front; ``callvisor docs troubleshooting`` prints the
troubleshooting catalogue generated from the event registry.

Exit status: 0 success, 1 problems found (``tenants check``, a demo scenario that did not end as
expected), 2 bad settings or usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from actors.log import log_event
from config.check import Problem, check_tenants, format_problem
from config.env_values import EnvValueError, parse_flag, parse_hosts, parse_region
from config.errors import SettingsError, TenantsFileError
from config.phone import DEFAULT_REGION
from config.settings import Settings, render_settings_help
from config.tenants_file import FileTenantSource

from .logs import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callvisor",
        description="A call supervisor for AI phone agents on OpenAI's Realtime API over SIP.",
        epilog="settings (environment variables, read by `serve`):\n" + render_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the service (default)")
    commands.add_parser(
        "demo", help="run every intake scenario against the simulated OpenAI platform"
    )
    tenants = commands.add_parser("tenants", help="tenant configuration tools")
    tenant_commands = tenants.add_subparsers(dest="tenants_command", metavar="SUBCOMMAND", required=True)
    check = tenant_commands.add_parser(
        "check",
        help="report every problem of a tenants file; exit 1 if there are any",
        description="Checks every tenant the way a call would (state, prompts, config, tools). "
        "CALLVISOR_TOOL_ALLOWED_HOSTS, CALLVISOR_TOOL_ALLOW_HTTP and CALLVISOR_DEFAULT_REGION "
        "are read from the environment as `serve` reads them.",
    )
    check.add_argument("file", type=Path, help="tenants YAML file")
    docs = commands.add_parser("docs", help="print generated documentation")
    docs.add_argument("page", choices=["troubleshooting"], help="which page")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        return _serve()
    if command == "demo":
        from .demo import run_demo

        return trio.run(run_demo)
    if command == "tenants":
        return _tenants_check(args.file)
    if command == "docs":
        from .docs import load_sip_status, render_troubleshooting

        sys.stdout.write(render_troubleshooting(load_sip_status()))
        return 0
    raise AssertionError(command)  # pragma: no cover


def _fail(problems: Sequence[str]) -> int:
    for problem in problems:
        print(f"callvisor: {problem}", file=sys.stderr)
    return 2


def _serve() -> int:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as err:
        return _fail(err.problems)
    if settings.tenants_file is None:
        return _fail(["CALLVISOR_TENANTS_FILE: required (the MongoDB source is not available yet)"])
    try:
        source = FileTenantSource.load(settings.tenants_file, default_region=settings.default_region)
    except TenantsFileError as err:
        return _fail([f"CALLVISOR_TENANTS_FILE: {problem}" for problem in err.problems])
    configure_logging(settings.log_level, secrets=_secrets(settings))
    for problem in source.load_problems:
        log_event(logging.WARNING, "tenants_file_problem", "tenants file entry not loaded", problem=problem)
    from .service import run_service

    trio.run(run_service, settings, source)
    return 0


def _secrets(settings: Settings) -> list[str]:
    secrets = [settings.openai_api_key, *(s.decode("latin-1") for s in settings.webhook_secrets)]
    secrets += [raw for raw in os.environ.get("OPENAI_WEBHOOK_SECRET", "").split()]
    if settings.admin_token:
        secrets.append(settings.admin_token)
    if settings.mongodb_uri:
        secrets.append(settings.mongodb_uri)
    return secrets


def _tenants_check(path: Path) -> int:
    # The three settings that decide whether a tenant's tools build, read as `serve` reads them.
    readers = {
        "CALLVISOR_DEFAULT_REGION": (parse_region, DEFAULT_REGION),
        "CALLVISOR_TOOL_ALLOWED_HOSTS": (parse_hosts, frozenset()),
        "CALLVISOR_TOOL_ALLOW_HTTP": (parse_flag, False),
    }
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, (parse, default) in readers.items():
        raw = os.environ.get(name, "").strip()
        try:
            values[name] = parse(raw) if raw else default
        except EnvValueError as err:
            problems.append(f"{name}: {err}")
    if problems:
        return _fail(problems)
    try:
        source = FileTenantSource.load(path, default_region=values["CALLVISOR_DEFAULT_REGION"])
    except TenantsFileError as err:
        for problem in err.problems:
            print(f"{path}: {problem}")
        return 1

    async def check() -> tuple[list[Problem], int]:
        found = await check_tenants(
            source,
            allowed_hosts=values["CALLVISOR_TOOL_ALLOWED_HOSTS"],
            allow_plain_http=values["CALLVISOR_TOOL_ALLOW_HTTP"],
        )
        return found, len(await source.list_tenants())

    found, tenant_count = trio.run(check)
    for found_problem in found:
        print(format_problem(found_problem))
    print(f"{path}: {tenant_count} tenants, {len(found)} problems", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
