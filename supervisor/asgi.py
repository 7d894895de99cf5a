"""For a bare ASGI app with nothing to start or stop (the apps of supervisor are QuartTrio apps,
``supervisor.json_app``; a test's TLS server and ``bench/platform.py`` still use this)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


async def answer_lifespan(
    receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    """Serve an ASGI ``lifespan`` scope for an app with nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
