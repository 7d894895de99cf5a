"""When a GPT-Live goodbye has played, from the reflected output audio (GPT-Live's own events).

Live has no event for the end of the model's speech (no ``output_audio_buffer.stopped``, no
transcript-done).  What the sideband does carry is the model's audio itself, reflected as
``session.output_audio.delta`` frames (base64 PCM16LE, 24 kHz mono, with ``start_ms`` and
``end_ms`` on the session's audio timeline).  So a goodbye has played when, after the tool
output was sent, the model was heard and then was quiet for :data:`QUIET_GAP_S`, and the wall
clock has passed the end of what it said (frames may arrive faster than they play).

Quiet means no frame, or frames of silence (the reference notes the model may stream silence
while it says nothing): a frame is heard when its peak sample reaches :data:`AUDIBLE_PEAK`.
Frames arrive continuously, so nothing is decoded unless a goodbye is being waited for; the
rest of the time a frame costs one clock read.  While one is, a frame is read off its text
(:func:`audio_frame`, no JSON parse) and looked at one sample in :data:`PEAK_STRIDE`.

Speech already going on when the output was sent (an acknowledgement of the delegation) is let
finish first; a goodbye that follows it with no gap at all is only ended by the wait's bound.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from array import array
from typing import Any

import trio

#: The pause after which the model has stopped speaking, in seconds (speech pauses between
#: words and sentences are shorter).
QUIET_GAP_S = 0.6
#: The peak sample of a frame that is heard, out of 32,767 (about -54 dBFS: above dither).
AUDIBLE_PEAK = 64
#: The longest an utterance's timestamps may say it plays, in seconds: ``end_ms`` is untrusted,
#: and one claiming hours would hold the goodbye until its wait's bound.
MAX_UTTERANCE_S = 120.0


#: Every how many samples :func:`peak` looks at: speech is far longer than 8 samples (a third
#: of a millisecond), and each sample looked at costs a Python integer.
PEAK_STRIDE = 8
#: A frame's fields, read off its text without parsing it: base64 holds no quote or backslash,
#: so the ``delta`` string ends at the next quote; the timestamps are plain integers.
_DELTA = re.compile(r'"delta"\s*:\s*"([A-Za-z0-9+/=]*)"')
_START_MS = re.compile(r'"start_ms"\s*:\s*(\d{1,15})[,}\s]')
_END_MS = re.compile(r'"end_ms"\s*:\s*(\d{1,15})[,}\s]')


def peak(audio: object) -> int:
    """About the largest absolute sample of base64 PCM16LE ``audio`` (every
    :data:`PEAK_STRIDE`-th sample); 0 when it is silence or not audio at all."""
    if not isinstance(audio, str) or not audio:
        return 0
    try:
        pcm = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        return 0
    if not pcm.strip(b"\x00"):
        return 0  # digital silence, the usual quiet, found without looking at samples
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    looked_at = samples[::PEAK_STRIDE]
    return max(max(looked_at), -min(looked_at)) if looked_at else 0


def audio_frame(message: str) -> dict[str, Any] | None:
    """The fields of a ``session.output_audio.delta`` message that goodbyes need (``delta``,
    ``start_ms``, ``end_ms``), read off its text; None when it holds no ``delta`` string."""
    delta = _DELTA.search(message)
    if delta is None:
        return None
    start, end = _START_MS.search(message), _END_MS.search(message)
    return {
        "delta": delta.group(1),
        "start_ms": int(start.group(1)) if start else None,
        "end_ms": int(end.group(1)) if end else None,
    }


class ReflectedAudio:
    """The model's reflected audio on one Live call, as far as goodbyes need it.

    ``mark()`` is a trio time; :meth:`wait_goodbye` waits for speech heard after it to end.
    """

    __slots__ = ("_changed", "_heard_at", "_last_frame_at", "_plays_until", "_utterance", "_waiting")

    def __init__(self) -> None:
        #: When the last output frame arrived (any frame: nothing is decoded for this).
        self._last_frame_at = -1e9
        #: While someone waits: when the last audible frame arrived.
        self._heard_at = -1e9
        #: While someone waits: when what was heard ends playing, on the wall clock.
        self._plays_until = -1e9
        #: The (arrival time, start_ms) of the utterance being heard, to place its end_ms.
        self._utterance: tuple[float, float] | None = None
        self._waiting = 0
        self._changed: trio.Event | None = None

    def mark(self) -> float:
        return trio.current_time()

    def frame(self, event: dict[str, Any] | None) -> None:
        """One ``session.output_audio.delta`` arrived; ``event`` is it parsed, or None when it
        was not (the session parses frames only while a goodbye is being waited for)."""
        now = trio.current_time()
        self._last_frame_at = now
        if not self._waiting or event is None:
            return
        if peak(event.get("delta")) < AUDIBLE_PEAK:
            return
        start_ms, end_ms = _ms(event.get("start_ms")), _ms(event.get("end_ms"))
        if now - self._heard_at >= QUIET_GAP_S or self._utterance is None:
            self._utterance = (now, start_ms or 0.0)
        self._heard_at = now
        began_at, first_ms = self._utterance
        if end_ms is not None and first_ms <= end_ms:
            plays_s = min((end_ms - first_ms) / 1000, MAX_UTTERANCE_S)
            self._plays_until = max(self._plays_until, began_at + plays_s)
        self.changed()

    @property
    def waiting(self) -> bool:
        """Whether a goodbye is being waited for (then frames are worth parsing)."""
        return self._waiting > 0

    def changed(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait_change(self) -> None:
        if self._changed is None:
            self._changed = trio.Event()
        await self._changed.wait()

    async def wait_goodbye(self, mark: float, timeout_s: float) -> None:
        """Wait, at most ``timeout_s``, until speech heard after ``mark`` has ended."""
        self._waiting += 1
        # Audio before the wait was not decoded: a frame then counts as heard.
        self._heard_at = max(self._heard_at, self._last_frame_at)
        try:
            with trio.move_on_after(timeout_s):
                if self._heard_at > mark - QUIET_GAP_S:
                    await self._quiet()  # what was being said when the output went
                quiet_since = trio.current_time()
                while self._heard_at <= quiet_since:
                    await self.wait_change()
                await self._quiet()
        finally:
            self._waiting -= 1

    async def _quiet(self) -> None:
        """Until nothing has been heard for :data:`QUIET_GAP_S` and what was heard has played."""
        while True:
            until = max(self._heard_at + QUIET_GAP_S, self._plays_until)
            if trio.current_time() >= until:
                return
            await trio.sleep_until(until)


def _ms(value: object) -> float | None:
    """A timestamp in milliseconds, or None when ``value`` is none (untrusted input)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 2**53:
        return float(value)
    return None
