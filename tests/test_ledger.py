"""The dedup ledgers' memory and expiry: what a process that runs for weeks keeps per decided call."""

from __future__ import annotations

import gc
import secrets
import tracemalloc

import trio
import trio.testing

from actors.decision import Outcome
from supervisor.intake import SETTLED
from supervisor.ledger import DEFAULT_MAX_ENTRIES, DEFAULT_TTL_S, Ledger

#: A remembered delivery (its webhook-id) and a remembered decision (its call_id and Decision),
#: in bytes, key strings included: the ceiling docs/operations.md states.
DELIVERY_BYTES = 200
DECISION_BYTES = 200
ENTRIES = DEFAULT_MAX_ENTRIES  # measured at the bound, where the dict is largest


async def _settle(ledger: Ledger[object], key: str, outcome: object) -> None:
    async with ledger.claim(key) as claim:
        assert not claim.duplicate
        claim.settle(outcome)


async def _bytes_per_entry(make_key: str, outcome_for: object) -> float:
    ledger: Ledger[object] = Ledger()
    keys = [f"{make_key}{secrets.token_hex(16)}" for _ in range(ENTRIES)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key in keys:
        outcome = outcome_for(key) if callable(outcome_for) else outcome_for
        await _settle(ledger, key, outcome)
    del key
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # The keys were made before the count started; the ledger keeps them, so count them in.
    key_bytes = sum(len(k) + 49 for k in keys) / ENTRIES
    assert len(ledger) == ENTRIES
    return used / ENTRIES + key_bytes


async def test_a_remembered_delivery_costs_at_most_200_bytes(autojump_clock: trio.testing.MockClock) -> None:
    """Each settled webhook-id keeps its key and one shared answer: <= 200 bytes with a 35-character id."""
    assert await _bytes_per_entry("wh_", SETTLED) <= DELIVERY_BYTES


async def test_a_remembered_decision_costs_at_most_200_bytes(autojump_clock: trio.testing.MockClock) -> None:
    """Each settled call_id keeps its key and its outcome (a shared enum member): <= 200 bytes."""
    assert await _bytes_per_entry("rtc_", Outcome.ACCEPTED) <= DECISION_BYTES


async def test_entries_expire_after_the_ttl_and_the_oldest_go_first(autojump_clock: trio.testing.MockClock) -> None:
    """Past the TTL an entry is gone (a redelivery decides afresh); past max_entries the oldest goes."""
    ledger: Ledger[object] = Ledger(ttl_s=10.0, max_entries=3)
    await _settle(ledger, "a", SETTLED)
    await trio.sleep(5)
    for key in ("b", "c"):
        await _settle(ledger, key, SETTLED)
    assert ledger.lookup("a") is SETTLED
    await _settle(ledger, "d", SETTLED)  # the fourth evicts the oldest
    assert (ledger.lookup("a"), len(ledger)) == (None, 3)
    await trio.sleep(5.5)  # b, c, d settled at t=5: they expire at t=15
    assert ledger.lookup("b") is SETTLED
    await trio.sleep(5)
    assert (ledger.lookup("b"), ledger.lookup("d"), len(ledger)) == (None, None, 0)
    assert DEFAULT_TTL_S == 24 * 3600



def test_a_cluster_decision_stored_by_an_earlier_build_still_reads_as_its_outcome() -> None:
    """call_decisions documents held whole decisions before; a rolling upgrade must read both forms."""
    from supervisor.cluster._ledger import decode_outcome, encode_outcome

    earlier = {"outcome": "rejected", "call_id": "rtc_1", "reason": "capacity", "tenant_id": "t", "sip_status": 486}
    assert decode_outcome(earlier) is Outcome.REJECTED
    assert decode_outcome(encode_outcome(Outcome.GONE)) is Outcome.GONE
