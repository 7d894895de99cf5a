"""The ``callvisor`` command.

``callvisor serve`` runs the service from the environment (the default command);
``callvisor demo`` runs every scenario against the simulated platform; ``callvisor simulate``
serves that platform as a process of its own (``--tls``: https and wss); ``callvisor tenants check
[FILE]`` reports every tenant problem up front (of a file, or of the MongoDB store);
``callvisor tenants import FILE [--dry-run]`` upserts a file into the MongoDB store;
``callvisor tenants list [--file FILE]`` prints one line per tenant; ``callvisor docs
troubleshooting`` prints the troubleshooting catalogue generated from the event registry;
``callvisor trace CALL_ID [FILE ...]`` lays a call's log lines on the guide's eleven steps and
``callvisor report CALL_ID [FILE ...]`` prints the help bundle for an issue.

Exit status: 0 success, 1 problems found (``tenants check``, a demo scenario that did not end as
expected, a call ``trace`` or ``report`` finds no line of) or a MongoDB error (``tenants``), 2 bad
settings or usage (or a log file that cannot be read).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import trio

from actors.log import log_event
from actors.tls import client_tls_context
from config.check import check_tenant, check_tenants, format_problem
from config.errors import InstructionsDBError, SettingsError, TenantsFileError
from config.mongo import ImportReport, MongoTenantSource, import_tenants, open_mongo_store
from config.settings import Settings, read_variables, render_settings_help
from config.source import TenantSource
from config.tenants_file import FileTenantSource

from ..logs import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callvisor",
        description="A call supervisor for AI phone agents on OpenAI's Realtime API over SIP.",
        epilog=render_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="run the service (default)")
    demo = commands.add_parser(
        "demo", help="run every intake and call scenario against the simulated OpenAI platform"
    )
    demo.add_argument(
        "--hold", type=float, default=0.0, metavar="SECONDS",
        help="after the scenarios, hold two calls (one in a slow tool) for SECONDS (default 0: "
        "just long enough to print them), printing the live tree and the operator console's "
        "address, then end them",
    )
    simulate = commands.add_parser(
        "simulate",
        help="serve the simulated OpenAI platform as a process of its own",
        description="Serves OpenAI's call-control REST API and sideband websocket, simulated, "
        "plus a control API to script failures and read what it received (see "
        "supervisor/commands/simulate.py). Prints one JSON line with base_url, realtime_url, "
        "control_url, api_key and ca_file, then serves until interrupted.",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    simulate.add_argument("--control-port", type=int, default=0, help="control API port (default: any free)")
    simulate.add_argument("--api-key", default=None, help="the only API key accepted (default: random)")
    simulate.add_argument(
        "--strict-calls", action="store_true",
        help="answer 404 for call_ids nobody registered through the control API",
    )
    simulate.add_argument(
        "--tls", action="store_true",
        help="serve call control over https and the sideband over wss, as OpenAI does, with a "
        "certificate of a new test CA (the control API stays plain http)",
    )
    simulate.add_argument(
        "--ca-file", type=Path, default=None, metavar="PATH",
        help="with --tls: write the test CA's certificate (PEM) to PATH for clients to trust "
        "(append it to a copy of the system bundle and name that in callvisor's SSL_CERT_FILE)",
    )
    tenants = commands.add_parser("tenants", help="tenant configuration tools")
    tenant_commands = tenants.add_subparsers(dest="tenants_command", metavar="SUBCOMMAND", required=True)
    check = tenant_commands.add_parser(
        "check",
        help="report every problem of a tenants file (or of the MongoDB store); exit 1 if any",
        description="Checks every tenant the way a call would (state, prompts, config, tools). "
        "Without FILE, checks the MongoDB store of MONGODB_URI. "
        "CALLVISOR_TOOL_ALLOWED_HOSTS, CALLVISOR_TOOL_ALLOW_HTTP and CALLVISOR_DEFAULT_REGION "
        "are read from the environment as `serve` reads them.",
    )
    check.add_argument(
        "file", type=Path, nargs="?", help="tenants YAML file (default: the MongoDB store)"
    )
    import_ = tenant_commands.add_parser(
        "import",
        help="upsert a tenants file into the MongoDB store of MONGODB_URI",
        description="Makes the MongoDB store (MONGODB_URI, MONGODB_DATABASE) hold the file's "
        "documents for every tenant the file lists; other tenants are left alone. Idempotent. "
        "Prints what changed per collection; exit 1 on a database error.",
    )
    import_.add_argument("file", type=Path, help="tenants YAML file")
    import_.add_argument(
        "--dry-run", action="store_true", help="report what would change, write nothing"
    )
    list_ = tenant_commands.add_parser(
        "list",
        help="one line per tenant: numbers, state pointers, problem count",
        description="Lists the tenants of the MongoDB store of MONGODB_URI (or of --file).",
    )
    list_.add_argument("--file", type=Path, help="list a tenants file instead of MongoDB")
    trace = commands.add_parser(
        "trace",
        help="one call's life from its log, on the troubleshooting guide's eleven steps",
        description="Reads callvisor's JSON log (each FILE plain or gzip; none or -: stdin; several "
        "files, say one per replica, are merged by time) and prints the call's steps, each passed, "
        "failed or not reached, with times; for a failed step its event, error context and the "
        "catalogue's fixes. Lines that are not callvisor's or of other calls are skipped and counted. "
        "Exit 0 when the call was found, 1 when no line names it, 2 when a file cannot be read.",
    )
    trace.add_argument("call_id", metavar="CALL_ID", help="the call's id (rtc_...)")
    trace.add_argument("files", metavar="FILE", nargs="*", help="log files (default: stdin)")
    trace.add_argument("--json", action="store_true", help="print one JSON document instead")
    report = commands.add_parser(
        "report",
        help="the help bundle for an issue: call, events, errors, versions, settings, MongoDB",
        description="Prints one fenced block to paste into an issue: the call id, tenant id and "
        "outcome, the call's log lines and their error context, what service_started logged, the "
        "versions of Python, callvisor and its dependencies, this environment's settings with "
        "every secret redacted, and the MongoDB server version (a short timeout; 'unreachable: "
        "REASON' or 'not configured'). Exit 0 when the call was found, 1 when not (the block is "
        "still printed), 2 when a file cannot be read.",
    )
    report.add_argument("call_id", metavar="CALL_ID", help="the call's id (rtc_...)")
    report.add_argument("files", metavar="FILE", nargs="*", help="log files (default: stdin)")
    docs = commands.add_parser("docs", help="print generated documentation")
    docs.add_argument("page", choices=["troubleshooting"], help="which page")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        return _serve()
    if command == "demo":
        from .demo import run_demo

        if args.hold is not None and not 0 <= args.hold <= 86400:
            parser.error("--hold: SECONDS must be between 0 and 86400")
        return trio.run(partial(run_demo, hold_s=args.hold))
    if command == "simulate":
        from .simulate import run_simulator

        if args.ca_file is not None and not args.tls:
            parser.error("--ca-file needs --tls")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            trio.run(
                partial(
                    run_simulator, host=args.host, control_port=args.control_port,
                    api_key=args.api_key, strict_calls=args.strict_calls,
                    tls=args.tls, ca_file=args.ca_file,
                )
            )
        return 0
    if command == "tenants":
        return _tenants(args.tenants_command, args.file, dry_run=getattr(args, "dry_run", False))
    if command == "trace":
        from .trace import run_trace

        return run_trace(args.call_id, args.files, as_json=args.json)
    if command == "report":
        from .report import run_report

        return run_report(args.call_id, args.files, os.environ)
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
    source: FileTenantSource | None = None
    if settings.tenants_file is not None:  # the file wins; MONGODB_URI then serves cluster mode
        try:
            source = FileTenantSource.load(settings.tenants_file, default_region=settings.default_region)
        except TenantsFileError as err:
            return _fail([f"CALLVISOR_TENANTS_FILE: {problem}" for problem in err.problems])
    try:
        tls = client_tls_context(settings)  # once per process; a bad trust store is a setting
    except SettingsError as err:
        return _fail(err.problems)
    configure_logging(settings.log_level, secrets=_secrets(settings))
    if source is not None:
        for problem in source.load_problems:
            log_event(logging.WARNING, "tenants_file_problem", "tenants file entry not loaded", problem=problem)
    from ..service import run_service

    trio.run(run_service, settings, source, tls)
    return 0


def _secrets(settings: Settings) -> list[str]:
    secrets = [settings.openai_api_key, *(s.decode("latin-1") for s in settings.webhook_secrets)]
    secrets += [raw for raw in os.environ.get("OPENAI_WEBHOOK_SECRET", "").split()]
    if settings.admin_token:
        secrets.append(settings.admin_token)
    if settings.mongodb_uri:
        secrets.append(settings.mongodb_uri)
    return secrets


# Read as `serve` reads them: whether a tenant's tools build depends on them.
_CHECK_VARIABLES = (
    "CALLVISOR_DEFAULT_REGION", "CALLVISOR_TOOL_ALLOWED_HOSTS", "CALLVISOR_TOOL_ALLOW_HTTP"
)
_MONGO_VARIABLES = ("MONGODB_URI", "MONGODB_DATABASE", "MONGODB_TIMEOUT_MS")


def _tenants(command: str, path: Path | None, *, dry_run: bool) -> int:
    """``tenants check|import|list``: the file when given, else the store of MONGODB_URI."""
    use_mongo = command == "import" or path is None
    try:
        env = read_variables(os.environ, _CHECK_VARIABLES + (_MONGO_VARIABLES if use_mongo else ()))
    except SettingsError as err:
        return _fail(err.problems)
    if use_mongo and env["MONGODB_URI"] is None:
        if command == "import":
            return _fail(["MONGODB_URI: required by `tenants import`, but not set"])
        flag = "--file FILE" if command == "list" else "FILE"
        return _fail([f"MONGODB_URI: not set; give `tenants {command}` {flag} or set MONGODB_URI"])
    file_source = None
    if path is not None:
        try:
            file_source = FileTenantSource.load(path, default_region=env["CALLVISOR_DEFAULT_REGION"])
        except TenantsFileError as err:
            for problem in err.problems:
                print(problem)  # each problem already names the file
            return 1
    rules = {
        "allowed_hosts": env["CALLVISOR_TOOL_ALLOWED_HOSTS"],
        "allow_plain_http": env["CALLVISOR_TOOL_ALLOW_HTTP"],
    }
    report = print_tenants_check if command == "check" else print_tenants_list

    async def run() -> int:
        if not use_mongo:
            assert file_source is not None
            return await report(file_source, str(path), **rules)
        try:
            async with open_mongo_store(
                env["MONGODB_URI"],
                database=env["MONGODB_DATABASE"],
                timeout_ms=env["MONGODB_TIMEOUT_MS"],
            ) as store:
                if file_source is not None:
                    found = await import_tenants(store, file_source, dry_run=dry_run)
                    return print_import_report(str(path), file_source.load_problems, found)
                where = f"MongoDB database {env['MONGODB_DATABASE']}"
                return await report(MongoTenantSource(store), where, **rules)
        except InstructionsDBError as err:
            print(f"callvisor: {err.message}", file=sys.stderr)
            return 1

    return trio.run(run)


async def print_tenants_check(
    source: TenantSource, where: str, *, allowed_hosts: frozenset[str], allow_plain_http: bool
) -> int:
    """``tenants check``: every problem on stdout, a summary on stderr; 1 if any problem."""
    found = await check_tenants(
        source, allowed_hosts=allowed_hosts, allow_plain_http=allow_plain_http
    )
    for problem in found:
        print(format_problem(problem))
    tenant_count = len(await source.list_tenants())
    print(f"{where}: {tenant_count} tenants, {len(found)} problems", file=sys.stderr)
    return 1 if found else 0


async def print_tenants_list(
    source: FileTenantSource | MongoTenantSource,
    where: str,
    *,
    allowed_hosts: frozenset[str],
    allow_plain_http: bool,
) -> int:
    """``tenants list``: per tenant, its numbers, state pointers and problem count; always 0.

    ``acme-corp  numbers=+18005551212  greeting_id=greeting_main  instruction_id=inst_main
    problems=0`` (one line; ``-`` where there is nothing).
    """
    routes = source.routes if isinstance(source, FileTenantSource) else await source.list_routes()
    numbers: dict[str, list[str]] = {}
    for number, tenant_id in sorted(routes.items()):
        numbers.setdefault(tenant_id, []).append(number)
    tenant_ids = await source.list_tenants()
    for tenant_id in tenant_ids:
        state = await source.fetch_state(tenant_id) or {}
        pointers = "  ".join(
            f"{key}={value if isinstance(value, str) else '-'}"
            for key, value in ((key, state.get(key)) for key in ("greeting_id", "instruction_id"))
        )
        problems = await check_tenant(
            source, tenant_id, allowed_hosts=allowed_hosts, allow_plain_http=allow_plain_http
        )
        print(
            f"{tenant_id}  numbers={','.join(numbers.get(tenant_id, [])) or '-'}  "
            f"{pointers}  problems={len(problems)}"
        )
    print(f"{where}: {len(tenant_ids)} tenants", file=sys.stderr)
    return 0


def print_import_report(origin: str, load_problems: Sequence[str], report: ImportReport) -> int:
    """``tenants import``: the file's load problems on stderr, the counts on stdout.

    1 when a tenant was skipped (not storable), else 0.
    """
    for problem in load_problems:
        print(f"{origin}: {problem}", file=sys.stderr)
    for line in report.lines():
        print(line)
    if report.dry_run:
        print("dry run: nothing was written")
    return 1 if report.skipped else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
