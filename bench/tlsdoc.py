"""The TLS parts of docs/benchmarks.md: the goals measured over TLS, TLS against plaintext in
the same run, and how the TLS figures were made (:func:`bench.doc.render` calls these).

Every phase but the ``*_plaintext`` ones talks to the simulated platform over https and wss;
see :mod:`bench.platform` and :func:`bench.procs.trust_env`.
"""

from __future__ import annotations

from typing import Any

#: The limits of issue 9's goals for the production (TLS) path.
CPU_RATIO_LIMIT = 1.3
RSS_LIMIT_KIB = 40.0
PEER_QUOTED_RSS_KB = 157.0
INTAKE_RATIO_GOAL = 5.0
PLACING_LAG_LIMIT_MS = 20.0
LIVE_GOAL = 10_000
CONN_PER_ACCEPT_LIMIT = 0.05
FD_SELECT_LIMIT = 1024


def num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def median(entry: dict[str, Any] | None) -> float | None:
    value = (entry or {}).get("median")
    return float(value) if isinstance(value, (int, float)) else None


def goal_row(label: str, measured: str, met: bool | None, margin: str, lever: str = "") -> str:
    verdict = "n/a" if met is None else ("met" if met else "**missed**")
    return f"| {label} | {measured} | {verdict} | {margin} | {lever if met is False else ''} |"


def at_most(value: float, limit: float, unit: str, digits: int = 1) -> tuple[bool, str]:
    """Verdict and margin of ``value <= limit``."""
    if value <= limit:
        return True, f"{num(limit - value, digits)}{unit} to spare"
    return False, f"{num(value - limit, digits)}{unit} over ({value / limit:.2f}x the limit)"


def cpu_per_call(r: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(TLS ms, plaintext ms, rate): callvisor's CPU per accepted call, both at the TLS run's
    sustained rate (the plaintext run repeats that rate as ``matched``)."""
    tls = r.get("intake") or {}
    plain = r.get("intake_plaintext") or {}
    t = median((tls.get("confirm") or {}).get("server_cpu_ms_per_call"))
    p = median((plain.get("matched") or {}).get("server_cpu_ms_per_call"))
    if p is None and plain.get("sustained_per_s") == tls.get("sustained_per_s"):
        p = median((plain.get("confirm") or {}).get("server_cpu_ms_per_call"))
    return t, p, tls.get("sustained_per_s")


def ours_concurrency(r: dict[str, Any]) -> dict[str, Any]:
    """callvisor's TLS concurrency run the goals speak of: the http-less one, else the http one."""
    return dict(r.get("concurrency_httpless") or r.get("concurrency") or {})


def level(data: dict[str, Any] | None, calls: int) -> dict[str, Any]:
    for lv in (data or {}).get("levels") or []:
        if lv["level"] == calls:
            return dict(lv)
    return {}


def top(data: dict[str, Any] | None) -> dict[str, Any]:
    return dict(max((data or {}).get("levels") or [], key=lambda lv: lv["level"], default={}))


def tls_goals(r: dict[str, Any]) -> list[str]:
    """The goals rows for the production path, each measured side by side in this run."""
    rows: list[str] = []
    t_cpu, p_cpu, rate = cpu_per_call(r)
    if t_cpu and p_cpu:
        ratio = t_cpu / p_cpu
        met = ratio <= CPU_RATIO_LIMIT
        rows.append(goal_row(
            f"server CPU per accepted call over TLS <= {CPU_RATIO_LIMIT}x plaintext (callvisor's process, same rate)",
            f"{num(t_cpu, 2)} vs {num(p_cpu, 2)} ms per call at {num(rate, 0)}/s = {ratio:.2f}x",
            met,
            f"{CPU_RATIO_LIMIT - ratio:.2f}x to spare" if met else f"{ratio - CPU_RATIO_LIMIT:.2f}x over ({num(t_cpu - p_cpu, 2)} ms of TLS per call)",
            "TLS adds one handshake per call, the sideband's (call control reuses pooled connections, see the "
            "connections row); it already resumes the previous call's session (\"One TLS connection, alone\": "
            "resumed against full). What is left is OpenSSL's handshake and trio's `SSLStream` in Python: "
            "next, profile a handshake under callvisor's load (section 5) for the Python share.",
        ))
    ours = ours_concurrency(r)
    peer = r.get("peer_concurrency") or {}
    plain = r.get("concurrency_plaintext") or {}
    tops = top(ours).get("level")
    for calls in sorted({1000, *([tops] if tops else [])}):
        lv = level(ours, calls)
        if not lv:
            continue
        rss = lv["rss_per_call_kib"]
        plv, xlv = level(peer, calls), level(plain, calls)
        parts = [f"callvisor {num(rss, 1)} KiB ({lv['live_sidebands']:,} live)"]
        if plv:
            parts.append(f"peer {num(plv['rss_per_call_kib'], 1)} KiB ({plv['live_sidebands']:,} live)")
        if xlv:
            parts.append(f"callvisor plaintext {num(xlv['rss_per_call_kib'], 1)} KiB")
        met, margin = at_most(rss, RSS_LIMIT_KIB, " KiB")
        tls_cost = f" (TLS costs {num(rss - xlv['rss_per_call_kib'], 1)} KiB of it)" if xlv else ""
        rows.append(goal_row(
            f"RSS per live call over TLS <= {num(RSS_LIMIT_KIB, 0)} KiB at {calls:,} calls "
            f"(the peer: {num(PEER_QUOTED_RSS_KB, 0)} KB quoted)",
            "; ".join(parts), met, margin,
            f"the transport's memory{tls_cost}: per call an OpenSSL connection, almost none of it Python "
            "objects (\"One TLS connection, alone\"); OpenSSL already frees idle record buffers. Next: "
            "find what OpenSSL keeps per idle connection (valgrind massif on one), and shrink the plaintext "
            "call's own share (its tasks and trio-websocket/wsproto state).",
        ))
    ours_rate = (r.get("intake") or {}).get("sustained_per_s")
    peer_rate = (r.get("peer_intake") or {}).get("sustained_per_s")
    if ours_rate and peer_rate:
        ratio = ours_rate / peer_rate
        met = ratio >= INTAKE_RATIO_GOAL
        rows.append(goal_row(
            f"sustained intake over TLS >= {num(INTAKE_RATIO_GOAL, 0)}x the peer's over TLS (same run)",
            f"{num(ours_rate, 0)} vs {num(peer_rate, 0)} webhooks/s = {ratio:.2f}x",
            met, f"{ratio / INTAKE_RATIO_GOAL * 100:.0f}% of the goal; {num(INTAKE_RATIO_GOAL, 0)}x would be "
            f"{num(INTAKE_RATIO_GOAL * peer_rate, 0)}/s",
            f"CPU per call: one core tops out near {num(1000 / t_cpu, 0) if t_cpu else 'n/a'} calls/s at "
            f"{num(t_cpu, 2)} ms per call (section 5 says where it goes); per machine, one process per core.",
        ))
    t = top(ours)
    climb = ours.get("placing_loop_lag")
    if t and climb:
        reached, aim = t["live_sidebands"], t["level"]
        lag = climb["p99_ms"]
        met_lag, margin = at_most(lag, PLACING_LAG_LIMIT_MS, " ms", 2)
        short = aim - reached
        met = met_lag and reached >= aim and aim >= LIVE_GOAL
        if aim < LIVE_GOAL:
            margin += f"; this run went to {aim:,} calls only ({r.get('plan')} plan)"
        elif short > 0:
            margin += f"; {short:,} calls short of {aim:,}"
        last = (t.get("placing_loop_lag") or {}).get("p99_ms")
        rows.append(goal_row(
            f"{LIVE_GOAL:,} live TLS calls in one process, event-loop lag p99 <= {num(PLACING_LAG_LIMIT_MS, 0)} ms while placing them",
            f"{reached:,} live; lag p99 {num(lag, 2)} ms over the whole climb (bucket {climb['p99_bucket_ms']}), "
            f"{num(last, 2)} ms placing the last level",
            met if aim >= LIVE_GOAL else (None if met_lag else False), margin,
            "the stalls while placing are the accepts' and handshakes' CPU bursts and the collector's "
            "passes over a growing heap (section 2 has the GC pauses during each placement); next: place "
            "fewer calls per second per replica, or raise GC_FULL_EVERY (supervisor/service.py) so that fewer full "
            "collections fall inside a placement.",
        ))
    conn = ours.get("conn_above_fd_limit")
    if conn and conn.get("accepts"):
        per = conn["opened_per_accept"]
        above = conn["min_fds"] > FD_SELECT_LIMIT
        met, margin = at_most(per, CONN_PER_ACCEPT_LIMIT, "", 3)
        pconn = (peer or {}).get("conn_above_fd_limit") or {}
        peer_text = (
            f"; peer {pconn['connections_opened']:,} for {pconn['accepts']:,} = {num(pconn['opened_per_accept'], 3)}"
            if pconn.get("accepts") else ""
        )
        rows.append(goal_row(
            f"call-control connections opened per accept above {FD_SELECT_LIMIT:,} open sockets <= {CONN_PER_ACCEPT_LIMIT}",
            f"{conn['connections_opened']:,} opened for {conn['accepts']:,} accepts = {num(per, 3)}, "
            f"callvisor holding {conn['min_fds']:,}-{conn['max_fds']:,} descriptors{peer_text}",
            met if above else None,
            margin if above else f"the window never held more than {FD_SELECT_LIMIT:,} descriptors",
            "the pool reconnects: the server closed idle connections (hypercorn's keep-alive timeout is 5 s, "
            "the pool keeps them 30 s and drops closed ones by its poll check); next: fewer idle connections "
            "kept, most recently used first (already LIFO), or TLS session resumption for the pool too.",
        ))
    return rows


def _cell(value: float | None, digits: int, unit: str = "") -> str:
    return "n/a" if value is None else f"{num(value, digits)}{unit}"


def _step_at(data: dict[str, Any], rate: float | None) -> dict[str, Any]:
    for step in data.get("sweep") or []:
        if step["offered_per_s"] == rate:
            return dict(step)
    return {}


def side_by_side(r: dict[str, Any]) -> list[str]:
    """TLS against plaintext for callvisor, same run (and the peer over TLS where it has one)."""
    tls, plain = r.get("intake") or {}, r.get("intake_plaintext") or {}
    ours, xconc = ours_concurrency(r), r.get("concurrency_plaintext") or {}
    if not (tls and plain) and not (ours and xconc):
        return []
    t_cpu, p_cpu, rate = cpu_per_call(r)
    rows: list[tuple[str, float | None, float | None, int]] = [
        ("sustained intake, webhooks/s", tls.get("sustained_per_s"), plain.get("sustained_per_s"), 0),
        (f"server CPU per accepted call at {num(rate, 0)}/s, ms", t_cpu, p_cpu, 2),
        (f"platform CPU at {num(rate, 0)}/s, cores (the other end of the TLS)",
         median((tls.get("confirm") or {}).get("platform_cpu_cores")),
         median((plain.get("matched") or {}).get("platform_cpu_cores")), 2),
        ("sequential webhook round trip p50, ms", median((tls.get("sequential") or {}).get("p50_ms")),
         median((plain.get("sequential") or {}).get("p50_ms")), 2),
    ]
    ts, ps = _step_at(tls, rate), _step_at(plain, rate)
    rows.append((f"accept REST round trip p50 at {num(rate, 0)}/s (sweep step), ms",
                 (ts.get("accept_rest") or {}).get("p50_ms"), (ps.get("accept_rest") or {}).get("p50_ms"), 2))
    rows.append((f"decision p50 at {num(rate, 0)}/s (sweep step), ms",
                 (ts.get("decision") or {}).get("p50_ms"), (ps.get("decision") or {}).get("p50_ms"), 2))
    for calls in sorted(lv["level"] for lv in xconc.get("levels") or []):
        t_lv, p_lv = level(ours, calls), level(xconc, calls)
        if t_lv and p_lv:
            rows.append((f"RSS per live call at {calls:,} calls (http-less tool), KiB",
                         t_lv["rss_per_call_kib"], p_lv["rss_per_call_kib"], 1))
            rows.append((f"CPU per call-minute at {calls:,} calls, ms",
                         t_lv["cpu_ms_per_call_minute"], p_lv["cpu_ms_per_call_minute"], 3))
            rows.append((f"event-loop lag p99 at {calls:,} calls (steady), ms",
                         (t_lv.get("loop_lag") or {}).get("p99_ms"), (p_lv.get("loop_lag") or {}).get("p99_ms"), 2))
            rows.append((f"event-loop lag p99 placing the first {calls:,} calls, ms",
                         (t_lv.get("placing_loop_lag") or {}).get("p99_ms"),
                         (p_lv.get("placing_loop_lag") or {}).get("p99_ms"), 2))
    out = [
        "## TLS against plaintext, same run",
        "",
        "callvisor over TLS (the production path) and over plaintext, each against its own platform in this",
        "run; medians of the repetitions. The plaintext intake repeats the TLS run's sustained rate, so the",
        "CPU per call compares at one rate.",
        "",
        "| figure (callvisor) | TLS | plaintext | TLS / plaintext |",
        "|---|---:|---:|---:|",
    ]
    for label, a, b, digits in rows:
        ratio = f"{a / b:.2f}x" if a and b else ""
        out.append(f"| {label} | {_cell(a, digits)} | {_cell(b, digits)} | {ratio} |")
    return [*out, ""]


PHASE_LABELS = (
    ("intake", "intake, callvisor"),
    ("intake_plaintext", "intake, callvisor (plaintext)"),
    ("peer_intake", "intake, peer"),
    ("concurrency_httpless", "concurrency, callvisor, http-less tool"),
    ("concurrency_plaintext", "concurrency, callvisor (plaintext)"),
    ("concurrency", "concurrency, callvisor, http tool"),
    ("peer_concurrency", "concurrency, peer"),
)


def _room(r: dict[str, Any]) -> list[str]:
    """What the plan gave up so that the plaintext phases fit in about 40 minutes."""
    plan = r.get("plan_settings") or {}
    http_levels = plan.get("http_tool_levels") or []
    if r.get("plan") != "full" or not http_levels:
        return []
    return [
        "- **Made room for them**: the http-tool concurrency run now stops at "
        + ", ".join(f"{n:,}" for n in http_levels)
        + " calls (it went to 5,000 before), so that the full run stays near 40 minutes; everything else keeps",
        f"  its {plan.get('reps')} repetitions.",
    ]


def _context_cost(r: dict[str, Any]) -> str:
    cost = (r.get("peer_intake") or {}).get("default_context_cost") or {}
    if not cost.get("kib_each"):
        return ""
    return (
        f"; one such context over this run's bundle ({cost['certificates']} certificates) costs "
        f"{num(cost['kib_each'], 0)} KiB and {num(cost['cpu_ms_each'], 1)} ms of CPU (measured in a process of its own)"
    )


def how_section(r: dict[str, Any]) -> list[str]:
    packages = (r.get("machine") or {}).get("packages") or {}
    out = [
        "## How the TLS figures were made",
        "",
        "- **The platform** (`bench/platform.py --tls`, i.e. `SimulatedPlatform(tls=True)`) serves call",
        "  control over https (hypercorn) and the sideband over wss (trio `SSLStream`), with a certificate for",
        "  127.0.0.1 issued by a throw-away trustme CA (ECDSA P-256, trustme's default), TLS 1.3 as negotiated.",
        "- **The trust store** is the system CA bundle plus that CA (`platform.tls.write_trust_bundle`), written",
        "  into the run directory; callvisor and the peer are each started with `SSL_CERT_FILE` naming it, exactly",
        "  as a production trust store with a private CA appended (docs/operations.md). Nothing in either server is",
        "  switched for the benchmark.",
        "- **callvisor** builds one client TLS context per process at start (`actors/tls.py`) and hands it to call",
        "  control, the sideband and http tools: a call costs one TLS handshake, its sideband's; call control",
        "  reuses pooled keep-alive connections (the connections-per-accept goal counts them).",
        f"- **The peer** has no TLS code of its own. The openai client (openai {packages.get('openai')}, on",
        "  httpx2/httpcore2) reads `SSL_CERT_FILE` when the client is built, once per process. The Agents SDK",
        f"  ({packages.get('openai-agents')}) opens each call's sideband with `websockets.connect` (`ssl=True` for a",
        "  `wss://` URL), for which asyncio builds a fresh `ssl.create_default_context()` per connection; OpenSSL",
        "  loads `SSL_CERT_FILE` into each, so the peer parses the whole bundle once per call and keeps it while",
        "  the call lasts. That is the SDK as shipped (without `SSL_CERT_FILE` it loads the system bundle the same",
        "  way)" + _context_cost(r) + ".",
        "- **Plain http where OpenAI is not involved**: the webhooks reach callvisor's public port over plain",
        "  http (it sits behind the operator's own TLS terminator), and so do the control API and the bench",
        "  tenant's http tool endpoint (`CALLVISOR_TOOL_ALLOW_HTTP`), so http tool round trips carry no TLS.",
        "- **The plaintext run** is the same `callvisor serve` against a platform serving http and ws, in the same",
        "  run: an intake phase (the sweep, its own sustained rate repeated, and the TLS run's sustained rate",
        "  repeated, at which CPU per call is compared; no ceiling or half-rate runs, which TLS does not touch)",
        "  and one RSS point at "
        + ", ".join(f"{n:,}" for n in (r.get("plan_settings") or {}).get("plaintext_levels") or [])
        + " live calls (http-less tool). The peer ran over TLS only.",
        *_room(r),
        "",
        "What each phase's platform saw (accepts and sideband handshakes arriving over its https / wss listeners,",
        "the distinct call-control connections), and what the servers logged as failed (callvisor:",
        "`call_accept_failed`, `call_session_start_failed`, `call_reject_failed` by reason, where a certificate",
        "problem would show as `tls_error`; the peer: `session_error` lines and unhandled exceptions):",
        "",
        "| phase | transport | accepts | sideband handshakes (101) | call-control connections | failures logged |",
        "|---|---|---:|---:|---:|---|",
    ]
    for key, label in PHASE_LABELS:
        data = r.get(key)
        if not isinstance(data, dict) or "platform_summary" not in data:
            continue
        summary = data["platform_summary"]
        failures = data.get("failures") or {}
        handshakes = (summary.get("handshake_statuses") or {}).get("101", summary.get("handshakes"))
        out.append(
            f"| {label} | {'https + wss' if summary.get('tls') else 'http + ws'} | "
            f"{(summary.get('requests') or {}).get('accept', 0):,} | {num(handshakes, 0)} | "
            f"{num(summary.get('rest_connections'), 0)} | "
            f"{', '.join(f'{k} {v:,}' for k, v in failures.items()) or 'none'} |"
        )
    return [*out, ""]
