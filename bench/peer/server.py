"""The peer's FastAPI app: webhook → accept → one Agents-SDK realtime session per call.

Configured from the environment: ``OPENAI_API_KEY``, ``OPENAI_WEBHOOK_SECRET``,
``OPENAI_BASE_URL`` (the REST API; the simulated platform in the benchmarks) and
``PEER_REALTIME_URL`` (the sideband websocket; the SDK's ``model_config["url"]``, which it uses
instead of OpenAI's default address).  Tracing export is switched off: it would send traces to
OpenAI, and the benchmarks run without a network.

TLS, as the SDK does it with no code of ours: ``SSL_CERT_FILE`` (the benchmarks set it to the
system bundle plus the platform's test CA) is read by the openai client's transport (httpx2 /
httpcore2 ``default_ssl_context``, once per client, so once per process here) and by the
``websockets`` connection the Agents SDK opens per call (``ssl=True`` for a ``wss://`` URL:
asyncio builds a fresh ``ssl.create_default_context()`` for each connection, which loads
OpenSSL's default paths, and OpenSSL honours ``SSL_CERT_FILE``).

Each call logs one JSON line on stdout when accepted (``decision_ms``: webhook received →
accept request sent; ``accept_ms``: the accept's REST round trip) and one when its session ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from agents import function_tool, set_tracing_disabled
from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.realtime.model_inputs import RealtimeModelSendRawMessage
from agents.realtime.openai_realtime import OpenAIRealtimeSIPModel
from fastapi import FastAPI, HTTPException, Request, Response
from openai import APIStatusError, AsyncOpenAI, InvalidWebhookSignatureError

GREETING = "Hello, thanks for calling Acme. How can I help you today?"
INSTRUCTIONS = (
    "You answer the phone for Acme, a maker of garden tools. Be warm and brief. You can look up "
    "an order when the caller gives you its number."
)

set_tracing_disabled(True)


@function_tool  # type: ignore[untyped-decorator]  # the agents SDK is Any here (pyproject)
def lookup_order(order_number: str) -> str:
    """Look up the status of an order by its order number."""
    return json.dumps({"order_number": order_number, "status": "shipped"})


def _log(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"ts": time.time(), "event": event, **fields}) + "\n")


def create_app() -> FastAPI:
    api_key = os.environ["OPENAI_API_KEY"]
    realtime_url = os.environ.get("PEER_REALTIME_URL", "wss://api.openai.com/v1/realtime")
    client = AsyncOpenAI(
        api_key=api_key,
        webhook_secret=os.environ["OPENAI_WEBHOOK_SECRET"],
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
    )
    agent = RealtimeAgent(name="Acme receptionist", instructions=INSTRUCTIONS, tools=[lookup_order])
    sessions: dict[str, asyncio.Task[None]] = {}
    app = FastAPI()

    async def accept(call_id: str) -> bool:
        try:
            await client.realtime.calls.accept(
                call_id, type="realtime", model="gpt-realtime", instructions=INSTRUCTIONS
            )
        except APIStatusError as exc:
            if exc.status_code == 404:  # the caller is already gone
                return False
            raise HTTPException(status_code=500, detail="accept failed") from exc
        return True

    async def attend(call_id: str) -> None:
        """Attach a realtime session to the call and follow it until it ends."""
        runner = RealtimeRunner(agent, model=OpenAIRealtimeSIPModel())
        events = 0
        try:
            session = await runner.run(
                model_config={
                    "call_id": call_id,
                    "api_key": api_key,
                    "url": f"{realtime_url}?call_id={call_id}",
                    "initial_model_settings": {
                        "turn_detection": {"type": "semantic_vad", "interrupt_response": True}
                    },
                }
            )
            async with session:
                greeting = f"Say exactly '{GREETING}' now."
                await session.model.send_event(
                    RealtimeModelSendRawMessage(
                        message={
                            "type": "response.create",
                            "other_data": {"response": {"instructions": greeting}},
                        }
                    )
                )
                async for _event in session:
                    events += 1
        except Exception as exc:
            _log("session_error", call_id=call_id, error=type(exc).__name__)
        finally:
            sessions.pop(call_id, None)
            _log("call_ended", call_id=call_id, events=events)

    @app.post("/openai/webhook")  # type: ignore[untyped-decorator]
    async def webhook(request: Request) -> Response:
        body = await request.body()
        received = time.perf_counter()  # after the body, as callvisor's received_at
        try:
            event = client.webhooks.unwrap(body, request.headers)
        except InvalidWebhookSignatureError as exc:
            raise HTTPException(status_code=400, detail="invalid signature") from exc
        if event.type == "realtime.call.incoming":
            call_id = event.data.call_id
            sent = time.perf_counter()
            accepted = await accept(call_id)
            done = time.perf_counter()
            if accepted:
                previous = sessions.get(call_id)
                if previous is not None and not previous.done():
                    previous.cancel()
                sessions[call_id] = asyncio.create_task(attend(call_id))
            _log(
                "call_accepted" if accepted else "call_gone",
                call_id=call_id,
                decision_ms=round((sent - received) * 1000, 3),
                accept_ms=round((done - sent) * 1000, 3),
            )
        return Response(status_code=200)

    @app.get("/")  # type: ignore[untyped-decorator]
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
