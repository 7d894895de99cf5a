"""``callvisor report CALL_ID [FILE ...]``: the guide's "When reporting issues, include" in one block.

The block, fenced for pasting into an issue, holds: the call id, its tenant id and outcome
(``trace``'s reading of the log), the call's event sequence (its JSON lines, as logged), the
full ``error`` context of every line that has one, what each log's ``service_started`` said,
the versions of Python, callvisor and its dependencies (``importlib.metadata``), the effective
settings of this environment (every variable of ``config.settings.SETTINGS``, its default when
unset) with each ``secret=True`` variable shown as ``[redacted]``, and the MongoDB server
version when ``MONGODB_URI`` is set (asked with a short timeout; ``unreachable: REASON``
otherwise).  As a second line of defence every secret's value is scrubbed from the whole block.

Exit status: 0 when the call's lines were found, 1 when not (the block is still printed, for
the versions and settings), 2 when a file cannot be opened.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import trio

from actors.log import REDACTED
from config.errors import InstructionsDBError, SettingsError
from config.settings import SETTINGS, Settings, Variable, read_variables

from ._logread import Entry, Skipped
from ._timeline import build_timeline
from .trace import load_reporting, not_found_message

#: The longest the report waits for MongoDB's answer, whatever MONGODB_TIMEOUT_MS says.
MONGO_TIMEOUT_MS = 1500
DISTRIBUTION = "callvisor"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def run_report(
    call_id: str,
    paths: Sequence[str],
    environ: Mapping[str, str],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if (loaded := load_reporting(call_id, paths, err)) is None:
        return 2
    entries, skipped = loaded
    mongodb = trio.run(mongodb_version, environ)
    out.write(render_report(call_id, entries, skipped, environ, mongodb=mongodb))
    if not entries:
        err.write(f"callvisor: {not_found_message(call_id, skipped)}\n")
        return 1
    return 0


def render_report(
    call_id: str, entries: Sequence[Entry], skipped: Skipped, environ: Mapping[str, str], *, mongodb: str
) -> str:
    """The whole block, scrubbed of every secret ``environ`` holds."""
    lines = ["```", f"callvisor report for call {call_id}", "", "## Call", f"call_id: {call_id}"]
    if entries:
        timeline = build_timeline(entries)
        failed = ", ".join(f"{r.step.number} {r.step.title}" for r in timeline.failures) or "none"
        lines += [
            f"tenant_id: {timeline.tenant_id or '-'}",
            f"outcome: {timeline.outcome}",
            f"failed steps: {failed}",
            f"replicas: {', '.join(sorted({e.replica for e in entries}))}",
            "",
            f"## Event sequence ({len(entries)} lines)",
            *(json.dumps(e.line, ensure_ascii=False) for e in entries),
            "",
            "## Error context",
        ]
        errors = [e for e in entries if e.line.get("error") is not None]
        for entry in errors:
            lines.append(f"{entry.ts} {entry.event}:")
            lines.append(json.dumps(entry.line["error"], indent=2, ensure_ascii=False, sort_keys=True))
        if not errors:
            lines.append("(no line of the call has an error)")
    else:
        lines += ["tenant_id: -", f"not found: {not_found_message(call_id, skipped)}"]
    lines += ["", "## Service start, as logged"]
    for source, line in skipped.service_started:
        fields = {k: v for k, v in line.items() if k not in ("logger", "msg", "call_id", "tenant_id")}
        lines.append(f"{source}: {json.dumps(fields, ensure_ascii=False)}")
    if not skipped.service_started:
        lines.append("(no service_started line in the log read)")
    lines += ["", "## Versions", *versions(), "", "## Settings (this environment; secrets redacted)"]
    lines += effective_settings(environ)
    lines += ["", "## MongoDB", f"server version: {mongodb}", "```"]
    return scrub("\n".join(lines) + "\n", environ)


def versions() -> list[str]:
    """Python, the platform, callvisor and each of its run-time dependencies."""
    shown = [f"python: {platform.python_version()} ({platform.python_implementation()})",
             f"platform: {platform.platform()}"]
    try:
        shown.append(f"{DISTRIBUTION}: {importlib.metadata.version(DISTRIBUTION)}")
        required = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return [*shown, f"{DISTRIBUTION}: not installed as a distribution"]
    for requirement in required:
        if "extra ==" in requirement:
            continue
        match = _NAME.match(requirement)
        if match is None:
            continue
        name = match.group(0)
        try:
            shown.append(f"{name}: {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            shown.append(f"{name}: not installed")
    return shown


def effective_settings(environ: Mapping[str, str]) -> list[str]:
    """``NAME=value`` per variable, as ``serve`` would read it here, and any problem."""
    shown = []
    for declared in SETTINGS:
        raw = environ.get(declared.name, "").strip()
        if declared.secret:
            value = REDACTED if raw else "(unset)"
        elif raw:
            value = environ[declared.name]
        else:
            value = _default(declared)
        shown.append(f"{declared.name}={value}")
    try:
        Settings.from_env(environ)
    except SettingsError as exc:  # the problems never echo a secret's value
        shown += [f"problem: {problem}" for problem in exc.problems]
    return shown


def _default(declared: Variable) -> str:
    if declared.computed_default is not None:
        return f"{declared.default} (default)"
    if declared.default:
        return f"{declared.default} (default)"
    return "(unset)"


def scrub(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with the value of every secret variable of ``environ`` replaced."""
    needles: set[str] = set()
    for declared in SETTINGS:
        raw = environ.get(declared.name, "")
        if not declared.secret or not raw.strip():
            continue
        needles.add(raw.strip())
        needles.update(part for part in raw.split() if len(part) >= 8)
        needles.update(_uri_password(raw.strip()))
    for needle in sorted(needles, key=len, reverse=True):
        text = text.replace(needle, REDACTED)
        text = text.replace(json.dumps(needle)[1:-1], REDACTED)
    return text


def _uri_password(uri: str) -> list[str]:
    """The password of a ``scheme://user:password@host`` URI, alone and percent-decoded."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(uri).password
    except ValueError:
        return []
    if not password or len(password) < 4:
        return []
    return [password, unquote(password)]


async def mongodb_version(environ: Mapping[str, str]) -> str:
    """The server's version, ``not configured``, or ``unreachable: REASON``; at most ~2.5 s."""
    from config.mongo import open_mongo_store

    try:
        env = read_variables(environ, ("MONGODB_URI", "MONGODB_DATABASE", "MONGODB_TIMEOUT_MS"))
    except SettingsError as exc:
        return f"not asked: {'; '.join(exc.problems)}"
    uri = env["MONGODB_URI"]
    if uri is None:
        return "not configured (no MONGODB_URI)"
    timeout_ms = min(int(env["MONGODB_TIMEOUT_MS"]), MONGO_TIMEOUT_MS)

    def server_version(db: Any) -> str:
        return str(db.client.server_info().get("version", "unknown"))

    try:
        async with open_mongo_store(uri, database=env["MONGODB_DATABASE"], timeout_ms=timeout_ms) as store:
            return await store.run("server_info", server_version)
    except InstructionsDBError as exc:
        cause = exc.context.get("cause_type") if isinstance(exc.context, dict) else None
        return f"unreachable: {exc.reason}" + (f" ({cause})" if cause else "")
