"""Hypercorn as callvisor runs it (supervisor/http_server.py), from a raw socket on loopback.

What a client that does not speak HTTP properly gets (JSON, a log line without its bytes), what
happens to a connection its client closed (closed at once, not a keep-alive timeout later), and
the open-file limit at start.  The descriptor-exhaustion test runs ``callvisor serve`` as a child
process with a lowered limit (tests/e2e/test_serve_descriptors.py).
"""

from __future__ import annotations

import json
import resource

import hypercorn
import pytest
import trio
import trio.testing

from supervisor.http_server import FD_RESERVE, descriptors_needed, raise_open_file_limit
from supervisor.testing import LogTap
from tests.rig import WAIT_S, Rig

#: What a malformed request once got from hypercorn: an empty, non-JSON body.
MALFORMED = {
    "nul_in_a_header": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Odd: a\x00b\r\n\r\n", 400),
    "two_content_lengths": (
        b"POST /webhooks/openai HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        400,
    ),
    "headers_of_70_kb": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    "unknown_transfer_coding": (
        b"POST /webhooks/openai HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
    ),
    "no_host": (b"GET /health HTTP/1.1\r\n\r\n", 400),
    "garbage_request_line": (b"HELLO THERE\r\n\r\n", 400),
    "secret_in_a_bad_header": (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: sk-live-do-not-log\r\n\r\n", 400),
}


async def exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is; read until the server closes; the answer's status, headers, body."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    received = bytearray()
    with trio.fail_after(WAIT_S):
        async with await trio.open_tcp_stream(host, int(port)) as stream:
            await stream.send_all(request)
            while chunk := await stream.receive_some():
                received.extend(chunk)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_the_corrections_still_fit_this_hypercorn() -> None:
    """The subclasses override methods of hypercorn 0.18; an upgrade must be checked again."""
    assert hypercorn.__version__.startswith("0.18") if hasattr(hypercorn, "__version__") else True
    from hypercorn.protocol.h11 import H11Protocol
    from hypercorn.trio.tcp_server import TCPServer

    assert callable(H11Protocol._send_error_response)
    assert callable(TCPServer._read_data)


@pytest.mark.parametrize("name", list(MALFORMED))
@pytest.mark.parametrize("port", ["public", "operator"])
async def test_malformed_http_is_answered_with_json_and_logged_without_its_bytes(
    rig: Rig, mock_clock: trio.testing.MockClock, name: str, port: str
) -> None:
    """A NUL in a header, two Content-Lengths, 70 KB of header, gzip coding, no Host: JSON, one line."""
    request, expected = MALFORMED[name]
    url = rig.url if port == "public" else rig.admin_url
    with LogTap().installed() as tap:
        status, headers, body = await exchange(url, request)
    assert (status, headers["content-type"], json.loads(body)) == (
        expected,
        "application/json",
        {"ok": False, "error": "malformed_http", "status": expected},
    )
    assert headers["connection"] == "close"
    [line] = tap.events("http_request_malformed")
    assert (line["status"], bool(line["reason"])) == (expected, True)
    logged = json.dumps(tap.events())
    assert [leak for leak in ("sk-live", "aaaaaaaa", "\\u0000") if leak in logged] == []
    assert rig.platform.requests == []


async def test_a_flood_of_malformed_requests_logs_one_line_per_period(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Fifty bad requests in a burst: one line now, the next one says how many were not logged."""
    with LogTap().installed() as tap:
        for _ in range(50):
            await exchange(rig.url, MALFORMED["no_host"][0])
        mock_clock.jump(11)
        await exchange(rig.url, MALFORMED["no_host"][0])
    lines = tap.events("http_request_malformed")
    assert [line["dropped_since_last_line"] for line in lines] == [0, 49]


@pytest.mark.parametrize("before_eof", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"], ids=["nothing", "one_request"])
async def test_a_connection_its_client_closed_is_closed_at_once(
    rig: Rig, mock_clock: trio.testing.MockClock, before_eof: bytes
) -> None:
    """A connection whose client sends EOF (with nothing before it, as a port probe does, or
    after a request): the server's end closes now.

    Before, a connection that had sent nothing waited for hypercorn's keep-alive timer and held
    a descriptor in CLOSE_WAIT for the whole timeout; a burst of them exhausted the descriptors.
    """
    host, _, port = rig.url.removeprefix("http://").rpartition(":")
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        if before_eof:
            await stream.send_all(before_eof)
            received = b""
            while b'"ok"' not in received:
                received += await stream.receive_some()
        await stream.send_eof()
        eof_sent = trio.current_time()
        with trio.fail_after(WAIT_S):
            while await stream.receive_some():
                pass
    # On the mock clock (which jumps ahead when everything waits), the keep-alive timer would
    # close it KEEP_ALIVE_TIMEOUT_S later; closed at once, the clock has not moved.
    assert trio.current_time() - eof_sent < 1.0


def test_the_open_file_limit_is_raised_to_the_hard_limit_and_a_low_one_is_logged() -> None:
    """At start the soft limit goes up to the hard one; below what the calls need, fd_limit_low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(512, hard), hard))
        with LogTap().installed() as tap:
            limit, needed = raise_open_file_limit(100)
        assert (limit, needed) == (resource.getrlimit(resource.RLIMIT_NOFILE)[0], 200 + FD_RESERVE)
        assert limit == hard or hard == resource.RLIM_INFINITY
        assert tap.events("fd_limit_low") == []
        with LogTap().installed() as tap:
            limit, needed = raise_open_file_limit(hard)  # more calls than the hard limit allows
        [low] = tap.events("fd_limit_low")
        assert (low["fd_limit"], low["needed"]) == (limit, descriptors_needed(hard))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
