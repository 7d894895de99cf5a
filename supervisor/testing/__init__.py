"""A simulated OpenAI platform for tests, demos and benchmarks, public like ``trio.testing``.

Everything here talks over real loopback sockets, so the code under test uses its production
clients unmodified: the openai SDK for call control and trio-websocket for the sideband.

A test against the service under test (``service_url`` is wherever it serves its public app,
configured with ``signer.secret``, ``platform.api_key``, ``platform.base_url`` and
``platform.realtime_url``)::

    async def test_greets_the_caller(mock_clock):
        signer = WebhookSigner(new_secret())
        async with open_platform() as platform:
            ...  # start the service under test, pointed at the platform
            event = incoming_call_event("rtc_1")
            with trio.fail_after(10):
                response = await place_call(service_url, signer, event, platform=platform)
                accept = await platform.wait_for_request("accept", "rtc_1")
                greeting = await platform.wait_for_client_event("rtc_1", "response.create")
                tool_call_id = await platform.call("rtc_1").function_call("end_call", "{}")
                await platform.wait_for_request("hangup", "rtc_1")
            assert response.status_code == 200
            assert accept.body["type"] == "realtime"

Pieces:

- :class:`WebhookSigner` and :func:`new_secret` sign deliveries the way OpenAI does (Standard
  Webhooks), independently of :mod:`supervisor.webhooks`, so each checks the other.
- :func:`incoming_call_event` builds a ``realtime.call.incoming`` event; :func:`place_call`
  signs it and POSTs it to ``{url}/webhooks/openai``.
- :class:`SimulatedPlatform` is the platform: the calls it knows
  (:class:`SimulatedCall`), every call-control request (:class:`RecordedRequest`), every
  sideband handshake, and the scripted misbehaviour still to come (``fail``, ``delay``,
  ``drop`` (no answer, a reset if abrupt), ``gone``, ``fail_connect``, ``stall_handshake``,
  ``silent_after_handshake``).  :func:`serve_platform` serves it (``nursery.start`` reports
  the :class:`PlatformUrls`); :func:`open_platform` does both in its own nursery.
- TLS: ``SimulatedPlatform(tls=True)`` (or a :class:`PlatformTls`) serves https and wss with a
  certificate of a test CA (trustme); :meth:`PlatformTls.write_trust_bundle` writes the bundle
  to name in callvisor's ``SSL_CERT_FILE``, as a production trust store with a private CA.
- REST: ``{base_url}/realtime/calls/{call_id}/accept|reject|hangup|refer``; the rules are in
  ``supervisor/testing/_rest.py``'s docstring.  GPT-Live: ``{base_url}/live/sessions/{session_id}/...``
  with the same order, scripts and records (``RecordedRequest.runtime`` is ``live``) and Live's
  body rules (``_live_rest``); :func:`live_incoming_event` builds ``live.transport.incoming`` (or
  the deprecated ``live.call.incoming``) and :func:`sip_call_pair` both webhooks of one SIP call.  Sideband:
  ``{realtime_url}?call_id=...`` with ``Authorization: Bearer {api_key}``; it answers
  ``session.created``, records every client event, and (``auto_audio``) answers each
  ``response.create`` like a model that speaks.
- GPT-Live: ``{live_url}/sessions/{session_id}/attach`` (``live_url`` is ``.../v1/live`` on
  the Realtime sideband's port), same key, 404 unless the session was accepted.
  ``platform.expect_live_session(id, accepted=body)`` makes a session known, and accepted as
  the Live REST accept leaves it; :class:`SimulatedLiveSession` answers the Live client events
  in the openai SDK's shapes (``session.started`` first, acks, ``session.updated``, errors),
  scripts Responses-delegation function calls nested in ``response.event``
  (``function_call``, ``wait_tool_output``), speaks (``play_audio``: reflected
  ``session.output_audio.delta`` frames of ``audio_frame_ms``, 20 ms, paced on the trio
  clock; ``reflect_audio`` adds the caller's frames), ends with ``session.closed`` and a
  reason (``close``, ``caller_hangup``; a close handshake only with ``graceful_close=true``)
  or drops TCP without it (``abort``), and sends hostile text and frames.
- A hostile sideband: :class:`SimulatedCall` sends any text or binary frame (``send_text``), a
  frame of a given size (``send_sized``), hand-written frames RFC 6455 forbids (``send_frame``
  with the ``FRAME_*`` opcodes, reserved ones and bits too), a close frame with any code, even
  1005 or 1006 (``send_close_frame``), and drops TCP, mid-frame if asked (``abort``).

- The service under test, in-process: :func:`settings_for` points callvisor's settings at a
  platform, :func:`open_callvisor` serves the production service on loopback ports, and
  :class:`LogTap` keeps its JSON log lines (:class:`LogLines`) and lets a task wait for one.
  :class:`Driver` (:func:`open_driver`) places calls into it and reads what it answered,
  logged and sent to OpenAI: the demo and the tests all drive callvisor through it.
- ``record=False`` and the ``on_request`` / ``on_attached`` / ``on_client_event`` /
  ``on_live_attached`` hooks and ``start_soon`` are for long runs (the benchmarks' platform) that keep counters, not records.

Layout: this ``__init__`` is the face; the private modules below it never import it.
``_state`` holds what the REST half (``_rest``) and the sideband half (``_sideband``, the
websocket server, and ``_call``, each call's server side, with the event shapes of ``_shapes``
and the hand-written frames of ``_frames``) share, handed to both;
the Live attach (``_live_sideband``, routed by path from ``_sideband``) with each session's
server side (``_live_session``), its answers to client events (``_live_reactions``) and its
event shapes (``_live_shapes``); ``_live_platform`` is the Live half of the platform's face;
``_platform`` is :class:`SimulatedPlatform`; ``_tls`` the test CA; ``_webhooks`` the signer;
``_harness`` the in-process service and ``_driver`` its driver; ``_live_rest`` and
``_live_events`` the GPT-Live REST rules and webhooks.

Tests never sleep to wait: ``wait_for_request``, ``wait_for_client_event``,
``SimulatedCall.wait_tool_output`` and friends block until the thing happened.  They do not
time out on their own; put a ``trio.fail_after`` around a test's waits.  Delays use
``trio.sleep``, so they follow the test's clock (use ``MockClock(autojump_threshold=0.2)``:
these are real sockets).
"""

from __future__ import annotations

from ._call import SimulatedCall as SimulatedCall
from ._driver import Driver as Driver
from ._driver import open_driver as open_driver
from ._frames import FRAME_BINARY as FRAME_BINARY
from ._frames import FRAME_CLOSE as FRAME_CLOSE
from ._frames import FRAME_CONTINUATION as FRAME_CONTINUATION
from ._frames import FRAME_PING as FRAME_PING
from ._frames import FRAME_PONG as FRAME_PONG
from ._frames import FRAME_TEXT as FRAME_TEXT
from ._harness import EXAMPLE_TENANTS as EXAMPLE_TENANTS
from ._harness import LogLines as LogLines
from ._harness import LogTap as LogTap
from ._harness import open_callvisor as open_callvisor
from ._harness import settings_for as settings_for
from ._live_events import LIVE_INCOMING as LIVE_INCOMING
from ._live_events import LIVE_INCOMING_DEPRECATED as LIVE_INCOMING_DEPRECATED
from ._live_events import live_incoming_event as live_incoming_event
from ._live_events import sip_call_pair as sip_call_pair
from ._live_rest import LIVE_PREFIX as LIVE_PREFIX
from ._live_session import SimulatedLiveSession as SimulatedLiveSession
from ._platform import PlatformUrls as PlatformUrls
from ._platform import SimulatedPlatform as SimulatedPlatform
from ._platform import open_platform as open_platform
from ._platform import serve_platform as serve_platform
from ._state import CALL_ACTIONS as CALL_ACTIONS
from ._state import RecordedHandshake as RecordedHandshake
from ._state import RecordedRequest as RecordedRequest
from ._tls import PlatformTls as PlatformTls
from ._webhooks import WebhookSigner as WebhookSigner
from ._webhooks import incoming_call_event as incoming_call_event
from ._webhooks import new_secret as new_secret
from ._webhooks import place_call as place_call

__all__ = [
    "CALL_ACTIONS",
    "EXAMPLE_TENANTS",
    "FRAME_BINARY",
    "FRAME_CLOSE",
    "FRAME_CONTINUATION",
    "FRAME_PING",
    "FRAME_PONG",
    "FRAME_TEXT",
    "LIVE_INCOMING",
    "LIVE_INCOMING_DEPRECATED",
    "LIVE_PREFIX",
    "Driver",
    "LogLines",
    "LogTap",
    "PlatformTls",
    "PlatformUrls",
    "RecordedHandshake",
    "RecordedRequest",
    "SimulatedCall",
    "SimulatedLiveSession",
    "SimulatedPlatform",
    "WebhookSigner",
    "incoming_call_event",
    "live_incoming_event",
    "new_secret",
    "open_callvisor",
    "open_driver",
    "open_platform",
    "place_call",
    "serve_platform",
    "settings_for",
    "sip_call_pair",
]
