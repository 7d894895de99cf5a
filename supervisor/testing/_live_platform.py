"""What :class:`~supervisor.testing.SimulatedPlatform` says of GPT-Live sessions (private; see supervisor.testing).

A base class of the platform, so that the Live surface's public methods sit beside the Live
modules and ``_platform`` only inherits them: the sessions the platform knows (made known as a
``live.transport.incoming`` webhook would, and accepted as the REST accept leaves them), and
the knobs of the Live sideband's audio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ._live_session import SimulatedLiveSession, expect_live_session, live_session
from ._state import PlatformState


class LiveSurface:
    """The Live half of the platform's public face; the platform sets ``_state``."""

    _state: PlatformState[Any]

    # -- knobs ----------------------------------------------------------------------------

    @property
    def reflect_audio(self) -> bool:
        """Live sidebands reflect the caller's audio, a frame every ``audio_frame_ms`` (off by default)."""
        return self._state.reflect_audio

    @reflect_audio.setter
    def reflect_audio(self, value: bool) -> None:
        self._state.reflect_audio = value

    @property
    def audio_frame_ms(self) -> int:
        """Milliseconds of audio in each reflected Live frame, and between two of them (20)."""
        return self._state.audio_frame_ms

    @audio_frame_ms.setter
    def audio_frame_ms(self, value: int) -> None:
        if value < 1:
            raise ValueError("audio_frame_ms must be at least 1")
        self._state.audio_frame_ms = value

    # -- hooks ----------------------------------------------------------------------------

    def on_live_attached(self, hook: Callable[[SimulatedLiveSession], None] | None) -> None:
        """Call ``hook`` with the session whenever a Live sideband connection attaches to it
        (after ``session.started``; the Live counterpart of ``on_attached``)."""
        self._state.on_live_attached = hook

    # -- sessions -------------------------------------------------------------------------

    @property
    def live_sessions(self) -> Mapping[str, SimulatedLiveSession]:
        """Every Live session the platform knows, by session_id (a read-only view)."""
        sessions: dict[str, SimulatedLiveSession] = self._state.live_sessions
        return MappingProxyType(sessions)

    def expect_live_session(
        self, session_id: str, *, accepted: dict[str, Any] | None = None
    ) -> SimulatedLiveSession:
        """Make the Live session known (as its webhook does); with ``accepted`` (an accept body,
        ``{"session": {...}}``) also accepted, as a successful REST accept leaves it."""
        session = expect_live_session(self._state, session_id)
        if accepted is not None:
            session._accept(accepted)
        return session

    def live_session(self, session_id: str) -> SimulatedLiveSession:
        """The Live session ``session_id``; KeyError if the platform never heard of it."""
        if (session := live_session(self._state, session_id)) is None:
            raise KeyError(f"the platform has no Live session {session_id!r}")
        return session
