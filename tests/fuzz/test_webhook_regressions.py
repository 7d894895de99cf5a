"""Inputs the webhook fuzzing found (or issue 11 reported), each pinned by a test named after it.

Each runs against the real public app on loopback (``rig``, tests/rig.py) with the simulated
platform recording what reaches OpenAI.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio
import trio.testing

from supervisor.intake import MAX_BODY_DEPTH
from supervisor.testing import incoming_call_event
from tests.rig import ACME, Rig

MALFORMED = (400, {"ok": False, "error": "malformed_json"})


def nested(depth: int) -> str:
    """A JSON value nesting objects and arrays ``depth`` levels: ``{"a": [{"a": [... 1 ...]}]}``."""
    opens = "".join('{"a": ' if level % 2 == 0 else "[" for level in range(depth))
    closes = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(depth)))
    return opens + "1" + closes


def call_with(call_id: str, where: str, value: str) -> bytes:
    """An acme call's event with ``value`` (raw JSON) put at ``where``."""
    event = incoming_call_event(call_id, to=ACME)
    if where == "data.extra":
        event["data"]["extra"] = "@VALUE@"
    elif where == "sip header value":
        event["data"]["sip_headers"].append({"name": "X-Deep", "value": "@VALUE@"})
    elif where == "top level":
        event["metadata"] = "@VALUE@"
    return json.dumps(event).replace('"@VALUE@"', value).encode()


async def post_signed(rig: Rig, body: bytes, webhook_id: str) -> tuple[int, Any]:
    rig.platform.expect_call(webhook_id.replace("wh_", "rtc_"))
    response = await rig.post_raw(body, rig.signer.sign(body, webhook_id=webhook_id, timestamp=int(time.time())))
    return response.status_code, response.json()


async def test_signed_body_nested_900_deep_is_malformed_json(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A signed call nested 900 (or 33) levels anywhere is 400 malformed_json and reaches nobody; 32 is read."""
    answers = []
    for depth in (MAX_BODY_DEPTH + 1, 900, 5000):
        for where in ("data.extra", "sip header value", "top level"):
            name = f"{depth}_{where.replace(' ', '_').replace('.', '_')}"
            # The event's own nesting (data, sip_headers, a header) adds 2 to 4 levels.
            answers.append((name, *await post_signed(rig, call_with(f"rtc_{name}", where, nested(depth)), f"wh_{name}")))
    assert answers == [(name, *MALFORMED) for name, *_ in answers]
    assert [line["reason"] for line in rig.logs.events("webhook_invalid")] == ["malformed_json"] * len(answers)
    assert rig.platform.requests == []

    # At the limit the body is read as usual: this call is accepted.
    within = call_with("rtc_within", "top level", nested(MAX_BODY_DEPTH - 1))
    assert await post_signed(rig, within, "wh_within") == (200, {"ok": True, "accepted": "rtc_within"})
    await rig.wait_session("rtc_within")
    await rig.platform.call("rtc_within").caller_hangup()
    await rig.wait_log("call_ended", call_id="rtc_within")


class _Garbage:
    """Cyclic garbage whose finalizer needs some stack, and leaves another of itself behind."""

    STACK_FRAMES = 100
    breeding = False

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self) -> None:
        if _Garbage.breeding:
            _Garbage()

        def down(frames: int) -> int:
            return 0 if frames == 0 else down(frames - 1) + 1

        down(self.STACK_FRAMES)


@contextmanager
def collecting_on_every_allocation() -> Iterator[list[str]]:
    """A garbage collection at every allocation, each finding a `_Garbage` to finalize.

    What was printed through ``sys.unraisablehook`` meanwhile is collected in the list.
    """
    unraisable: list[str] = []
    hook, thresholds = sys.unraisablehook, gc.get_threshold()
    sys.unraisablehook = lambda report: unraisable.append(f"{report.exc_type.__name__} in {report.object!r}")
    _Garbage.breeding = True
    _Garbage()
    gc.set_threshold(1)
    try:
        yield unraisable
    finally:
        gc.set_threshold(*thresholds)
        _Garbage.breeding = False
        gc.collect()
        sys.unraisablehook = hook


async def test_signed_body_nested_900_deep_leaves_a_garbage_collection_its_stack(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Decoding a signed body nested 900 deep never runs a finalizer out of stack (issue 11's unraisable RecursionError).

    The decoder recurses per level on the request's stack; a collection its allocations start
    runs finalizers on that same stack.  Here every allocation collects, so a finalizer runs at
    the decoder's deepest point: it must still find the stack it needs.
    """
    body = call_with("rtc_gc", "data.extra", nested(900))
    with collecting_on_every_allocation() as unraisable:
        answer = await post_signed(rig, body, "wh_gc")
    assert unraisable == []
    assert answer == MALFORMED


def test_readme_states_the_depth_limit() -> None:
    """README's webhook section names the limit the intake applies."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"at most {MAX_BODY_DEPTH} levels deep" in readme
    assert f"nested deeper than {MAX_BODY_DEPTH} levels" in readme
