"""What the simulated platform's two halves share (private; see supervisor.testing).

:class:`PlatformState` is handed to the REST half (``_rest``) and the sideband half
(``_sideband``); neither knows :class:`~supervisor.testing.SimulatedPlatform`, whose public
methods read and script this state.  Also here: the records the platform keeps
(:class:`RecordedRequest`, :class:`RecordedHandshake`), the scripted misbehaviour
(:class:`Script`, :class:`ScriptBook`) and :class:`ChangeSignal`, which wakes every waiter when
any of it changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import trio
from attrs import define, frozen

if TYPE_CHECKING:
    from ._tls import PlatformTls

T = TypeVar("T")
#: The calls the state holds: ``_call.SimulatedCall`` (a parameter, so that this module, which
#: ``_call`` imports, does not import ``_call`` back).
CallT = TypeVar("CallT")

#: The call-control actions, in the order a call usually meets them.
CALL_ACTIONS = ("accept", "reject", "hangup", "refer")


class ChangeSignal:
    """Wakes every waiter whenever the platform's recorded state changes."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait_for(self, probe: Callable[[], T | None]) -> T:
        """Block until ``probe()`` returns something other than None, and return it."""
        while (found := probe()) is None:
            await self._event.wait()
        return found


@frozen(kw_only=True)
class RecordedRequest:
    """One call-control request as the platform received it."""

    action: str
    call_id: str
    #: The parsed JSON body, or None when it was empty or not a JSON object.
    body: dict[str, Any] | None
    #: Header names lower-cased.
    headers: dict[str, str]
    #: ``trio.current_time()`` on arrival.
    at: float
    #: The client's ``host:port``: one per connection, so a kept-alive connection's requests share it.
    client: str = ""
    #: ``realtime`` (``/v1/realtime/calls/...``) or ``live`` (``/v1/live/sessions/...``).
    runtime: str = "realtime"


@define(kw_only=True)
class Script:
    """One scripted misbehaviour, consumed ``times`` times."""

    #: ``fail``, ``delay``, ``drop`` (REST: close the connection, no answer) or, for the
    #: sideband's ``connect``: ``stall`` / ``stall_tls`` (no websocket / TLS handshake answer)
    #: and ``silent`` (accepted, then no events).
    effect: str
    action: str  # a call action, or "connect" for the sideband handshake
    call_id: str | None
    status: int = 500
    seconds: float = 0.0
    times: int = 1
    #: ``drop``: end with a TCP reset instead of a plain close.
    abrupt: bool = False

    def matches(self, effect: str, action: str, call_id: str | None) -> bool:
        return self.effect == effect and self.action == action and self.call_id in (None, call_id)

    def describe(self) -> str:
        what = {
            "fail": f" status={self.status}",
            "delay": f" seconds={self.seconds}",
        }.get(self.effect, " abrupt" if self.abrupt else "")
        return f"{self.effect} {self.action} call_id={self.call_id or '*'}{what} x{self.times}"


class ScriptBook:
    """Scripted failures and delays, each consumed first-in first-out."""

    def __init__(self) -> None:
        self._scripts: list[Script] = []

    def add(self, script: Script) -> None:
        if script.times < 1:
            raise ValueError("times must be at least 1")
        self._scripts.append(script)

    def take(self, effect: str, action: str, call_id: str | None) -> Script | None:
        """Consume one use of the first script that matches, if any."""
        for script in self._scripts:
            if script.matches(effect, action, call_id):
                script.times -= 1
                if script.times == 0:
                    self._scripts.remove(script)
                return script
        return None

    def pending(self) -> list[str]:
        return [script.describe() for script in self._scripts]


@frozen(kw_only=True)
class RecordedHandshake:
    """One sideband handshake: ``status`` 101 when accepted, 0 when a scripted stall left it
    unanswered, else the rejection's status."""

    call_id: str | None
    status: int
    at: float
    #: Over TLS: whether the client resumed an earlier TLS session; None over plain ws.
    tls_resumed: bool | None = None


class PlatformState(Generic[CallT]):
    """The platform's state and its knobs, handed to both servers.

    ``record`` False keeps no per-request or per-event records (a long benchmark would keep
    millions); the ``on_*`` hooks then say what happened: ``on_request`` for each call-control
    request, ``on_attached`` when a sideband connection is attached to its call,
    ``on_client_event`` for each client event, and ``on_live_attached`` when a GPT-Live
    sideband connection is attached to its session.
    """

    def __init__(self, *, api_key: str, tls: PlatformTls | None) -> None:
        self.api_key = api_key
        self.tls = tls
        self.auto_audio = True
        self.audio_duration_s = 0.0
        self.refer_closes_after_s: float | None = 0.0
        self.accept_unknown_calls = False
        self.record = True
        self.on_request: Callable[[RecordedRequest], None] | None = None
        self.on_attached: Callable[[CallT], None] | None = None
        self.on_client_event: Callable[[CallT, dict[str, Any]], None] | None = None
        #: Given the ``_live_session.SimulatedLiveSession`` (typed loosely, as ``live_sessions``).
        self.on_live_attached: Callable[[Any], None] | None = None
        self.calls: dict[str, CallT] = {}
        #: GPT-Live sessions by session_id: ``_live_session.SimulatedLiveSession``, typed loosely
        #: because that module imports this one; use its ``live_session`` / ``expect_live_session``.
        self.live_sessions: dict[str, Any] = {}
        #: Live sidebands: reflect the caller's audio continuously, in frames of ``audio_frame_ms``.
        self.reflect_audio = False
        self.audio_frame_ms = 20
        self.requests: list[RecordedRequest] = []
        self.handshakes: list[RecordedHandshake] = []
        #: The REST half's open client connections by the client's ``host:port`` (for ``drop``).
        self.rest_connections: dict[str, trio.SocketStream] = {}
        self.scripts = ScriptBook()
        self.changes = ChangeSignal()
        self.nursery: trio.Nursery | None = None

    def record_request(self, request: RecordedRequest) -> None:
        if self.record:
            self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)
        self.changes.notify()

    def record_handshake(self, call_id: str | None, status: int, *, tls_resumed: bool | None = None) -> None:
        self.handshakes.append(
            RecordedHandshake(call_id=call_id, status=status, at=trio.current_time(), tls_resumed=tls_resumed)
        )
        self.changes.notify()

    def spawn(self, fn: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run ``fn`` in the platform's nursery (outliving the request that caused it)."""
        if self.nursery is None:
            raise RuntimeError("the platform is not serving")
        self.nursery.start_soon(fn, name=name)
