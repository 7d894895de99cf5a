"""docs/benchmarks.md, rendered from one run's results (``bench.report`` calls :func:`render`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench import public_port_ab, tlscost
from bench import sections as bench_sections
from bench.compare import before_after
from bench.soak_doc import soak_section
from bench.suggestions import profile_section
from bench.tlsdoc import goal_row, how_section, median, side_by_side, tls_goals

PEER_EARLIER = {"rate": 80.0, "cpu_ms": 12.0, "rtt_p50_ms": 11.0, "rss_kb": 96.0}


def num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def med(entry: dict[str, Any] | None, digits: int = 1) -> str:
    """``median (min-max)`` of a spread entry."""
    if not entry or entry.get("median") is None:
        return "n/a"
    if entry["min"] == entry["max"]:
        return num(entry["median"], digits)
    return f"{num(entry['median'], digits)} ({num(entry['min'], digits)}-{num(entry['max'], digits)})"


def _goal(label: str, measured: str, met: bool | None, margin: str, lever: str = "") -> str:
    return goal_row(label, measured, met, margin, lever)


def goals(r: dict[str, Any]) -> list[str]:
    """The goals table: the production-path (TLS) goals first, then the earlier ones, measured over
    TLS too in this run."""
    ours = r.get("intake") or {}
    rows = [
        "| goal | measured | verdict | margin | next lever (when missed) |",
        "|---|---|---|---|---|",
        *tls_goals(r),
    ]
    ours_rate = ours.get("sustained_per_s")
    cpu_ms = median((ours.get("confirm") or {}).get("server_cpu_ms_per_call"))
    ceiling = (ours.get("ceiling") or {}).get("requests_per_s", {}).get("median")
    if ours_rate and ceiling:
        share = ours_rate / ceiling
        rows.append(_goal(
            ">= 70% of our own empty-route ceiling",
            f"{num(ours_rate, 0)} of {num(ceiling, 0)} req/s = {share * 100:.0f}%",
            share >= 0.7, f"{(share - 0.7) * 100:+.0f} points",
            f"a webhook costs {num(cpu_ms, 1)} ms of CPU against {num(1000 / ceiling, 2)} ms for the empty route "
            "(section 1, Why these numbers): the lever is CPU per call, section 5.",
        ))
    half = ours.get("half_rate")
    if half:
        p99 = half["decision_p99_ms"]
        rows.append(_goal(
            "p99 decision overhead <= 5 ms at half the sustained rate",
            f"{med(p99, 2)} ms at {num(half['rate_per_s'], 0)}/s",
            p99["median"] is not None and p99["median"] <= 5.0,
            f"{num((p99['median'] or 0) - 5.0, 2)} ms over" if (p99["median"] or 0) > 5 else f"{num(5.0 - (p99['median'] or 0), 2)} ms to spare",
            "the decision's tail is the event loop's queue: see the decision CDF and section 5.",
        ))
    seq = (ours.get("sequential") or {}).get("p50_ms")
    if seq:
        accept = median((ours.get("half_rate") or {}).get("round_trip_p50_ms"))
        rows.append(_goal(
            "sequential webhook round trip p50 <= 3 ms",
            f"{med(seq, 2)} ms", seq["median"] is not None and seq["median"] <= 3.0,
            f"{num(seq['median'] - 3.0, 2)} ms over" if seq["median"] > 3 else f"{num(3.0 - seq['median'], 2)} ms to spare",
            "the round trip includes the accept's REST request to OpenAI (answered after it) and the CPU of "
            "one call"
            + (f" (round trip p50 {num(accept, 1)} ms at half rate)" if accept else "")
            + ": a cheaper call-control request, or answering before the accept, which changes the contract.",
        ))
    conc = r.get("concurrency_httpless") or r.get("concurrency") or {}
    top = max(conc.get("levels", []), key=lambda lv: lv["level"], default=None)
    if top:
        reached = top["live_sidebands"]
        lag = (top.get("loop_lag") or {}).get("p99_ms")
        if lag is not None:
            rows.append(_goal(
                f"event-loop lag p99 <= 10 ms at {reached:,} calls (steady, after placing)",
                f"{num(lag, 2)} ms (bucket {top['loop_lag']['p99_bucket_ms']})",
                lag <= 10, f"{num(lag - 10, 2)} ms over" if lag > 10 else f"{num(10 - lag, 2)} ms to spare",
                "the collector's full passes over the heap of every live call (section 2, GC pauses).",
            ))
    burst = r.get("burst")
    if burst and burst.get("runs"):
        exact = all(
            run["accepted_answers"] == burst["limit"] == run["accept_requests_seen"] and run["zero_after_end"]
            for run in burst["runs"]
        )
        accepted = ", ".join(str(run["accepted_answers"]) for run in burst["runs"])
        rows.append(_goal(
            f"the burst admits exactly the limit ({burst['limit']})",
            f"accepted per run: {accepted}", exact, "exact" if exact else "see the burst section",
            "see section 3.",
        ))
    return rows


def _sweep_table(data: dict[str, Any]) -> list[str]:
    rows = [
        "| offered /s | answered /s | round trip p50 / p99 ms | decision p50 / p99 ms | accept REST p50 ms | server CPU (cores) | server CPU ms per call | platform CPU (cores) | passed |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in data.get("sweep", []):
        decision = s.get("decision", {})
        rows.append(
            f"| {num(s['offered_per_s'], 0)} | {num(s['achieved_per_s'])} | "
            f"{num(s['round_trip']['p50_ms'])} / {num(s['round_trip']['p99_ms'])} | "
            f"{num(decision.get('p50_ms'), 2)} / {num(decision.get('p99_ms'), 2)} | "
            f"{num(s.get('accept_rest', {}).get('p50_ms'), 2)} | {num(s.get('server_cpu_cores'), 2)} | "
            f"{num(s.get('server_cpu_ms_per_call'), 2)} | {num(s.get('platform_cpu_cores'), 2)} | "
            f"{'yes' if s['ok'] else 'no: ' + _why_failed(s)} |"
        )
    return rows


def _why_failed(step: dict[str, Any]) -> str:
    reasons = []
    if step["errors"]:
        reasons.append(f"{step['errors']} errors")
    if step["achieved_per_s"] < 0.95 * step["offered_per_s"]:
        reasons.append("fell behind")
    if step["round_trip"]["p99_ms"] and step["round_trip"]["p99_ms"] > 250:
        reasons.append("p99 over 250 ms")
    if step.get("abandoned"):
        reasons.append("abandoned")
    return ", ".join(reasons) or "?"


def intake_section(r: dict[str, Any]) -> list[str]:
    ours, peer = r.get("intake") or {}, r.get("peer_intake") or {}
    out = ["## 1. Intake", ""]
    if not ours:
        return [*out, "Not run.", ""]
    out += [
        "Signed `realtime.call.incoming` webhooks for the `bench` tenant, posted by the load generator",
        "over 64 keep-alive connections on an open-loop schedule (a fixed number per second, whatever",
        "the server does; round trips count from the scheduled instant). Each accepted call opens its",
        "sideband websocket to the platform, which hangs it up a second later, so calls come and go",
        "while the rate climbs. A step passes with no error, p99 round trip <= 250 ms and at least 95%",
        "of the offered rate answered; the highest passing step is the sustained rate, re-run",
        f"{len((ours.get('confirm') or {}).get('runs', []))} times to confirm it.",
        "",
        "Both servers reach the platform over TLS; the last column is callvisor's plaintext run beside them",
        "(no ceiling or half-rate runs: the public port is plain http either way).",
        "",
        "| | callvisor (TLS) | Agents-SDK peer (TLS) | ratio | callvisor, plaintext |",
        "|---|---:|---:|---:|---:|",
    ]
    plain = r.get("intake_plaintext") or {}
    oc = (ours.get("ceiling") or {}).get("requests_per_s")
    pc = (peer.get("ceiling") or {}).get("requests_per_s")
    out.append(f"| empty-route ceiling, req/s (`GET /health`; peer `GET /`) | {med(oc, 0)} | {med(pc, 0)} | {_ratio(oc, pc)} | |")
    osr, psr = ours.get("sustained_per_s"), peer.get("sustained_per_s")
    out.append(f"| sustained intake, webhooks/s (highest passing step) | {num(osr, 0)} | {num(psr, 0)} | {_ratio_n(osr, psr)} | {num(plain.get('sustained_per_s'), 0)} |")
    oconf = (ours.get("confirm") or {}).get("achieved_per_s")
    pconf = (peer.get("confirm") or {}).get("achieved_per_s")
    out.append(f"| answered at the sustained rate, repeated | {med(oconf)} | {med(pconf)} | | {med((plain.get('confirm') or {}).get('achieved_per_s'))} |")
    out.append(f"| sustained intake / own ceiling | {_ratio_n(osr, (oc or {}).get('median'), pct=True)} | {_ratio_n(psr, (pc or {}).get('median'), pct=True)} | | |")
    ocpu = (ours.get("confirm") or {}).get("server_cpu_ms_per_call")
    pcpu = (peer.get("confirm") or {}).get("server_cpu_ms_per_call")
    out.append(f"| server CPU per call at the sustained rate, ms | {med(ocpu, 2)} | {med(pcpu, 2)} | {_ratio(pcpu, ocpu)} less | {med((plain.get('confirm') or {}).get('server_cpu_ms_per_call'), 2)} |")
    oseq = (ours.get("sequential") or {}).get("p50_ms")
    pseq = (peer.get("sequential") or {}).get("p50_ms")
    out.append(f"| sequential webhook round trip p50, ms | {med(oseq, 2)} | {med(pseq, 2)} | | {med((plain.get('sequential') or {}).get('p50_ms'), 2)} |")
    out.append(
        f"| sequential webhook round trip p99, ms | {med((ours.get('sequential') or {}).get('p99_ms'), 2)} | "
        f"{med((peer.get('sequential') or {}).get('p99_ms'), 2)} | | {med((plain.get('sequential') or {}).get('p99_ms'), 2)} |"
    )
    for label, data in (("callvisor", ours), ("peer", peer)):
        half = data.get("half_rate")
        if half:
            out.append(
                f"| {label} at half the sustained rate ({num(half['rate_per_s'], 0)}/s): decision p50 / p99 ms, round trip p50 / p99 ms | "
                + (f"{med(half['decision_p50_ms'], 2)} / {med(half['decision_p99_ms'], 2)}; {med(half['round_trip_p50_ms'], 1)} / {med(half['round_trip_p99_ms'], 1)}" if label == "callvisor" else "")
                + " | "
                + (f"{med(half['decision_p50_ms'], 2)} / {med(half['decision_p99_ms'], 2)}; {med(half['round_trip_p50_ms'], 1)} / {med(half['round_trip_p99_ms'], 1)}" if label == "peer" else "")
                + " | | |"
            )
    out += [
        "",
        "Figures are `median (min-max)` over the repetitions. The *decision* is measured inside each",
        "server, from the webhook body in hand to the accept request leaving (callvisor: the",
        "`call_accepted` log line's `decision_ms`; the peer logs the same span); *accept REST* is the",
        "accept's own round trip to the platform; the *round trip* is what the sender sees, and it",
        "includes the accept, because both servers answer the webhook only once the call is accepted.",
        "",
        "![intake sweep](benchmarks/intake_sweep.png)",
        "",
        "![ceiling and sustained intake](benchmarks/intake_summary.png)",
        "",
        "![decision overhead](benchmarks/decision_overhead.png)",
        "",
        "### callvisor over TLS, step by step",
        "",
        *_sweep_table(ours),
        "",
    ]
    if peer:
        out += ["### Agents-SDK peer over TLS, step by step", "", *_sweep_table(peer), ""]
    if plain:
        out += ["### callvisor over plaintext, step by step", "", *_sweep_table(plain), ""]
        matched = plain.get("matched")
        if matched:
            out += [
                f"Repeated at the TLS run's sustained rate ({num(matched.get('rate_per_s'), 0)}/s): answered "
                f"{med(matched['achieved_per_s'])}/s, server CPU {med(matched['server_cpu_ms_per_call'], 2)} ms per call.",
                "",
            ]
    out += _intake_why(ours, peer)
    return out


def _intake_why(ours: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    out = ["### Why these numbers", ""]
    sweep = ours.get("sweep") or []
    failing = next((s for s in sweep if not s["ok"]), None)
    confirm = ours.get("confirm") or {}
    cpu_ms = (confirm.get("server_cpu_ms_per_call") or {}).get("median")
    if cpu_ms:
        out.append(
            f"- Each accepted call costs callvisor about {num(cpu_ms, 1)} ms of CPU from webhook to "
            f"teardown (webhook, tenant resolution, accept through the openai SDK, sideband handshake, "
            f"greeting, close, and the log lines), so one core tops out near {num(1000 / cpu_ms, 0)} calls/s. "
            "The profile below says where that time goes."
        )
    if failing:
        out.append(
            f"- callvisor's work all runs on one thread (trio), so one core is its ceiling: at "
            f"{num(failing['offered_per_s'], 0)}/s it used {num(failing.get('server_cpu_cores'), 2)} cores, while the "
            f"platform used {num(failing.get('platform_cpu_cores'), 2)} and the load generator "
            f"{num(failing.get('loadgen_cpu_cores'), 2)} of the machine's second core. More calls per second "
            "per process need less CPU per call (see Profile); more per machine, one process per core."
        )
    ceiling = (ours.get("ceiling") or {}).get("requests_per_s", {}).get("median")
    if ceiling and ours.get("sustained_per_s"):
        out.append(
            f"- The empty route answers {num(ceiling, 0)} req/s: hypercorn and the QuartTrio app cost about "
            f"{num(1000 / ceiling, 2)} ms of CPU for a request that does nothing. A webhook is one such "
            "request plus an outgoing HTTP request (the accept, through the openai SDK) plus a websocket "
            "client session (TCP connect, TLS handshake (resumed), upgrade, the greeting, the close), each of them "
            "several socket operations and trio task switches, so its cost is several empty requests: the "
            "70% goal assumed a decision as cheap as the route around it. Reaching it on one pure-Python "
            "core would mean a call costing about 1.4 empty requests."
        )
    seq = (ours.get("sequential") or {}).get("p50_ms", {}).get("median")
    half = ours.get("half_rate") or {}
    accept_p50 = None
    for run in half.get("runs", []):
        accept_p50 = run.get("accept_rest_p50_ms")
    if seq:
        out.append(
            f"- The sequential round trip ({num(seq, 2)} ms p50) is mostly the accept request: the decision "
            f"itself is {med(half.get('decision_p50_ms'), 2)} ms at p50 while the accept's REST round trip "
            f"to the platform is {num(accept_p50, 2)} ms (the openai SDK on our transport, then the platform's "
            "hypercorn, in another process on the same 2 cores). Against OpenAI the accept's network round "
            "trip adds to this, for both servers alike; what is ours of the 3 ms goal is the decision."
        )
    if peer.get("sustained_per_s") and ours.get("sustained_per_s"):
        pcpu = (peer.get("confirm") or {}).get("server_cpu_ms_per_call", {}).get("median")
        pcores = max((s.get("server_cpu_cores") or 0 for s in peer.get("sweep", [])), default=0)
        out.append(
            f"- The peer, in the same run and on the same platform, sustains {num(peer['sustained_per_s'], 0)}/s "
            f"at about {num(pcpu, 1)} ms of CPU per call (the goal text quotes ~{num(PEER_EARLIER['cpu_ms'], 0)} ms "
            f"and ~{num(PEER_EARLIER['rate'], 0)}/s, measured earlier against another local fake). Its process "
            f"reached {num(pcores, 2)} cores in the sweep: it runs threads beside its event loop, while callvisor's "
            "work all happens on its one trio thread. Both answer the webhook right after the accept and run "
            "the session afterwards, so per call they do the same work; the difference in rate is CPU per call "
            "and how many cores each can use."
        )
        out.append(
            "- The peer's decision is shorter because it decides nothing: it accepts every call with fixed "
            "instructions. callvisor routes the dialed number to a tenant, takes a capacity slot and builds the "
            "tenant's session (prompts, model, voice, tools) before it sends the accept."
        )
    return [*out, ""]


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or not a.get("median") or not b.get("median"):
        return ""
    return f"{a['median'] / b['median']:.2f}x"


def _ratio_n(a: float | None, b: float | None, *, pct: bool = False) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b * 100:.0f}%" if pct else f"{a / b:.2f}x"


def concurrency_section(r: dict[str, Any]) -> list[str]:
    out = ["## 2. Concurrent live calls", ""]
    runs = [
        ("callvisor, http-less tool", r.get("concurrency_httpless")),
        ("callvisor, http-less tool, plaintext", r.get("concurrency_plaintext")),
        ("callvisor, http tool", r.get("concurrency")),
        ("Agents-SDK peer", r.get("peer_concurrency")),
    ]
    present: list[tuple[str, dict[str, Any]]] = [(label, data) for label, data in runs if data]
    if not present:
        return [*out, "Not run.", ""]
    period = (r.get("plan_settings") or {}).get("tool_period_s")
    out += [
        "Calls are placed through the webhook, then stay up: each holds its sideband websocket, and the",
        f"platform has the model call a tool on every call once every {num(period, 0)} s (random phase), timing each",
        "round trip from the function-call events it sends to the `function_call_output` it receives.",
        "callvisor ran twice: with an *http-less* tool round trip (the model calls a tool the tenant does",
        "not have; callvisor answers `tool_not_found` on the sideband at once and logs it) and with the",
        "tenant's *http tool* (`lookup_order`: callvisor POSTs the arguments to the tool's URL, answered by",
        "the platform). The peer runs its agent's local function tool. The simulated model does not speak",
        "in these runs (no audio events), so the sideband carries the tool traffic only.",
        "",
        "RSS is the process's resident memory above its own baseline (after a warm-up, before any call),",
        "divided by live calls; CPU is the process's CPU time over the measuring window per call-minute.",
        "Event-loop lag is callvisor's `callvisor_event_loop_lag_seconds` histogram over the window: a",
        "bucketed estimate, interpolated inside the bucket whose bounds are shown. *GC pauses* are the",
        "collector's runs in the window from `callvisor_gc_pause_seconds`: young (generations 0-1) and",
        "full (generation 2) collections, count and total time. The peer has neither metric.",
        "",
        "All runs are over TLS but the one marked plaintext. *Lag placing* is the same histogram over the",
        "placement of the level's calls (accepts and handshakes included), with the collector's young and full",
        "collections then.",
        "",
        "| server | live calls | RSS MiB | RSS per call KiB | CPU (cores) | CPU ms per call-minute | tool round trip p50 / p99 ms (n) | loop lag p99 ms [bucket] | GC pauses: young n / s; full n / s | lag placing p99 ms [bucket]; GC young / full n | open fds | placing took s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, data in present:
        for lv in data["levels"]:
            lag = lv.get("loop_lag") or {}
            tool = lv["tool"]
            out.append(
                f"| {label} | {lv['live_sidebands']:,} | {num(lv['rss_bytes'] / 2**20, 0)} | {num(lv['rss_per_call_kib'], 1)} | "
                f"{num(lv['cpu_cores'], 3)} | {num(lv['cpu_ms_per_call_minute'], 3)} | "
                f"{num(tool['round_trip']['p50_ms'], 1)} / {num(tool['round_trip']['p99_ms'], 1)} ({tool['round_trip']['n']}) | "
                f"{num(lag.get('p99_ms'), 2)} {lag.get('p99_bucket_ms', '')} | {_gc_cell(lv.get('gc_pauses'))} | "
                f"{_placing_cell(lv)} | {lv['fds']:,} | {num(lv['placement']['seconds'], 0)} |"
            )
    for label, data in present:
        if data.get("stopped"):
            out.append(f"\n**{label}: {data['stopped']}**; the levels above it were not measured.")
            if data.get("stuck_stack"):
                out += ["Where its event loop was (py-spy, innermost frame first):", "", "```"]
                out += [line for line in data["stuck_stack"][:8]]
                out += ["```"]
        for lv in data.get("levels", []):
            if lv["live_sidebands"] < 0.98 * lv["level"]:
                out.append(
                    f"\n{label}: aiming for {lv['level']:,} calls, {lv['live_sidebands']:,} were up. The placing load "
                    "generator gives up once it falls far behind its schedule (the service was answering webhooks "
                    "slower than the placing rate while carrying the calls already up), and the level was measured "
                    "with the calls it had."
                )
            failed = {k: v for k, v in lv["placement"]["outcomes"].items() if k not in ("accepted", "ok")}
            if failed:
                out.append(
                    f"\n{label}: placing the calls up to {lv['level']:,}, "
                    + ", ".join(f"{n:,} answered {k.replace('_', ' ')}" for k, n in failed.items())
                    + " (callvisor answers 503 when an accept fails, and OpenAI would deliver the webhook "
                    "again; the service's log says why: `call_accept_failed` with its reason)."
                )
        timeouts = sum(lv["tool"].get("timeouts", 0) for lv in data.get("levels", []))
        if timeouts:
            out.append(f"\n{label}: {timeouts} tool calls got no output within 30 s (not in the round trips above).")
    out += ["", "![concurrency](benchmarks/concurrency.png)", ""]
    out += _connections(present)
    out += _concurrency_why(r)
    ours = r.get("concurrency_httpless") or r.get("concurrency")
    if ours and ours.get("levels"):
        top = max(ours["levels"], key=lambda lv: lv["level"])
        base_fds = ours.get("baseline_fds", 0)
        per_call_fds = (top["fds"] - base_fds) / max(top["live_sidebands"], 1)
        out += [
            "### What a deployment needs",
            "",
            f"- **File descriptors.** callvisor held {top['fds']:,} descriptors with {top['live_sidebands']:,} live calls "
            f"({num(per_call_fds, 2)} per call above its idle {base_fds}): one socket per sideband, plus pooled",
            "  connections for call control and tools. Set `LimitNOFILE` (systemd) or `ulimit -n` to at least",
            "  2 x `MAX_CONCURRENT_CALLS` + 256, what `callvisor serve` checks at start (`fd_limit_low`; the second",
            "  descriptor per call is room for webhooks in delivery); the common default of 1,024 caps a process below 400 calls.",
            "  The harness raised its own soft limit to the hard limit (`resource.setrlimit`), and the processes",
            "  it starts inherit it; the limit here was "
            f"{(r.get('machine') or {}).get('rlimit_nofile')}.",
            f"- **Memory.** Budget the baseline ({num(ours['baseline_rss_bytes'] / 2**20, 0)} MiB) plus "
            f"{num(top['rss_per_call_kib'], 0)} KiB per call, and set `MAX_CONCURRENT_CALLS` to match.",
            "- **Ports.** Each sideband is an outgoing connection to one address: 10,000 calls use 10,000 local",
            "  ports of the default ~28,000-port ephemeral range.",
            "- **Tool traffic.** At most 64 http tool requests are in flight per process, and separately 64",
            "  call-control requests; more wait on a trio limiter (cheap), not in a connection pool (see the",
            "  hazard under Profile). Slow tool endpoints therefore delay other tool calls, never accepts.",
            "",
        ]
    return out


def _placing_cell(lv: dict[str, Any]) -> str:
    lag = lv.get("placing_loop_lag")
    if not lag:
        return "n/a"
    pauses = lv.get("placing_gc_pauses") or {}
    young = sum((pauses.get(g) or {}).get("count", 0) for g in ("0", "1"))
    full = (pauses.get("2") or {}).get("count", 0)
    return f"{num(lag.get('p99_ms'), 2)} {lag.get('p99_bucket_ms', '')}; {young:.0f} / {full:.0f}"


def _connections(present: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Call-control connections per accept while the server held more than 1,024 descriptors."""
    rows = []
    for label, data in present:
        for lv in data.get("levels", []):
            w = lv.get("conn_window")
            if not w:
                continue
            rows.append(
                f"| {label} | {w['live_at_start']:,} -> {lv['live_sidebands']:,} | {w['fds_at_start']:,} -> {w['fds_at_end']:,} | "
                f"{w['accepts']:,} | {w['connections_opened']:,} | {w['connections_used']:,} | "
                f"{num(w['connections_opened'] / w['accepts'], 4) if w['accepts'] else 'n/a'} |"
            )
    if not rows:
        return []
    return [
        "### Call-control connections above 1,024 descriptors",
        "",
        "Each placement that starts above 1,100 live calls (the first one is split there) opens a window on",
        "the platform, which tells its call-control clients apart by TCP peer (`host:port`): *opened* counts",
        "peers first seen in the window, *used* every peer that sent a request in it. The descriptor counts",
        "are the server process's (`psutil` `num_fds`) when the window opened and closed.",
        "",
        "| server | live calls | open descriptors | accepts | connections opened | connections used | opened per accept |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def _gc_cell(pauses: dict[str, dict[str, float]] | None) -> str:
    """Young and full collections in the window, from the ``callvisor_gc_pause_seconds`` deltas."""
    if not pauses:
        return "n/a"
    young = [pauses.get(g, {}) for g in ("0", "1")]
    full = pauses.get("2", {})
    young_n = sum(p.get("count", 0) for p in young)
    young_s = sum(p.get("seconds", 0) for p in young)
    return f"{young_n:.0f} / {young_s:.2f}; {full.get('count', 0):.0f} / {full.get('seconds', 0):.2f}"


def _shared_note(r: dict[str, Any], phase: str) -> str:
    load = (r.get("foreign_load") or {}).get(phase)
    if not load or load["max_cores"] <= 0.5:
        return ""
    return (
        f" Other work on the machine peaked at {num(load['max_cores'], 2)} cores during this phase "
        f"(mean {num(load['mean_cores'], 2)}), which may account for part of the tail."
    )


def _concurrency_why(r: dict[str, Any]) -> list[str]:
    out = []
    ours = r.get("concurrency_httpless") or r.get("concurrency") or {}
    peer = r.get("peer_concurrency") or {}
    levels = ours.get("levels") or []
    if levels:
        top = max(levels, key=lambda lv: lv["level"])
        line = (
            f"- **Memory.** callvisor holds {num(top['rss_per_call_kib'], 1)} KiB per live call at "
            f"{top['live_sidebands']:,} calls"
        )
        if peer.get("levels"):
            ptop = max(peer["levels"], key=lambda lv: lv["level"])
            line += (
                f", the peer {num(ptop['rss_per_call_kib'], 1)} KiB at {ptop['live_sidebands']:,} (measured here; "
                "the TLS goal quotes 157 KB)"
            )
            cost = (r.get("peer_intake") or {}).get("default_context_cost") or {}
            if cost.get("kib_each"):
                line += (
                    f". Most of the peer's is TLS: each of its sideband connections gets a default context of its own, "
                    f"holding the parsed trust bundle ({cost['certificates']} certificates: {num(cost['kib_each'], 0)} KiB "
                    f"and {num(cost['cpu_ms_each'], 1)} ms of CPU each, measured apart), where callvisor shares one context "
                    "per process"
                )
        out.append(line + ". Per call callvisor keeps two trio tasks (the call actor, which also holds the "
                   "sideband, and trio-websocket's reader) with their cancel scopes and nursery, a trio-websocket "
                   "connection with its wsproto state and buffers, and the call's handle and plan (the tenant's "
                   "config and tools are shared by its calls). The rest of a call's memory is the transport's "
                   "(over TLS an OpenSSL connection too, against one shared context): "
                   "shrinking it further means a leaner websocket client, not fewer objects of ours.")
        lag = (top.get("loop_lag") or {}).get("p99_ms")
        pauses = top.get("gc_pauses") or {}
        full = pauses.get("2") or {}
        young_s = sum((pauses.get(g) or {}).get("seconds", 0.0) for g in ("0", "1"))
        young_n = sum((pauses.get(g) or {}).get("count", 0.0) for g in ("0", "1"))
        if lag is not None and not pauses:
            out.append(
                f"- **Event-loop lag.** At {top['live_sidebands']:,} calls the lag p99 was {num(lag, 1)} ms, with the "
                f"process at {num(top['cpu_cores'], 2)} cores (this run did not record the collector's pauses)."
                + _shared_note(r, "concurrency_httpless" if r.get("concurrency_httpless") else "concurrency")
            )
        elif lag is not None:
            text = (
                f"- **Event-loop lag.** At {top['live_sidebands']:,} calls the lag p99 was {num(lag, 1)} ms, with the "
                f"process at {num(top['cpu_cores'], 2)} cores. The stalls callvisor can have at this size are the "
                "garbage collector's: in the window it ran "
                f"{young_n:.0f} young collections ({young_s * 1000:.0f} ms in all, {young_s / max(young_n, 1) * 1000:.1f} ms "
                f"each on average) and {full.get('count', 0):.0f} full ones ({full.get('seconds', 0.0):.2f} s). "
                "`callvisor serve` runs the young collections itself every 0.5 s and a full one at most every "
                "600 of them (docs/operations.md, Garbage collection pauses); a full collection over this heap "
                "still stops the loop for seconds when it comes, and on Python 3.11 nothing avoids that."
            )
            if pauses and lag > 10 and not full.get("count"):
                text += " No full collection fell in this window, so this lag is not the collector's."
            out.append(text + _shared_note(r, "concurrency_httpless" if r.get("concurrency_httpless") else "concurrency"))
        slow = [lv for lv in levels if (lv["tool"]["round_trip"]["p99_ms"] or 0) > 100
                and ((lv.get("loop_lag") or {}).get("p99_ms") or 0) < 10]
        if slow:
            lv = slow[0]
            out.append(
                f"- **Tool round trip tail.** At {lv['live_sidebands']:,} calls the tool p99 was "
                f"{num(lv['tool']['round_trip']['p99_ms'], 0)} ms while callvisor's own loop lag p99 stayed at "
                f"{num(lv['loop_lag']['p99_ms'], 1)} ms: the round trip is timed in the platform process, which "
                "carries the other end of every call (and its own garbage collector), so most of that tail is "
                "likely the platform's, not callvisor's."
            )
    return [*out, ""] if out else []


def burst_section(r: dict[str, Any]) -> list[str]:
    burst = r.get("burst")
    out = ["## 3. Burst", ""]
    if not burst:
        return [*out, "Not run.", ""]
    out += [
        f"`MAX_CONCURRENT_CALLS={burst['limit']}`; {burst['count']:,} connections opened first, then one webhook on",
        "each at the same instant. Accepted calls stay up until every answer is in; then the platform hangs",
        "them all up and the operator port's `GET /actors` must show `capacity.used == 0`.",
        "",
        "| run | accepted answers | accept requests the platform saw | `call_accepted` lines | other answers | decide all s | round trip p50 / p99 ms | capacity used while live | used after hangup | released in s |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for i, run in enumerate(burst["runs"], 1):
        others = ", ".join(f"{k}: {v}" for k, v in run["answers"].items() if k != "accepted")
        out.append(
            f"| {i} | {run['accepted_answers']} | {run['accept_requests_seen']} | {run['accepted_log_lines']} | {others} | "
            f"{num(run['decide_all_s'], 2)} | {num(run['round_trip']['p50_ms'], 0)} / {num(run['round_trip']['p99_ms'], 0)} | "
            f"{run['capacity_used_while_live']} | {run['capacity_used_after']} | {num(run['slots_released_s'], 2)} |"
        )
    out.append("")
    lost = sum(run["answers"].get("ConnectionLost", 0) + run["answers"].get("TooSlowError", 0) for run in burst["runs"])
    slowest = max(run["decide_all_s"] for run in burst["runs"])
    out += [
        f"Deciding all {burst['count']:,} took up to {num(slowest, 1)} s: every call is decided on the one event loop,",
        "and each rejection is a REST request to the platform through the openai SDK, as each acceptance is.",
        "The answers arrive in waves (round-trip p50 against p99 above).",
    ]
    if lost:
        out += [
            f"{lost} deliveries got no answer (`ConnectionLost`): hypercorn closes a connection whose request it",
            "has not parsed within `keep_alive_timeout` (30 s on callvisor's ports) of accepting it, and with a thousand requests",
            "queued on one loop the last connections waited longer than that. The limit held and every slot",
            "came back all the same; OpenAI would deliver those webhooks again. Fewer simultaneous deliveries",
            "per replica avoid it.",
        ]
    return [*out, ""]


def peer_section(r: dict[str, Any]) -> list[str]:
    packages = (r.get("machine") or {}).get("packages", {})
    return [
        "## 4. The peer",
        "",
        f"`bench/peer/` is what a user would otherwise build: the OpenAI Agents SDK (`openai-agents` "
        f"{packages.get('openai-agents')}) on FastAPI {packages.get('fastapi')} and uvicorn {packages.get('uvicorn')}, "
        "shaped like the SDK's public SIP example: `client.webhooks.unwrap` verifies the webhook, "
        "`client.realtime.calls.accept` accepts the call (the example posts to the same endpoint), the webhook",
        "is answered, and an asyncio task runs a `RealtimeRunner` session with `OpenAIRealtimeSIPModel` for the",
        "call, sending the greeting as a raw `response.create` and consuming the session's events. Its agent",
        "has one function tool (`lookup_order`). Everything is the package's public API.",
        "",
        "It runs unmodified against the same simulated platform: `OPENAI_BASE_URL` points the openai client at",
        "the platform's REST API, and the SDK's `model_config[\"url\"]` (a documented option of",
        "`RealtimeModelConfig`) points the session's websocket at the platform's sideband. Tracing export is",
        "switched off (`set_tracing_disabled(True)`), since it would send traces to OpenAI. uvicorn runs with",
        "its access log off, as callvisor's hypercorn does. The peer answers the webhook after the accept, as",
        "callvisor does, so the round trips compare like for like.",
        "",
    ]


def _foreign(r: dict[str, Any]) -> list[str]:
    load = r.get("foreign_load") or {}
    if not load:
        return []
    parts = ", ".join(f"{k} {num(v['mean_cores'], 2)} / {num(v['max_cores'], 2)}" for k, v in load.items())
    busy = [k for k, v in load.items() if v["mean_cores"] > 0.1 or v["max_cores"] > 0.5]
    lines = [
        "Other processes on the machine (not started by the benchmark), in cores, mean / peak per phase: "
        f"{parts}; before the start: {num(r.get('background_busy_cores'), 2)}.",
    ]
    if busy:
        lines.append(
            f"**Some phases shared the machine with other work** ({', '.join(busy)}): their rates and "
            "latencies may be lower and noisier than on a quiet machine."
        )
    return [*lines, ""]


def render(
    r: dict[str, Any],
    images: list[str],
    before: dict[str, Any] | None = None,
    soak: dict[str, Any] | None = None,
    sections: Sequence[tuple[str, str]] = (),
) -> str:
    """The page; ``soak`` (docs/benchmarks/soak.json, written by ``make soak``) adds its section;
    ``sections`` are those other runs measured (bench/sections.py, e.g. ``make fuzz``), carried as
    they are."""
    m = r.get("machine") or {}
    packages = m.get("packages") or {}
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (python -m bench); edit bench/doc.py, not this file. -->",
        "",
        f"Measured {m.get('date')} by `python -m bench` ({r.get('plan')} run, {num(r.get('total_seconds'), 0)} s).",
        f"Machine: {m.get('cpu_model')}, {m.get('cores')} cores, {num((m.get('memory_bytes') or 0) / 2**30, 0)} GiB;",
        f"Python {m.get('python')}; trio {packages.get('trio')}, hypercorn {packages.get('hypercorn')}, quart-trio "
        f"{packages.get('quart-trio')}, openai {packages.get('openai')}, trio-websocket {packages.get('trio-websocket')}.",
        "Every figure, with its per-repetition samples, is in [benchmarks/results.json](benchmarks/results.json).",
        *[
            f"Re-measured later and merged into these results: {', '.join(m['phases'])} ({m['date']})."
            for m in r.get("merged", [])
        ],
        "",
        "Every component is a process of its own on loopback ports: `callvisor serve` (the production entry",
        "point, `LOG_LEVEL=INFO`, JSON logs to a file), the simulated OpenAI platform (`bench/platform.py`:",
        "`supervisor.testing.SimulatedPlatform`, the class `callvisor simulate` serves, plus bulk controls),",
        "the Agents-SDK peer (`bench/peer/`), and a load generator per measurement (`bench/loadgen.py`, raw",
        "HTTP/1.1 keep-alive over trio sockets, webhook bodies signed before the clock starts). All of them",
        "share the machine's 2 cores: what one uses the others lack, and the tables say how much each used.",
        "",
        *_foreign(r),
        "Everything OpenAI-facing runs over TLS, as in production: call control over https and each call's",
        "sideband over wss, verified against a trust store of the system bundle plus the benchmark's test CA",
        "(`SSL_CERT_FILE`), for callvisor and the peer alike; one plaintext run of callvisor beside them gives",
        "TLS's cost (how: below the goals).",
        "",
        "## Goals",
        "",
        "The first rows are the production path's goals (issue 9), each measured side by side in this run;",
        "the rest are the earlier goals, now measured over TLS too.",
        "",
        *goals(r),
        "",
        *side_by_side(r),
        *how_section(r),
        *tlscost.section(r.get("tls_cost")),
        *public_port_ab.section(r.get("public_port")),
    ]
    out += before_after(before, r)
    if r.get("errors"):
        out += ["Benchmarks that failed in this run:", ""]
        out += [f"- {k}: {v}" for k, v in r["errors"].items()]
        out.append("")
    out += intake_section(r)
    out += concurrency_section(r)
    out += burst_section(r)
    out += peer_section(r)
    out += profile_section(r.get("profile"), (before or {}).get("profile"))
    out += soak_section(soak)
    for name, markdown in sections:
        out += bench_sections.block(name, markdown)
    out += [
        bench_sections.BEFORE,
        "",
        "```sh",
        "make bench                      # installs .[dev,bench], then python -m bench (about 55 minutes)",
        ".venv/bin/python -m bench --quick   # the same, small loads (about 9 minutes)",
        ".venv/bin/python -m bench.livecost [--quick]   # GPT-Live's CPU beside Realtime's only (about 13 minutes); its section above",
        ".venv/bin/python -m bench profile --rate 50 --seconds 20   # the profile only",
        "make soak                       # the soak (about 10 minutes, SOAK_SECONDS=600); its section above",
        "```",
        "",
        "Each run is bounded: every load has a fixed count and schedule, every wait a deadline, and a step",
        "whose sender falls 5 s behind its schedule (placing calls for the concurrency runs: 120 s) is",
        "abandoned. `python -m bench render` rewrites this page from results.json. Per-phase durations: "
        + ", ".join(f"{k} {num(v, 0)} s" for k, v in (r.get("phase_seconds") or {}).items())
        + ".",
        "",
    ]
    return "\n".join(out)
