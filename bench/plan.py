"""How big each benchmark is: the full run and the ``--quick`` smoke run."""

from __future__ import annotations

from attrs import frozen


@frozen(kw_only=True)
class Plan:
    name: str
    #: Repetitions of each repeated measurement (ceiling, sequential, confirmation, half rate).
    reps: int
    ceiling_s: float
    ceiling_connections: int
    sequential_count: int
    #: Offered rates of the intake sweep, webhooks/s, and each step's length.
    rates: tuple[float, ...]
    step_s: float
    #: Connections of the open-loop load generator.
    connections: int
    #: p99 round trip above which a step counts as failed (latency exploded).
    p99_limit_ms: float
    #: During intake runs the platform hangs each call up this long after its session starts.
    call_hold_s: float
    #: Levels with an http-less tool round trip, and with the tenant's http tool.
    levels: tuple[int, ...]
    http_tool_levels: tuple[int, ...]
    peer_levels: tuple[int, ...]
    #: Levels of the plaintext run beside the TLS ones (http-less tool), for TLS's memory cost.
    plaintext_levels: tuple[int, ...]
    tool_period_s: float
    measure_s: float
    #: Highest rate at which concurrency runs place their calls.
    max_place_rate: float
    burst_count: int
    burst_limit: int
    burst_reps: int
    profile_s: float
    #: bench.livecost: calls per repetition of the per-call run (accept, greeting, hangup), at
    #: ``live_call_rate`` calls/s; the levels of held calls, each measured for ``live_window_s``;
    #: the rate they are placed at.  Live calls with reflected audio climb ``live_audio_levels``
    #: (lower ones too: the platform cannot send 100 frames/s for long past a hundred calls).
    live_calls: int
    live_call_rate: float
    live_levels: tuple[int, ...]
    live_audio_levels: tuple[int, ...]
    live_window_s: float
    live_place_rate: float


FULL = Plan(
    name="full",
    reps=3,
    ceiling_s=5.0,
    ceiling_connections=32,
    sequential_count=200,
    rates=(20, 40, 60, 80, 100, 120, 150, 200, 250, 300, 400, 600, 800),
    step_s=6.0,
    connections=64,
    p99_limit_ms=250.0,
    call_hold_s=1.0,
    levels=(1000, 5000, 10000),
    # 1,000 only (5,000 before the TLS and plaintext phases were added): keeps the run near 40 min.
    http_tool_levels=(1000,),
    peer_levels=(1000, 5000, 10000),
    plaintext_levels=(1000,),
    tool_period_s=60.0,
    measure_s=65.0,
    max_place_rate=250.0,
    burst_count=1000,
    burst_limit=100,
    burst_reps=3,
    profile_s=20.0,
    live_calls=300,
    live_call_rate=20.0,
    live_levels=(100, 250, 500, 1000),
    live_audio_levels=(25, 50, 100, 250, 1000),
    live_window_s=30.0,
    live_place_rate=40.0,
)

QUICK = Plan(
    name="quick",
    reps=1,
    ceiling_s=2.0,
    ceiling_connections=32,
    sequential_count=40,
    rates=(20, 50, 100, 200),
    step_s=2.0,
    connections=64,
    p99_limit_ms=250.0,
    call_hold_s=1.0,
    # 1,500: past 1,024 descriptors, for the call-control connections per accept.
    levels=(1000, 1500),
    http_tool_levels=(300,),
    peer_levels=(300,),
    plaintext_levels=(1000,),
    tool_period_s=5.0,
    measure_s=6.0,
    max_place_rate=250.0,
    burst_count=1000,
    burst_limit=100,
    burst_reps=1,
    profile_s=4.0,
    live_calls=60,
    live_call_rate=20.0,
    live_levels=(50, 100),
    live_audio_levels=(25, 50, 100),
    live_window_s=10.0,
    live_place_rate=40.0,
)
