"""``callvisor serve`` out of file descriptors, as a real process with a lowered limit.

A burst of connections takes every descriptor the process may open: accept fails with EMFILE.
The process must say so in a few lines (not a traceback ten times a second), keep its live state,
and take the next webhook as soon as descriptors come free.  The real clock: the service is
another process; every wait is bounded.
"""

from __future__ import annotations

import httpx
import trio

from supervisor.testing import (
    WebhookSigner,
    incoming_call_event,
    new_secret,
    open_platform,
    place_call,
)
from tests.serve_process import open_serve_process, serve_environment

#: The child's soft and hard open-file limit: a serving process uses a few dozen at rest.
LIMIT = 160
#: Idle connections that take what is left and more.
HOGS = 200


async def test_descriptor_exhaustion_is_logged_sparingly_and_service_resumes_when_they_free() -> None:
    """EMFILE under a burst: fd_limit_low at start, accept_capacity_exhausted rate-limited, no
    traceback; the webhook that waited in the backlog is answered once the burst's connections
    close (within a second then; the bound below is a guard)."""
    signer = WebhookSigner(new_secret())
    async with open_platform() as platform:
        env = serve_environment(platform, signer, MAX_CONCURRENT_CALLS="10")
        async with open_serve_process(env, open_file_limit=LIMIT) as service, trio.open_nursery() as nursery:
            with trio.fail_after(30):
                started = await service.wait_for("service_started")
            assert started["fd_limit"] == LIMIT
            assert service.events("fd_limit_low")[0]["needed"] == 2 * 10 + 256
            host, _, port = started["public"].removeprefix("http://").rpartition(":")
            hogs = []
            with trio.fail_after(60):
                for _ in range(HOGS):
                    hogs.append(await trio.open_tcp_stream(host, int(port)))  # the backlog takes the rest
                await service.wait_for("accept_capacity_exhausted")
            await trio.sleep(2)  # about 20 refused accepts at trio's 0.1 s retry

            answered: list[tuple[httpx.Response, float]] = []
            done = trio.Event()

            async def deliver() -> None:
                async with httpx.AsyncClient(timeout=30) as http:
                    response = await place_call(
                        started["public"], signer, incoming_call_event("rtc_after_emfile"),
                        platform=platform, client=http,
                    )
                    answered.append((response, trio.current_time()))
                    done.set()

            nursery.start_soon(deliver)
            await trio.sleep(1)
            assert answered == []  # waiting in the backlog: nothing is accepted
            released = trio.current_time()
            for hog in hogs:
                await hog.aclose()
            with trio.fail_after(30):
                await done.wait()
            response, at = answered[0]
            assert response.json() == {"ok": True, "accepted": "rtc_after_emfile"}
            assert at - released < 10.0  # within 0.1 s unloaded; a guard on a loaded machine

            exhausted = service.events("accept_capacity_exhausted")
            assert 1 <= len(exhausted) <= 2  # one line, and one more only if 10 s passed
            assert exhausted[0]["errno"] == "EMFILE"
            assert not any("Traceback" in line or "accept returned" in line for line in service.raw)
            await platform.call("rtc_after_emfile").caller_hangup()
            with trio.fail_after(15):
                await service.wait_for("call_ended", call_id="rtc_after_emfile")
