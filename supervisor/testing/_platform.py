"""The simulated platform's public object and its server (private; see supervisor.testing)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from types import MappingProxyType
from typing import Any

import trio
from attrs import frozen

from ._call import SimulatedCall, expect_call
from ._rest import serve_call_control
from ._sideband import serve_sideband
from ._state import CALL_ACTIONS, PlatformState, RecordedHandshake, RecordedRequest, Script
from ._tls import PlatformTls


@frozen(kw_only=True)
class PlatformUrls:
    """Where a served platform listens."""

    #: ``http://127.0.0.1:PORT/v1`` (``https`` with TLS): the openai SDK's ``base_url``.
    base_url: str
    #: ``ws://127.0.0.1:PORT/v1/realtime`` (``wss`` with TLS): add ``?call_id=...``.
    realtime_url: str


class SimulatedPlatform:
    """OpenAI's side of SIP calls: call control over REST, and the sideband websocket."""

    def __init__(
        self, *, api_key: str | None = None, tls: PlatformTls | bool = False, record: bool = True
    ) -> None:
        """``tls``: serve https and wss with a test CA's certificate (``True``: a new CA), as
        OpenAI serves only TLS.  ``record=False`` keeps no per-request or per-event records
        (long benchmarks); the ``on_*`` hooks then report what happens."""
        self._state: PlatformState[SimulatedCall] = PlatformState(
            api_key=api_key or f"sk-sim-{secrets.token_hex(12)}",
            tls=PlatformTls() if tls is True else (tls or None),
        )
        self._state.record = record
        self._urls: PlatformUrls | None = None

    def __repr__(self) -> str:
        where = self._urls.base_url if self._urls else "not serving"
        return f"<SimulatedPlatform {where} calls={len(self._state.calls)}>"

    # -- knobs ----------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The only key the platform accepts (``Authorization: Bearer ...``)."""
        return self._state.api_key

    @property
    def tls(self) -> PlatformTls | None:
        """The test CA and certificate the platform serves with; None: plain http and ws."""
        return self._state.tls

    @property
    def auto_audio(self) -> bool:
        """Answer each ``response.create`` with response and audio-buffer events (default)."""
        return self._state.auto_audio

    @auto_audio.setter
    def auto_audio(self, value: bool) -> None:
        self._state.auto_audio = value

    @property
    def audio_duration_s(self) -> float:
        """Virtual seconds between ``output_audio_buffer.started`` and ``.stopped``."""
        return self._state.audio_duration_s

    @audio_duration_s.setter
    def audio_duration_s(self, value: float) -> None:
        self._state.audio_duration_s = value

    @property
    def refer_closes_after_s(self) -> float | None:
        """After a 200 refer, close the sideband this much later; None: never (a refer that
        silently goes nowhere, as real ones sometimes do)."""
        return self._state.refer_closes_after_s

    @refer_closes_after_s.setter
    def refer_closes_after_s(self, value: float | None) -> None:
        self._state.refer_closes_after_s = value

    @property
    def accept_unknown_calls(self) -> bool:
        """Treat a call_id never placed here as a new incoming call (a platform in a process
        of its own, whose webhooks are posted by another tool)."""
        return self._state.accept_unknown_calls

    @accept_unknown_calls.setter
    def accept_unknown_calls(self, value: bool) -> None:
        self._state.accept_unknown_calls = value

    # -- hooks ----------------------------------------------------------------------------

    def on_request(self, hook: Callable[[RecordedRequest], None] | None) -> None:
        """Call ``hook`` with every call-control request as it arrives (recorded or not)."""
        self._state.on_request = hook

    def on_attached(self, hook: Callable[[SimulatedCall], None] | None) -> None:
        """Call ``hook`` with the call whenever a sideband connection attaches to it."""
        self._state.on_attached = hook

    def on_client_event(self, hook: Callable[[SimulatedCall, dict[str, Any]], None] | None) -> None:
        """Call ``hook`` with every client event a sideband receives (recorded or not)."""
        self._state.on_client_event = hook

    def start_soon(self, fn: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run ``fn`` in the platform's own nursery, as long as the platform serves."""
        self._state.spawn(fn, name=name)

    @property
    def base_url(self) -> str:
        return self._served().base_url

    @property
    def realtime_url(self) -> str:
        return self._served().realtime_url

    # -- calls ----------------------------------------------------------------------------

    @property
    def calls(self) -> Mapping[str, SimulatedCall]:
        """Every call the platform knows, by call_id (a read-only view)."""
        return MappingProxyType(self._state.calls)

    def expect_call(self, call_id: str, *, runtime: str = "realtime") -> SimulatedCall:
        """Make the call known (as a webhook does): it can now be accepted or rejected on the
        REST paths of its ``runtime`` (``realtime``: ``/realtime/calls``, ``live``:
        ``/live/sessions``)."""
        if runtime not in ("realtime", "live"):
            raise ValueError(f"unknown runtime {runtime!r}; expected realtime or live")
        return expect_call(self._state, call_id, runtime=runtime)

    def call(self, call_id: str) -> SimulatedCall:
        """The call ``call_id``; KeyError if the platform never heard of it."""
        try:
            return self._state.calls[call_id]
        except KeyError:
            raise KeyError(f"the platform has no call {call_id!r} (place_call it first)") from None

    def gone(self, call_id: str) -> None:
        """The caller hung up: accept, reject, hangup, refer and handshakes get 404.

        A live sideband stays open; ``call(call_id).abort()`` drops it.
        """
        self.expect_call(call_id)._end("gone")

    def open_sidebands(self) -> int:
        """How many sideband connections are live right now, over all calls."""
        return sum(call.live_connections for call in self._state.calls.values())

    async def wait_sidebands_closed(self) -> None:
        """Block until no sideband connection is live (the server side has finished too)."""
        await self._state.changes.wait_for(lambda: True if self.open_sidebands() == 0 else None)

    # -- scripts --------------------------------------------------------------------------

    def fail(
        self, action: str, *, call_id: str | None = None, status: int = 500, times: int = 1
    ) -> None:
        """The next ``times`` matching ``action`` requests answer ``status`` (any call if None)."""
        self._state.scripts.add(
            Script(
                effect="fail", action=_checked(action), call_id=call_id, status=status, times=times
            )
        )

    def delay(
        self, action: str, seconds: float, *, call_id: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` matching ``action`` requests are answered ``seconds`` late."""
        self._state.scripts.add(
            Script(
                effect="delay",
                action=_checked(action),
                call_id=call_id,
                seconds=seconds,
                times=times,
            )
        )

    def fail_connect(self, *, call_id: str | None = None, times: int = 1) -> None:
        """The next ``times`` matching sideband handshakes are rejected with 404."""
        self._state.scripts.add(
            Script(effect="fail", action="connect", call_id=call_id, status=404, times=times)
        )

    def drop(
        self, action: str, *, call_id: str | None = None, abrupt: bool = False, times: int = 1
    ) -> None:
        """The next ``times`` matching ``action`` requests get no answer: the platform closes
        the connection once the request has arrived (``abrupt``: with a TCP reset).  The
        request is recorded and has no effect on the call."""
        self._state.scripts.add(
            Script(effect="drop", action=_checked(action), call_id=call_id, abrupt=abrupt, times=times)
        )

    def stall_handshake(self, *, call_id: str | None = None, tls: bool = False, times: int = 1) -> None:
        """The next ``times`` matching sideband handshakes are never answered: the platform
        reads the upgrade request and says nothing until its own handshake limit
        (``HANDSHAKE_TIMEOUT_S``, 10 s), then closes the connection; the handshake is recorded
        with status 0.  ``tls``: stall the TLS handshake instead (a wss platform only; it
        comes before the call_id is known, so ``call_id`` must be None)."""
        if tls and call_id is not None:
            raise ValueError("a TLS stall cannot match a call_id: it comes before the request")
        effect = "stall_tls" if tls else "stall"
        self._state.scripts.add(Script(effect=effect, action="connect", call_id=call_id, times=times))

    def silent_after_handshake(self, *, call_id: str | None = None, times: int = 1) -> None:
        """The next ``times`` matching sideband connections are accepted (101) and then never
        sent anything, not even ``session.created``; client events are still recorded, and a
        hangup or ``abort`` still closes them."""
        self._state.scripts.add(Script(effect="silent", action="connect", call_id=call_id, times=times))

    def pending_scripts(self) -> list[str]:
        """Scripts not yet consumed, described; ``[]`` once every one has happened."""
        return self._state.scripts.pending()

    # -- what the platform received -------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every call-control request, in arrival order."""
        return list(self._state.requests)

    @property
    def handshakes(self) -> list[RecordedHandshake]:
        """Every sideband handshake, in arrival order."""
        return list(self._state.handshakes)

    @property
    def connections_seen(self) -> int:
        """How many client connections the call-control requests came on (kept-alive ones count once)."""
        return len({r.client for r in self._state.requests})

    def requests_for(self, call_id: str) -> list[RecordedRequest]:
        return [r for r in self._state.requests if r.call_id == call_id]

    def actions(self, call_id: str) -> list[str]:
        """The actions requested for ``call_id``, in order, e.g. ``["accept", "hangup"]``."""
        return [r.action for r in self.requests_for(call_id)]

    async def wait_for_request(
        self, action: str, call_id: str | None = None, *, nth: int = 1
    ) -> RecordedRequest:
        """Block until ``nth`` matching requests have arrived; return that one."""
        _checked(action)

        def probe() -> RecordedRequest | None:
            matches = [
                r for r in self._state.requests if r.action == action and call_id in (None, r.call_id)
            ]
            return matches[nth - 1] if len(matches) >= nth else None

        return await self._state.changes.wait_for(probe)

    def sideband_events(self, call_id: str) -> list[dict[str, Any]]:
        """Every event the client sent on ``call_id``'s sideband, in order."""
        return self.call(call_id).client_events

    async def wait_for_client_event(
        self, call_id: str, event_type: str, *, nth: int = 1
    ) -> dict[str, Any]:
        """Block until the client sent ``nth`` ``event_type`` events on ``call_id``."""
        call = await self._state.changes.wait_for(lambda: self._state.calls.get(call_id))
        return await call.wait_for_client_event(event_type, nth=nth)

    # -- used by the servers --------------------------------------------------------------

    async def serve(
        self,
        *,
        host: str = "127.0.0.1",
        task_status: trio.TaskStatus[PlatformUrls] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """What :func:`serve_platform` does: both servers, until cancelled."""
        state = self._state
        if state.nursery is not None:
            raise RuntimeError("this platform is already serving")
        try:
            async with trio.open_nursery() as nursery:
                state.nursery = nursery
                http_url = await nursery.start(serve_call_control, state, host)
                ws_port = await nursery.start(serve_sideband, state, host)
                ws_scheme = "ws" if state.tls is None else "wss"
                ws_host = f"[{host}]" if ":" in host else host  # an IPv6 address, as in a URL
                self._urls = PlatformUrls(
                    base_url=f"{http_url}/v1", realtime_url=f"{ws_scheme}://{ws_host}:{ws_port}/v1/realtime"
                )
                task_status.started(self._urls)
        finally:
            state.nursery = None
            self._urls = None

    def _served(self) -> PlatformUrls:
        if self._urls is None:
            raise RuntimeError("the platform is not serving; start it with serve_platform()")
        return self._urls


def _checked(action: str) -> str:
    if action not in CALL_ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(CALL_ACTIONS)}")
    return action


async def serve_platform(
    platform: SimulatedPlatform,
    *,
    host: str = "127.0.0.1",
    task_status: trio.TaskStatus[PlatformUrls] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``platform`` on two ephemeral ports of ``host`` until cancelled.

    Use with ``await nursery.start(serve_platform, platform)``, which returns the
    :class:`PlatformUrls` (also on ``platform.base_url`` / ``platform.realtime_url``).
    """
    await platform.serve(host=host, task_status=task_status)


@asynccontextmanager
async def open_platform(
    *, api_key: str | None = None, host: str = "127.0.0.1", tls: PlatformTls | bool = False
) -> AsyncIterator[SimulatedPlatform]:
    """A served :class:`SimulatedPlatform`, stopped when the block exits."""
    platform = SimulatedPlatform(api_key=api_key, tls=tls)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_platform, platform, host=host))
        try:
            yield platform
        finally:
            nursery.cancel_scope.cancel()
