"""The public port's HTTP behaviour, over loopback: body limits, timeouts, routes, errors.

What OpenAI (or a load balancer) sees of ``supervisor/public_app.py``: the 256 KiB limit however
the body is framed, the connection closed after a 413, 404/405 answers, ``/health`` while
draining, and a 500 (with its log line) when a route has a bug.  Raw requests go over a trio
socket where httpx would reframe or refuse them.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypercorn.trio import serve as hypercorn_serve

from supervisor.http_server import hypercorn_config
from supervisor.intake import MAX_BODY_BYTES, Reply, WebhookIntake
from supervisor.ledger import Claim
from supervisor.metrics import Metrics
from supervisor.public_app import BODY_TIMEOUT_S, create_public_app
from supervisor.testing import incoming_call_event
from tests.rig import ACME, WAIT_S, Rig

TOO_LARGE = b'{"ok": false, "error": "body_too_large"}'


@attrs.define
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: The server closed the connection after the answer (checked only when asked for).
    closed: bool = False


async def raw_request(
    url: str, head: str, parts: Sequence[bytes] = (), *, wait_close: bool = False, timeout_s: float = WAIT_S
) -> RawAnswer:
    """Send ``head`` (CRLF-terminated lines) then ``parts``; read one answer, and the EOF after
    it if ``wait_close``.  The sender does not wait for the server to read what it sends."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    received = bytearray()
    with trio.fail_after(timeout_s):
        async with await trio.open_tcp_stream(host, int(port)) as stream, trio.open_nursery() as nursery:

            async def send() -> None:
                try:
                    for chunk in (head.encode("latin-1"), *parts):
                        await stream.send_all(chunk)
                except trio.BrokenResourceError:
                    pass  # the server answered and closed before taking it all

            nursery.start_soon(send)

            async def fill() -> bool:
                try:
                    chunk = await stream.receive_some()
                except trio.BrokenResourceError:
                    chunk = b""
                received.extend(chunk)
                return bool(chunk)

            while b"\r\n\r\n" not in received:
                assert await fill(), f"connection closed without an answer: {bytes(received)!r}"
            raw_head = bytes(received).partition(b"\r\n\r\n")[0]
            lines = raw_head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines[1:])
            }
            length = int(headers["content-length"])
            del received[: len(raw_head) + 4]
            while len(received) < length:
                assert await fill(), "connection closed mid-answer"
            answer = RawAnswer(int(lines[0].split()[1]), headers, bytes(received[:length]))
            if wait_close:
                while await fill():
                    pass
                answer.closed = True
            nursery.cancel_scope.cancel()
    return answer


def post_head(extra: dict[str, Any], path: str = "/webhooks/openai") -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: callvisor", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in extra.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(body: bytes, size: int = 16_384) -> list[bytes]:
    """``body`` in chunked transfer coding, without the terminating empty chunk."""
    return [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]


def body_too_large_lines(rig: Rig) -> list[str]:
    return [line["reason"] for line in rig.logs.events("webhook_invalid") if line["reason"] == "body_too_large"]


# -- body size ----------------------------------------------------------------------------------


async def test_chunked_body_at_the_limit_is_read_and_one_byte_more_is_413(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Without a Content-Length the limit applies to the bytes read: 256 KiB is read, one more is 413."""
    at_limit = b" " * MAX_BODY_BYTES
    over = b" " * (MAX_BODY_BYTES + 1)
    answers = []
    for body in (at_limit, over):
        signed = rig.signer.sign(body, webhook_id=f"wh_{len(body)}", timestamp=int(time.time()))
        head = post_head({**signed, "Transfer-Encoding": "chunked"})
        answers.append(await raw_request(rig.url, head, [*chunked(body), b"0\r\n\r\n"]))

    assert [(a.status, json.loads(a.body)) for a in answers] == [
        (400, {"ok": False, "error": "malformed_json"}),
        (413, {"ok": False, "error": "body_too_large"}),
    ]
    assert answers[1].headers["connection"] == "close"
    assert body_too_large_lines(rig) == ["body_too_large"]


async def test_413_is_answered_at_once_and_the_connection_closed(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Too large by Content-Length (even a lie: little sent) or by chunks never finished: 413 then close."""
    small = b'{"type": "realtime.call.incoming"}'
    big = b"x" * (4 * MAX_BODY_BYTES)
    cases = [
        ("announced, little sent", post_head({"Content-Length": MAX_BODY_BYTES + 1}), [small]),
        ("announced, all sent", post_head({"Content-Length": len(big)}), [big]),
        ("chunked, never ends", post_head({"Transfer-Encoding": "chunked"}), chunked(b"x" * (MAX_BODY_BYTES + 1))),
    ]
    seen = []
    for case, head, parts in cases:
        started = trio.current_time()
        answer = await raw_request(rig.url, head, parts, wait_close=True)
        waited = trio.current_time() - started
        seen.append((case, answer.status, answer.body, answer.headers["connection"], answer.closed, waited < BODY_TIMEOUT_S))

    assert seen == [(case, 413, TOO_LARGE, "close", True, True) for case, _, _ in cases]
    assert body_too_large_lines(rig) == ["body_too_large"] * 3
    assert rig.platform.requests == []


async def test_body_that_stops_arriving_is_408_after_the_body_timeout(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A body announced but not sent is answered 408 (JSON, Connection: close) after 60 s, not waited on forever."""
    started = trio.current_time()

    answer = await raw_request(
        rig.url, post_head({"Content-Length": 100}), [b'{"type": '], wait_close=True,
        timeout_s=BODY_TIMEOUT_S + WAIT_S,
    )

    assert (answer.status, answer.body) == (408, b'{"ok":false,"error":"request_timeout"}\n')
    assert answer.headers["connection"] == "close"
    assert answer.closed
    assert trio.current_time() - started >= BODY_TIMEOUT_S
    assert [line for line in rig.logs.lines if str(line.get("event", "")).startswith("webhook")] == []


# -- routes -------------------------------------------------------------------------------------


async def test_unknown_path_is_404_and_wrong_method_405_with_allow(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """404 for any other path, 405 with Allow on a known path (OPTIONS and HEAD included), compact JSON."""
    cases = [
        ("GET", "/", 404, None),
        ("GET", "/nope", 404, None),
        ("POST", "/webhooks/openai/extra", 404, None),
        ("OPTIONS", "/nope", 404, None),
        ("GET", "/health/", 404, None),
        ("GET", "/webhooks//openai", 404, None),
        ("OPTIONS", "/webhooks/openai", 405, "POST"),
        ("HEAD", "/webhooks/openai", 405, "POST"),
        ("GET", "/webhooks/openai", 405, "POST"),
        ("PUT", "/webhooks/openai", 405, "POST"),
        ("DELETE", "/webhooks/openai", 405, "POST"),
        ("OPTIONS", "/health", 405, "GET, HEAD"),
        ("PUT", "/health", 405, "GET, HEAD"),
        ("POST", "/health", 405, "GET, HEAD"),
    ]
    seen = []
    for method, path, _status, _allow in cases:
        with trio.fail_after(WAIT_S):
            response = await rig.http.request(method, f"{rig.url}{path}")
        seen.append((
            method, path, response.status_code, response.headers.get("allow"),
            response.headers.get("content-type"), response.content,
        ))

    body = {404: b'{"ok":false,"error":"not_found"}\n', 405: b'{"ok":false,"error":"method_not_allowed"}\n'}
    assert seen == [
        (method, path, status, allow, "application/json", b"" if method == "HEAD" else body[status])
        for method, path, status, allow in cases
    ]


async def test_head_health_and_absolute_form_target_answer_like_get(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """HEAD /health has GET's status and headers without the body; an absolute-form target is routed by its path."""
    with trio.fail_after(WAIT_S):
        get = await rig.http.get(f"{rig.url}/health")
        head = await rig.http.head(f"{rig.url}/health")
    absolute = await raw_request(rig.url, "GET http://callvisor/health HTTP/1.1\r\nHost: callvisor\r\n\r\n")

    assert get.content == b'{"ok":true,"status":"serving","draining":false,"replica_id":"replica-test"}\n'
    assert (head.status_code, head.headers["content-type"], head.headers["content-length"], head.content) == (
        200, "application/json", str(len(get.content)), b""
    )
    assert (absolute.status, absolute.body) == (200, get.content)


async def test_websocket_upgrade_is_404(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """No route takes a websocket: an upgrade, even on /health, gets the JSON 404."""
    head = (
        "GET /health HTTP/1.1\r\nHost: callvisor\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )

    answer = await raw_request(rig.url, head)

    assert (answer.status, answer.body) == (404, b'{"ok":false,"error":"not_found"}\n')


@pytest.mark.parametrize("rig_env", [{"CALLVISOR_DRAIN_GRACE_S": "30"}], ids=["grace_30s"])
async def test_health_while_draining(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """During a drain /health still answers 200, saying draining."""
    assert (await rig.call("rtc_keeps_the_drain_going")).json()["accepted"] == "rtc_keeps_the_drain_going"
    await rig.wait_session("rtc_keeps_the_drain_going")
    with trio.fail_after(WAIT_S):
        assert (await rig.http.post(f"{rig.admin_url}/drain")).status_code == 202
        health = await rig.http.get(f"{rig.url}/health")

    assert health.status_code == 200
    assert health.content == b'{"ok":true,"status":"draining","draining":true,"replica_id":"replica-test"}\n'


# -- a bug --------------------------------------------------------------------------------------


class BrokenLedger:
    """A delivery ledger (``supervisor.intake.DeliveryLedger``) with a bug in it."""

    def claim(self, key: str) -> AbstractAsyncContextManager[Claim[Reply]]:
        raise RuntimeError(f"ledger bug while claiming {key}")


@asynccontextmanager
async def serve_public_app(app: Any) -> AsyncIterator[str]:
    config = hypercorn_config("127.0.0.1:0")
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(partial(hypercorn_serve, app, config, shutdown_trigger=trio.sleep_forever))
        yield urls[0]
        nursery.cancel_scope.cancel()


async def test_route_exception_is_500_and_its_traceback_logged_once(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """An exception in a route: 500 internal_error with retry (OpenAI redelivers), one ERROR line with the traceback."""
    service = rig.info.service
    intake = WebhookIntake(
        settings=service.settings, supervisor=service.supervisor, metrics=Metrics(), deliveries=BrokenLedger()
    )
    body, headers = rig.signed(incoming_call_event("rtc_bug", to=ACME), webhook_id="wh_bug")

    async with serve_public_app(create_public_app(intake, service.supervisor)) as url:
        with trio.fail_after(WAIT_S):
            response = await rig.http.post(f"{url}/webhooks/openai", content=body, headers=headers)

    assert response.status_code == 500
    assert response.content == b'{"ok":false,"error":"internal_error","retry":true}\n'
    tracebacks = [line for line in rig.logs.lines if "exc" in line]
    assert [(t["logger"], t["level"], t["msg"], t["exc_type"]) for t in tracebacks] == [
        ("callvisor.public", "ERROR", "Exception on request POST /webhooks/openai", "RuntimeError")
    ]
    assert "ledger bug while claiming wh_bug" in tracebacks[0]["exc"]
    assert rig.platform.requests == []
