"""The soak's load: calls kept at capacity, each with a random life, and the faults around them.

:class:`Load` places calls on ``callvisor serve``'s public port (signed webhooks over raw
HTTP/1.1 keep-alive, :mod:`bench.rawhttp`) and plays OpenAI's side of each accepted call on the
in-process simulated platform (:class:`bench.platform.BenchPlatform`):

* **at capacity**: whenever fewer than ``capacity`` calls are in flight, new ones are placed
  (at most ``MAX_PLACE_PER_S``), and one call a second more is offered regardless, which callvisor
  refuses with ``capacity`` when the slots are full;
* **random lifetimes**: each call lives ``LIFETIME_S`` (uniform), calling the http tool
  ``lookup_order`` every ``TOOL_PERIOD_S`` (uniform) and waiting for its output, then ends in one
  of ``ENDINGS``: the caller hangs up (close 1000), the caller's connection drops (no close frame),
  the operator hangs up (``POST /actors/{id}/hangup``), the model calls ``end_call`` or
  ``transfer_call``;
* **duplicates**: a share of the accepted calls' webhooks is delivered again with the same
  webhook-id, another share under a new webhook-id (same call_id); both must answer ``duplicate``;
* **other numbers**: a share of the calls dials a number no tenant owns, or a broken tenant's;
  both must be rejected;
* **blips** (:meth:`Load.run_blips`): every ``BLIP_PERIOD_S`` the platform fails the next few
  accepts (500, 503 or 429) or answers them slower than ``CALLVISOR_CALL_CONTROL_TIMEOUT_S``;
  callvisor answers those webhooks 503 and forgets them, and the load redelivers each (same
  webhook-id, as OpenAI does) until it is decided.

Every wait has a deadline; what went differently from the plan is counted in ``outcomes`` and
``unexpected`` rather than raised, so that one odd call does not end the soak.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from typing import Any

import trio

from bench.loadgen import Pool, exchange
from bench.platform import TOOL_ARGUMENTS, TOOL_NAME, BenchPlatform
from bench.rawhttp import build_request
from supervisor.testing import SimulatedCall, WebhookSigner, incoming_call_event

LIFETIME_S = (2.0, 14.0)
TOOL_PERIOD_S = (1.5, 5.0)
#: (ending, weight): how the calls end.
ENDINGS = (
    ("caller_hangup", 40), ("caller_drop", 10), ("operator_hangup", 20), ("end_call", 20), ("transfer_call", 10),
)
SAME_ID_DUPLICATE_SHARE = 0.15
NEW_ID_DUPLICATE_SHARE = 0.05
#: (share of placed calls, what they dial): the rest dial the bench tenant.
OTHER_NUMBERS_SHARE = 0.05
MAX_PLACE_PER_S = 40.0
WEBHOOK_TIMEOUT_S = 15.0
REDELIVERIES = 10
CONNECT_TIMEOUT_S = 15.0
END_TIMEOUT_S = 30.0
TOOL_TIMEOUT_S = 15.0
BLIP_PERIOD_S = (30.0, 50.0)
#: Longer than the service's CALLVISOR_CALL_CONTROL_TIMEOUT_S (3 s): an accept that times out.
SLOW_ACCEPT_S = 4.0
UNEXPECTED_KEPT = 50


class Load:
    """Places calls and lives them; counts everything (read by the sampler and the summary)."""

    def __init__(
        self, platform: BenchPlatform, signer: WebhookSigner, *, public_port: int, admin_port: int,
        capacity: int, number: str, other_numbers: list[str], seed: int,
    ) -> None:
        self.platform = platform
        self.signer = signer
        self.public_port = public_port
        self.admin_port = admin_port
        self.capacity = capacity
        self.number = number
        self.other_numbers = other_numbers
        self.random = random.Random(seed)
        self.placing = False
        self.in_flight = 0
        self.placed = 0
        self.outcomes: Counter[str] = Counter()
        self.endings: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.blips: list[dict[str, Any]] = []
        #: Keys with a definitive answer: what the two dedup ledgers hold (until their bound).
        self.settled_webhook_ids = 0
        self.settled_call_ids = 0
        self.tool_round_trips: list[float] = []
        self._idle = trio.Event()
        self._idle.set()
        self.public: Pool | None = None
        self.admin: Pool | None = None

    # -- pools ----------------------------------------------------------------------------

    async def open_pools(self) -> None:
        self.public = Pool(self.public_port, 16)
        self.admin = Pool(self.admin_port, 4)
        await self.public.fill()
        await self.admin.fill()

    async def close_pools(self) -> None:
        for pool in (self.public, self.admin):
            if pool is not None:
                await pool.close()
        self.public = self.admin = None

    # -- placing ----------------------------------------------------------------------------

    async def run_placing(self, nursery: trio.Nursery) -> None:
        """Keep ``capacity`` calls in flight while ``placing``; one more a second regardless."""
        next_extra = trio.current_time()
        while True:
            await trio.sleep(1 / MAX_PLACE_PER_S)
            if not self.placing:
                continue
            now = trio.current_time()
            if self.in_flight < self.capacity or now >= next_extra:
                if self.in_flight >= self.capacity:
                    next_extra = now + 1.0
                self._start_call(nursery)

    def _start_call(self, nursery: trio.Nursery) -> None:
        self.placed += 1
        call_id = f"rtc_soak_{self.placed:07d}"
        to = self.number
        if self.random.random() < OTHER_NUMBERS_SHARE:
            to = self.random.choice(self.other_numbers)
        self.in_flight += 1
        self._idle = trio.Event()
        nursery.start_soon(self._call, call_id, to, name=f"soak:{call_id}")

    async def wait_idle(self, timeout_s: float) -> bool:
        """Until no call is in flight (placing should be off); whether that happened in time."""
        with trio.move_on_after(timeout_s):
            await self._idle.wait()
            return True
        return False

    async def _call(self, call_id: str, to: str) -> None:
        try:
            await self._place_and_live(call_id, to)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    def _raw(self, call_id: str, webhook_id: str, to: str) -> bytes:
        body = json.dumps(incoming_call_event(call_id, to=f"sip:{to}@sip.example.com")).encode()
        headers = self.signer.sign(body, webhook_id=webhook_id, timestamp=int(time.time()))
        headers["Content-Type"] = "application/json"
        return build_request("POST", "/webhooks/openai", f"127.0.0.1:{self.public_port}", body=body, headers=headers)

    async def _deliver(self, call_id: str, webhook_id: str, to: str, *, new_key: bool = True) -> str:
        """One webhook, redelivered after each 503 (as OpenAI does); the final outcome.
        ``new_key``: its webhook-id was never answered before (the intake's ledger gains one)."""
        outcome = "none"
        for attempt in range(REDELIVERIES + 1):
            if attempt:
                self.outcomes["redelivered"] += 1
                await trio.sleep(self.random.uniform(0.5, 2.0))
            pool = self.public
            if pool is None:
                return "no_pool"
            conn = await pool.take()
            _answer, outcome, conn = await exchange(pool, conn, self._raw(call_id, webhook_id, to), WEBHOOK_TIMEOUT_S)
            pool.give(conn)
            self.outcomes[f"webhook:{outcome}"] += 1
            if outcome != "http_503":
                break
        if new_key and (outcome in ("accepted", "duplicate") or outcome.startswith("rejected")):
            self.settled_webhook_ids += 1
        return outcome

    async def _place_and_live(self, call_id: str, to: str) -> None:
        outcome = await self._deliver(call_id, f"wh_{call_id}", to)
        if outcome.startswith("rejected:"):
            self.settled_call_ids += 1
            if to == self.number and outcome != "rejected:capacity":
                self._unexpected(f"{call_id}: bench number {outcome}")
            return
        if outcome != "accepted":
            self._unexpected(f"{call_id}: first delivery {outcome}")
            return
        self.settled_call_ids += 1
        if to != self.number:
            self._unexpected(f"{call_id}: {to} accepted")
        async with trio.open_nursery() as nursery:
            if self.random.random() < SAME_ID_DUPLICATE_SHARE:
                nursery.start_soon(self._duplicate, call_id, f"wh_{call_id}", to)
            elif self.random.random() < NEW_ID_DUPLICATE_SHARE / (1 - SAME_ID_DUPLICATE_SHARE):
                nursery.start_soon(self._duplicate, call_id, f"wh_{call_id}_again", to)
            await self._live(call_id)

    async def _duplicate(self, call_id: str, webhook_id: str, to: str) -> None:
        await trio.sleep(self.random.uniform(0.0, 1.0))
        same_id = webhook_id == f"wh_{call_id}"
        outcome = await self._deliver(call_id, webhook_id, to, new_key=not same_id)
        self.outcomes[f"duplicate_sent:{'same_id' if same_id else 'new_id'}"] += 1
        if outcome != "duplicate":
            self._unexpected(f"{call_id}: duplicate {webhook_id} answered {outcome}")

    # -- a call's life ------------------------------------------------------------------------

    async def _live(self, call_id: str) -> None:
        call = self.platform.calls.get(call_id)
        if call is None:
            self._unexpected(f"{call_id}: accepted but unknown to the platform")
            return
        try:
            with trio.fail_after(CONNECT_TIMEOUT_S):
                await call.wait_connected()
        except (trio.TooSlowError, RuntimeError) as exc:
            self._unexpected(f"{call_id}: sideband never up ({type(exc).__name__})")
            return
        ending = self.random.choices([e for e, _ in ENDINGS], [w for _, w in ENDINGS])[0]
        deadline = trio.current_time() + self.random.uniform(*LIFETIME_S)
        while call.live_connections:
            pause = self.random.uniform(*TOOL_PERIOD_S)
            if trio.current_time() + pause >= deadline:
                break
            await trio.sleep(pause)
            await self._tool_call(call)
        await trio.sleep_until(deadline)
        if call.live_connections:
            await self._end(call, ending)
            self.endings[ending] += 1
        else:
            self.endings["ended_early"] += 1
        with trio.move_on_after(END_TIMEOUT_S):
            # SimulatedCall offers no wait for its sideband to close; 5 polls a second cost nothing here.
            while call.live_connections:  # noqa: ASYNC110
                await trio.sleep(0.2)
        if call.live_connections:
            self._unexpected(f"{call_id}: sideband still open {END_TIMEOUT_S:g} s after {ending}")
            await call.abort()

    async def _tool_call(self, call: SimulatedCall) -> None:
        done = trio.Event()
        tool_call_id = f"call_{call.call_id}_{self.outcomes['tool_calls']}"
        self.outcomes["tool_calls"] += 1
        self.platform.tool_waiters[tool_call_id] = done
        started = trio.current_time()
        try:
            with trio.fail_after(TOOL_TIMEOUT_S):
                await call.function_call(TOOL_NAME, TOOL_ARGUMENTS, tool_call_id=tool_call_id)
                await done.wait()
        except (trio.TooSlowError, RuntimeError, OSError, trio.BrokenResourceError) as exc:
            self.platform.tool_waiters.pop(tool_call_id, None)
            if call.live_connections:
                self._unexpected(f"{call.call_id}: tool call {type(exc).__name__}")
            return
        except Exception:  # trio-websocket's ConnectionClosed: the call ended meanwhile
            self.platform.tool_waiters.pop(tool_call_id, None)
            return
        self.tool_round_trips.append(trio.current_time() - started)

    async def _end(self, call: SimulatedCall, ending: str) -> None:
        try:
            with trio.fail_after(END_TIMEOUT_S):
                if ending == "caller_hangup":
                    await call.caller_hangup()
                elif ending == "caller_drop":
                    await call.abort()
                elif ending == "operator_hangup":
                    await self._operator_hangup(call.call_id)
                else:
                    await call.function_call(ending, '{"reason": "soak"}')
        except trio.TooSlowError:
            self._unexpected(f"{call.call_id}: {ending} took over {END_TIMEOUT_S:g} s")
        except Exception as exc:  # the call ended by itself meanwhile (ConnectionClosed and kin)
            self.outcomes[f"end_raced:{type(exc).__name__}"] += 1

    async def _operator_hangup(self, call_id: str) -> None:
        pool = self.admin
        if pool is None:
            return
        raw = build_request("POST", f"/actors/{call_id}/hangup", f"127.0.0.1:{self.admin_port}")
        conn = await pool.take()
        _answer, outcome, conn = await exchange(pool, conn, raw, WEBHOOK_TIMEOUT_S)
        pool.give(conn)
        self.outcomes[f"operator_hangup:{outcome}"] += 1

    # -- blips ------------------------------------------------------------------------------

    async def run_blips(self, started: float) -> None:
        """Every ``BLIP_PERIOD_S`` (while placing): the next few accepts fail or time out."""
        while True:
            await trio.sleep(self.random.uniform(*BLIP_PERIOD_S))
            if not self.placing:
                continue
            kind = self.random.choice(["accept_500", "accept_503", "accept_429", "accept_slow"])
            times = self.random.randint(3, 12)
            if kind == "accept_slow":
                self.platform.delay("accept", SLOW_ACCEPT_S, times=times)
            else:
                self.platform.fail("accept", status=int(kind.rsplit("_", 1)[1]), times=times)
            self.blips.append({"t": round(trio.current_time() - started, 1), "kind": kind, "accepts": times})

    def _unexpected(self, what: str) -> None:
        self.outcomes["unexpected"] += 1
        if len(self.unexpected) < UNEXPECTED_KEPT:
            self.unexpected.append(what)
