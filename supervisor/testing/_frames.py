"""Websocket frames written by hand, for what no well-behaved server sends (private; see supervisor.testing).

trio-websocket (through wsproto) refuses to send a close code that RFC 6455 keeps off the wire
(1005, 1006, 1015, anything under 1000 or from 5000 on), a reserved opcode, or half a frame.  A
hostile sideband sends them anyway, so :class:`~._call.SimulatedCall` encodes such frames here
and writes them under the websocket (:func:`write_raw`).  Server frames are not masked.
"""

from __future__ import annotations

import struct

import trio_websocket

#: Opcodes (RFC 6455 section 5.2) for :meth:`~._call.SimulatedCall.send_frame`; 3..7 and 11..15 are reserved.
FRAME_CONTINUATION, FRAME_TEXT, FRAME_BINARY = 0x0, 0x1, 0x2
FRAME_CLOSE, FRAME_PING, FRAME_PONG = 0x8, 0x9, 0xA


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """One unmasked frame: ``opcode`` (0..15, reserved ones too), ``rsv`` bits (0..7), ``payload``."""
    if not 0 <= opcode <= 0xF or not 0 <= rsv <= 0b111:
        raise ValueError(f"opcode must be 0..15 and rsv 0..7, got {opcode} and {rsv}")
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 2**16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


def close_payload(code: int | None, reason: str | bytes = b"") -> bytes:
    """A close frame's payload: nothing for ``None`` (read as 1005), else the code as sent."""
    if code is None:
        return b""
    if not 0 <= code < 2**16:
        raise ValueError(f"a close code is two bytes, got {code}")
    return struct.pack("!H", code) + (reason.encode() if isinstance(reason, str) else reason)


async def write_raw(ws: trio_websocket.WebSocketConnection, data: bytes) -> None:
    """Write ``data`` onto the stream under ``ws``, between the frames ``ws`` sends itself.

    Reaches into trio-websocket 0.12's connection (``_stream``, and ``_stream_lock``, which
    serialises its own writes); the version is pinned in constraints.txt.
    """
    async with ws._stream_lock:
        await ws._stream.send_all(data)
