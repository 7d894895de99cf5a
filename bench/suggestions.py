"""The Profile section of docs/benchmarks.md: measured shares, and what to change for them.

Each suggestion names the function (or packages) whose cost it removes; its share is read from
this run's profile, so the table says what the change is worth on this machine today.  They are
suggestions for the production code, which the benchmarks do not change: re-run
``python -m bench profile`` before and after applying one.
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
        "actors/log.py:log_event",
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
        "actors/session.py:_hold_sideband",
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
        ("hypercorn", "h11", "h2", "wsproto", "priority"),
        "hypercorn's HTTP/1.1 server (h11)",
        "Mostly inherent for a pure-Python server; `keep_alive_timeout` above OpenAI's delivery "
        "interval avoids reconnect handshakes.",
    ),
)


#: Seen while developing these benchmarks (a smoke run with a tool call per call every 10 s on
#: about 600 live calls, while other work shared the machine); not a figure of this run.
POOL_HAZARD = (
    "### A hazard seen while building these benchmarks",
    "",
    "In a smoke run with 600 live calls each calling the http tool every 10 s (60 tool calls/s) while",
    "other work shared the machine, callvisor stopped answering its operator port, tool calls timed out",
    "and accepts failed with `connection_error`. A stack dump of the stuck process (py-spy) showed the",
    "event loop busy inside httpcore's `AsyncConnectionPool._assign_requests_to_connections`, the pool",
    "bookkeeping that walks every queued request against every connection on each request: once tool",
    "requests queue behind the shared `httpx.AsyncClient`'s 100-connection pool, each new request makes",
    "the loop slower and the queue longer. httpx2 (the openai SDK's client) has the same pool. Bound the",
    "number of tool requests (and call-control requests) in flight with a `trio.CapacityLimiter` below",
    "the pool size, so that requests wait on the limiter (cheap) rather than in the pool (quadratic).",
    "The burst above (1,000 decisions, each making one REST request at once) may meet the same pool cost.",
    "",
    "Applied after this run (commit 367ba86): call control and http tools now wait on a",
    "`trio.CapacityLimiter` of 64, inside their deadlines, and the HTTP ports' `keep_alive_timeout` is",
    "30 s (the burst's dropped connections). Not re-measured yet: the figures above predate it.",
)


def _share(rows: list[dict[str, Any]], name: str) -> float:
    return float(sum(row["share"] for row in rows if row["name"] == name))


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _gain(share: float) -> str:
    """What removing ``share`` of the busy CPU does to a CPU-bound rate."""
    return f"x{1 / (1 - share):.2f}" if 0 < share < 1 else "-"


def profile_section(profile: dict[str, Any] | None) -> list[str]:
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
        "layers above make fewer awaits per call (the SDK's httpx2/anyio stack makes many).",
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
    out += [
        "",
        "### Suggested changes, by measured cost",
        "",
        "Not applied here (the benchmarks change no production code). *Share* is what the change",
        "can remove at most, from this profile; *ceiling gain* is what removing all of it would do to a",
        "CPU-bound intake rate (1 / (1 - share)).",
        "",
        "| cost | share | ceiling gain | change |",
        "|---|---:|---:|---|",
    ]
    suggestions = []
    inclusive = profile.get("inclusive_ours", [])
    for name, what, change in FUNCTION_RULES:
        share = _share(inclusive, name)
        if share > 0:
            suggestions.append((share, f"{what} (`{name}`)", change))
    by_package = profile.get("self_by_component", [])
    for packages, what, change in PACKAGE_RULES:
        share = sum(r["share"] for r in by_package if r["name"] in packages)
        if share > 0:
            suggestions.append((share, f"{what} ({', '.join(p for p in packages if _share(by_package, p))})", change))
    for share, what, change in sorted(suggestions, key=lambda s: s[0], reverse=True):
        out.append(f"| {what} | {_pct(share)} | {_gain(share)} | {change} |")
    out += ["", *POOL_HAZARD, ""]
    return out
