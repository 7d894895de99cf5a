"""What the model's responses did on one call's sideband: their order, and whether each has played.

``end_call`` and ``transfer_call`` wait for *their* goodbye to finish playing, not for any
audio: the goodbye is the first response the server created after the tool output was sent,
and it has played when its own audio stopped (or it finished without audio).  The session feeds
the response and audio-buffer events here (:data:`RESPONSE_EVENTS`) and its own close
(:meth:`Playback.changed`); tool runs wait here.
"""

from __future__ import annotations

from typing import Any

import trio

#: The sideband events :meth:`Playback.track` reads.
RESPONSE_EVENTS = frozenset(
    {
        "response.created",
        "response.done",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
    }
)


#: Responses remembered, the newest: a goodbye further back than this has long played.
REMEMBERED_RESPONSES = 64
#: A response id longer than this is ignored (OpenAI's are about 30 characters).
MAX_RESPONSE_ID_CHARS = 128


class Playback:
    """Responses in the order the server created them, and which have finished playing.

    Bounded whatever the sideband sends: the newest :data:`REMEMBERED_RESPONSES` responses,
    audio state only for those.
    """

    __slots__ = ("_audio", "_changed", "_forgotten", "_responses")

    def __init__(self) -> None:
        self._responses: list[str] = []
        #: How many responses were created before the first in ``_responses``.
        self._forgotten = 0
        #: response id -> its audio finished (True also for a response without audio)
        self._audio: dict[str, bool] = {}
        #: Made when someone waits; set when anything here (or the session's close) changes.
        self._changed: trio.Event | None = None

    def mark(self) -> int:
        """A mark for :meth:`wait_goodbye`: the goodbye is the next response created after it."""
        return self._forgotten + len(self._responses)

    def track(self, kind: str, event: dict[str, Any]) -> None:
        """Take one of :data:`RESPONSE_EVENTS` into account (ill-formed ones are ignored)."""
        response = event.get("response")
        response_id = response.get("id") if isinstance(response, dict) else event.get("response_id")
        if not isinstance(response_id, str) or len(response_id) > MAX_RESPONSE_ID_CHARS:
            return
        if kind == "response.created":
            self._responses.append(response_id)
            if len(self._responses) > REMEMBERED_RESPONSES:
                self._audio.pop(self._responses.pop(0), None)
                self._forgotten += 1
        elif response_id not in self._responses:
            return  # audio of a response never created (or long forgotten) is nobody's goodbye
        elif kind == "output_audio_buffer.started":
            self._audio.setdefault(response_id, False)
        elif kind == "response.done":
            self._audio.setdefault(response_id, True)  # True: a response without audio
        else:  # output_audio_buffer.stopped / .cleared
            self._audio[response_id] = True
        self.changed()

    def changed(self) -> None:
        """Wake every waiter (something they may be waiting for happened)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait_change(self) -> None:
        """Until the next :meth:`changed`."""
        if self._changed is None:
            self._changed = trio.Event()
        await self._changed.wait()

    async def wait_goodbye(self, mark: int, timeout_s: float) -> None:
        """Wait, at most ``timeout_s``, until the goodbye created after ``mark`` has played.

        Audio of earlier responses does not count.
        """
        with trio.move_on_after(timeout_s):
            while self.mark() <= mark:
                await self.wait_change()
            if mark < self._forgotten:
                return  # dozens of responses came after it: it has played
            goodbye = self._responses[mark - self._forgotten]
            while not self._audio.get(goodbye, False) and goodbye in self._responses:
                await self.wait_change()
