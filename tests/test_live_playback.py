"""When a GPT-Live goodbye has played (actors/live_playback.py), frame by frame on a MockClock.

The frames are the simulated platform's own (supervisor/testing/_live_shapes.py): speech is a
quiet tone, silence is zeros.  A goodbye has played once speech heard after the mark has been
followed by QUIET_GAP_S of quiet (no frames, or silent ones) and its end_ms has passed.
"""

from __future__ import annotations

import trio
import trio.testing

from actors.live_playback import AUDIBLE_PEAK, QUIET_GAP_S, ReflectedAudio, audio_frame, peak
from supervisor.testing._live_shapes import output_audio, silence, tone

FRAME_MS = 20


async def speak(audio: ReflectedAudio, seconds: float, *, audible: bool = True, start_ms: int = 0) -> int:
    """Frames for ``seconds``, paced in real time; returns the end_ms reached."""
    ms = start_ms
    for _ in range(round(seconds * 1000 / FRAME_MS)):
        audio.frame(output_audio(ms, ms + FRAME_MS, audible=audible))
        ms += FRAME_MS
        await trio.sleep(FRAME_MS / 1000)
    return ms


async def goodbye_played(audio: ReflectedAudio, mark: float, done_at: list[float]) -> None:
    """Wait (at most 30 s) for the goodbye after ``mark``; append the time it had played."""
    await audio.wait_goodbye(mark, 30)
    done_at.append(trio.current_time())


def test_peak_reads_pcm16_and_refuses_what_is_not() -> None:
    assert peak(tone(20)) >= AUDIBLE_PEAK
    assert peak(silence(20)) == 0
    assert peak("not base64!") == 0
    assert peak(12) == 0
    assert peak("") == 0


async def test_the_goodbye_has_played_after_speech_then_quiet(autojump_clock: trio.testing.MockClock) -> None:
    audio = ReflectedAudio()
    mark = audio.mark()
    done_at: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(goodbye_played, audio, mark, done_at)
        await trio.sleep(1)  # the backend thinks: nothing yet
        began = trio.current_time()
        await speak(audio, 2.0)
    assert done_at
    assert done_at[0] - began >= 2.0 + QUIET_GAP_S - 0.05
    assert done_at[0] - began < 2.0 + QUIET_GAP_S + 0.2


async def test_silent_frames_are_quiet_and_speech_going_on_at_the_mark_is_not_the_goodbye(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An acknowledgement playing when the output goes out is let finish; then the model
    streams silence (frames that are quiet); the goodbye is the speech after that."""
    audio = ReflectedAudio()
    ms = await speak(audio, 0.5)  # the acknowledgement, still going on at the mark
    mark = audio.mark()
    done_at: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(goodbye_played, audio, mark, done_at)
        ms = await speak(audio, 0.5, start_ms=ms)
        ms = await speak(audio, 2.0, audible=False, start_ms=ms)  # silence, streamed
        assert not done_at
        goodbye = trio.current_time()
        ms = await speak(audio, 1.0, start_ms=ms)
        await speak(audio, 3.0, audible=False, start_ms=ms)
    assert done_at
    assert goodbye + 1.0 + QUIET_GAP_S - 0.05 <= done_at[0] < goodbye + 1.0 + QUIET_GAP_S + 0.2


async def test_frames_that_arrive_faster_than_they_play_wait_for_their_end_ms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Three seconds of speech delivered in one burst: played only once its end_ms has passed."""
    audio = ReflectedAudio()
    mark = audio.mark()
    done_at: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(goodbye_played, audio, mark, done_at)
        await trio.sleep(0.1)
        began = trio.current_time()
        for n in range(150):
            audio.frame(output_audio(n * FRAME_MS, (n + 1) * FRAME_MS))
    assert done_at[0] - began >= 3.0


async def test_the_wait_is_bounded_and_nothing_is_decoded_while_nobody_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    audio = ReflectedAudio()
    assert not audio.waiting
    audio.frame(None)  # what the session hands over while nobody waits: not parsed at all
    began = trio.current_time()
    await audio.wait_goodbye(audio.mark(), 5.0)  # the model never speaks
    assert trio.current_time() - began == 5.0
    assert not audio.waiting


def test_a_frame_is_read_off_its_text_in_any_field_order_and_refused_when_it_is_not_one() -> None:
    """audio_frame reads delta, start_ms and end_ms without parsing JSON, whatever their order."""
    delta = tone(20)
    reordered = f'{{"type": "session.output_audio.delta", "end_ms": 140, "start_ms": 120, "delta": "{delta}"}}'
    assert audio_frame(reordered) == {"delta": delta, "start_ms": 120, "end_ms": 140}
    assert audio_frame('{"type":"session.output_audio.delta","delta":"AAAA"}') == {
        "delta": "AAAA", "start_ms": None, "end_ms": None,
    }
    assert audio_frame('{"type":"session.output_audio.delta","delta":7}') is None
    assert audio_frame('{"type":"session.output_audio.delta","delta":"not\\"base64"}') is None
    huge = '{"type":"session.output_audio.delta","delta":"AAAA","end_ms":' + "9" * 40 + "}"
    assert audio_frame(huge) == {"delta": "AAAA", "start_ms": None, "end_ms": None}
