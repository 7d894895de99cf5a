"""The peer: a SIP call service built the documented way on the OpenAI Agents SDK.

FastAPI + uvicorn, one ``RealtimeSession`` (``OpenAIRealtimeSIPModel``) per call, shaped like the
SDK's public SIP example: verify the webhook with ``client.webhooks.unwrap``, accept the call
through the Realtime Calls API, then attach a ``RealtimeRunner`` session to it.  Written here
against the package's public API so the benchmarks can run it beside callvisor against the same
simulated platform.
"""
