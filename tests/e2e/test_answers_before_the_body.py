"""Answers given while the request body is still unread: 404, 405 and 413, many times over.

Once, about one such answer in ten made hypercorn log "Error in ASGI Framework" with
``trio.BusyResourceError`` (issue 11): the body reader and the answer raced on the stream. Each
case is repeated so that a race of that frequency cannot hide; every answer must be the JSON row,
and hypercorn must log nothing.
"""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing

from supervisor.intake import MAX_BODY_BYTES
from supervisor.testing import LogTap
from tests.rig import WAIT_S, Rig

REPEATS = 40

CASES = {
    "404_unknown_path": ("POST /nowhere", 404, {"ok": False, "error": "not_found"}),
    "405_get_with_a_body": ("GET /webhooks/openai", 405, {"ok": False, "error": "method_not_allowed"}),
    "413_announced": ("POST /webhooks/openai", 413, {"ok": False, "error": "body_too_large"}),
}


async def answer_with_body_unread(url: str, line: str) -> tuple[int, dict[str, object]]:
    """Announce a large body, send a little of it, read the answer to the end of the connection."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    head = f"{line} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    received = bytearray()
    with trio.fail_after(WAIT_S):
        async with await trio.open_tcp_stream(host, int(port)) as stream:
            await stream.send_all(head.encode() + b"x" * 4096)
            while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
                chunk = await stream.receive_some()
                if not chunk:
                    break
                received.extend(chunk)
    status_head, _, body = bytes(received).partition(b"\r\n\r\n")
    return int(status_head.split()[1]), json.loads(body)


@pytest.mark.parametrize("case", list(CASES))
async def test_an_answer_before_the_body_never_makes_hypercorn_log_an_error(
    rig: Rig, mock_clock: trio.testing.MockClock, case: str
) -> None:
    """40 times each: the JSON row every time, and no "Error in ASGI Framework" from hypercorn."""
    line, status, body = CASES[case]
    with LogTap().installed("hypercorn.error") as hypercorn_log:
        answers = [await answer_with_body_unread(rig.url, line) for _ in range(REPEATS)]
    assert answers == [(status, body)] * REPEATS
    assert [line["msg"] for line in hypercorn_log.events() if line["level"] != "INFO"] == []
