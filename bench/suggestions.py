"""The Profile section of docs/benchmarks.md: measured costs, what was changed for them.

Each rule names the function (or packages) whose cost a change removes.  With the earlier run
kept as ``before.json``, the table shows each cost before and after, in milliseconds of busy CPU
per call under the profiler (share x busy seconds / calls answered: comparable across runs
whose profiles ran at different rates), with what was done about it (``DONE``).  A rule with
nothing done keeps its suggestion.
"""

from __future__ import annotations

from typing import Any

#: (our function as ``path:function``, what it is, what to change)
FUNCTION_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "actors/control.py:_call",
        "call control through the openai SDK (accept, reject, hangup)",
        "Send accept/reject/hangup as a plain HTTP/1.1 POST on a small pool of keep-alive trio "
        "connections (h11), behind the same `CallControl` interface and the same error mapping. "
        "The SDK builds request options, headers and retry state, runs httpx2/httpcore2 over anyio "
        "and parses the (empty) answer through its response machinery, for a one-line POST.",
    ),
    (
        "actors/log/_record.py:log_event|actors/log.py:log_event",
        "JSON log lines (about four INFO lines per call)",
        "Fold `call_session_started` into `call_accepted` (or log it at DEBUG) and log the "
        "decision once; format with one precompiled `json.JSONEncoder` and write through a "
        "buffered handler flushed on a short timer instead of one `write()` per line.",
    ),
    (
        "config/resolve.py:resolve_tenant",
        "dialed-number parsing and routing",
        "Cache the routing result per raw `To` header value (an LRU of a few thousand entries, "
        "cleared when the tenant source reloads): `phonenumbers` parses the same numbers again on "
        "every call.",
    ),
    (
        "config/resolve.py:parse_config",
        "structuring the tenant config document",
        "Cache the structured `TenantConfig` per tenant and document (the file source never "
        "changes while serving; a MongoDB source can key on the document's version).",
    ),
    (
        "config/resolve.py:build_tools",
        "building the tenant's tools",
        "Cache the built tools with the config, and the `to_openai()` dicts with them "
        "(`HttpTool.to_openai` deep-copies its schema on every call).",
    ),
    (
        "config/resolve.py:resolve_instructions",
        "resolving greeting and instructions",
        "Cache per tenant state document, as for the config.",
    ),
    (
        # Renamed when the sideband moved into the call's own task: either name counts.
        "actors/session.py:_connect_and_serve|actors/session.py:_hold_sideband",
        "the sideband websocket (TCP connect, handshake, reader task, close)",
        "Mostly inherent: one websocket per call is the product. trio-websocket/wsproto are pure "
        "Python; a C-accelerated frame parser would be the only large lever.",
    ),
    (
        "supervisor/webhooks.py:verify_webhook",
        "webhook signature check",
        "Inherent (one HMAC-SHA256); nothing to gain.",
    ),
)

#: (packages, what they are, what to change): judged by self time.
PACKAGE_RULES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("quart", "werkzeug", "quart_trio", "flask", "blinker", "jinja2"),
        "Quart's request/response machinery around the webhook and health routes",
        "Serve `POST /webhooks/openai` as a bare ASGI callable under hypercorn (as the simulated "
        "platform's call-control app is): read the body and the three webhook headers from the "
        "scope, call `WebhookIntake.handle`, send the JSON answer. Quart's request context, "
        "werkzeug's header and response objects and its signals are then skipped.",
    ),
    (
        ("trio",),
        "trio's scheduler, cancel scopes and socket calls (self time)",
        "Not ours to change directly: it is paid per await, so it falls when the layers above make "
        "fewer awaits per call.",
    ),
    (
        ("hypercorn", "h11", "h2", "wsproto", "priority"),
        "hypercorn's HTTP/1.1 server (h11)",
        "Mostly inherent for a pure-Python server; `keep_alive_timeout` above OpenAI's delivery "
        "interval avoids reconnect handshakes.",
    ),
)


#: Seen while developing these benchmarks (a smoke run with a tool call per call every 10 s on
#: about 600 live calls, while other work shared the machine); not a figure of a measured run.
POOL_HAZARD = (
    "### A hazard seen while building these benchmarks",
    "",
    "In a smoke run with 600 live calls each calling the http tool every 10 s (60 tool calls/s) while",
    "other work shared the machine, callvisor stopped answering its operator port, tool calls timed out",
    "and accepts failed with `connection_error`. A stack dump of the stuck process (py-spy) showed the",
    "event loop busy inside httpcore's `AsyncConnectionPool._assign_requests_to_connections`, the pool",
    "bookkeeping that walks every queued request against every connection on each request: once tool",
    "requests queue behind the shared `httpx.AsyncClient`'s 100-connection pool, each new request makes",
    "the loop slower and the queue longer. Since commit 367ba86 call control and http tools wait on a",
    "`trio.CapacityLimiter` of 64, inside their deadlines (cheap), rather than in the pool (quadratic),",
    "and the HTTP ports' `keep_alive_timeout` is 30 s (the first burst run's dropped connections).",
)

#: What was done about a rule (keyed by its first field), with where to read more.
DONE: dict[str, str] = {
    "actors/control.py:_call": (
        "The SDK now sends on `actors/transport.py` (h11 on trio streams, a keep-alive pool) instead "
        "of httpcore2 on anyio, and the session goes as `extra_body`, skipping the SDK's typed "
        "transform of a dict already in wire format (ADR 0009)."
    ),
    "config/resolve.py:resolve_tenant": (
        "What a `To` value reads as is kept in a bounded LRU (4,096 values); routes are still the "
        "source's answer on every call."
    ),
    "config/resolve.py:parse_config": (
        "The structured config is kept per tenant, keyed by the pickle of the raw document "
        "(`config/memo.py`)."
    ),
    "quart": (
        "The public port went bare (ADR 0008), then back to QuartTrio for one app style (ADR 0011): "
        "its cost is measured side by side in \"The public port\"; one JSON encoder and one send "
        "scope per answer won part back."
    ),
    "actors/log/_record.py:log_event|actors/log.py:log_event": (
        "A record goes to the handlers directly (no stack walk), its fields pre-ordered, one JSON "
        "encoder, the date formatted once per second; still one write and flush per line."
    ),
    "actors/session.py:_connect_and_serve|actors/session.py:_hold_sideband": (
        "The sideband runs in the call's own task (one task and nursery fewer per call); the "
        "handshake and the frames are trio-websocket's as before. The function measured changed with "
        "it (it now holds the whole session, greeting included), so before and after do not compare "
        "one to one."
    ),
    "config/resolve.py:build_tools": (
        "The built tools are kept with the config they came from; `to_openai()` copies without "
        "`deepcopy`."
    ),
}


def _share(rows: list[dict[str, Any]], name: str) -> float:
    """The share of ``name`` (``a|b``: of whichever of the names the profile has).

    A function missing from the profile's list (its top 40) is below the list's last share:
    that bound is returned as a negative number, rendered as ``< bound``.
    """
    names = name.split("|")
    found = [row["share"] for row in rows if row["name"] in names]
    if found or not rows:
        return float(sum(found))
    return -float(min(row["share"] for row in rows))


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _gain(share: float) -> str:
    """What removing ``share`` of the busy CPU does to a CPU-bound rate."""
    return f"x{1 / (1 - share):.2f}" if 0 < share < 1 else "-"


def _ms_per_call(profile: dict[str, Any] | None) -> float | None:
    """Busy milliseconds per answered call under the profiler."""
    if not profile:
        return None
    calls = (profile.get("load") or {}).get("calls")
    busy = profile.get("busy_s")
    return 1000 * busy / calls if calls and busy else None


def _costs(profile: dict[str, Any] | None) -> dict[str, tuple[str, str, float]]:
    """Each rule's (what, suggestion, share of busy CPU) in this profile."""
    costs: dict[str, tuple[str, str, float]] = {}
    if not profile:
        return costs
    inclusive = profile.get("inclusive_ours", [])
    for name, what, change in FUNCTION_RULES:
        costs[name] = (f"{what} (`{name.split('|')[0]}`)", change, _share(inclusive, name))
    by_package = profile.get("self_by_component", [])
    for packages, what, change in PACKAGE_RULES:
        share = sum(r["share"] for r in by_package if r["name"] in packages)
        costs[packages[0]] = (f"{what} ({', '.join(packages[:3])})", change, share)
    return costs


def profile_section(profile: dict[str, Any] | None, before: dict[str, Any] | None = None) -> list[str]:
    out = ["## 5. Profile", ""]
    if not profile:
        return [*out, "Not run.", ""]
    load = profile.get("load", {})
    out += [
        "`callvisor serve` ran under pyinstrument (1 ms sampling of the main thread, where trio runs",
        f"every task) while the load generator sent {load.get('rate_per_s')} webhooks/s for "
        f"{load.get('seconds')} s ({load.get('calls')} calls answered; each call's session opened and was hung up",
        f"a second later). Of {profile.get('wall_s')} s sampled, {profile.get('idle_s')} s were idle in epoll;",
        f"the shares below are of the {profile.get('busy_s')} s busy. `python -m bench profile` reproduces it and",
        "writes pyinstrument's interactive HTML next to the run's logs. trio's own share is the scheduler's",
        "work (task switches, cancel scopes, socket calls) done on behalf of every await; it shrinks when the",
        "layers above make fewer awaits per call.",
        "",
        "![profile](benchmarks/profile.png)",
        "",
        "| package (self time) | share of busy CPU |",
        "|---|---:|",
    ]
    out += [f"| {r['name']} | {_pct(r['share'])} |" for r in profile.get("self_by_component", [])[:14]]
    out += [
        "",
        "| our function (inclusive: with everything it calls) | share of busy CPU |",
        "|---|---:|",
    ]
    out += [f"| `{r['name']}` | {_pct(r['share'])} |" for r in profile.get("inclusive_ours", [])[:16]]
    out += ["", "| hottest functions (self time) | package | share |", "|---|---|---:|"]
    out += [
        f"| `{r['name']}` | {r['component']} | {_pct(r['share'])} |" for r in profile.get("top_self", [])[:12]
    ]
    out.append("")
    now = _costs(profile)
    if before:
        out += _changes(now, _ms_per_call(profile), _costs(before), _ms_per_call(before), before, profile)
    else:
        out += _suggestions(now)
    return [*out, *POOL_HAZARD, ""]


def _changes(
    now: dict[str, tuple[str, str, float]],
    now_ms: float | None,
    then: dict[str, tuple[str, str, float]],
    then_ms: float | None,
    before: dict[str, Any],
    profile: dict[str, Any],
) -> list[str]:
    def ms(share: float, per_call: float | None) -> str:
        below = "< " if share < 0 else ""
        return below + (f"{abs(share) * per_call:.2f}" if per_call else f"{_pct(abs(share))}")

    b_load, a_load = before.get("load", {}), profile.get("load", {})
    out = [
        "### What was changed, and what it was worth",
        "",
        "The earlier run's profile (kept in [before.json](benchmarks/before.json)) chose these changes.",
        "Costs are milliseconds of busy CPU per answered call under the profiler (the profiler itself",
        "roughly doubles them: compare section 1's CPU per call, measured without it): before,",
        f"{b_load.get('rate_per_s')}/s for {b_load.get('seconds')} s, "
        f"{then_ms or 0:.1f} ms per call in all; after, {a_load.get('rate_per_s')}/s for "
        f"{a_load.get('seconds')} s, {now_ms or 0:.1f} ms per call in all.",
        "",
        "| cost | before, ms/call | after, ms/call | what was done |",
        "|---|---:|---:|---|",
    ]
    rows = sorted(then.items(), key=lambda item: item[1][2], reverse=True)
    for key, (what, change, share) in rows:
        after = now.get(key, (what, change, 0.0))[2]
        done = DONE.get(key) or f"Not changed. {change}"
        out.append(f"| {what} | {ms(share, then_ms)} | {ms(after, now_ms)} | {done} |")
    return [*out, ""]


def _suggestions(now: dict[str, tuple[str, str, float]]) -> list[str]:
    out = [
        "### Suggested changes, by measured cost",
        "",
        "*Share* is what the change can remove at most, from this profile; *ceiling gain* is what",
        "removing all of it would do to a CPU-bound intake rate (1 / (1 - share)).",
        "",
        "| cost | share | ceiling gain | change |",
        "|---|---:|---:|---|",
    ]
    for what, change, share in sorted(now.values(), key=lambda row: row[2], reverse=True):
        if share > 0:
            out.append(f"| {what} | {_pct(share)} | {_gain(share)} | {change} |")
    return [*out, ""]
