"""The simulated platform's REST half (private; see supervisor.testing).

``POST /v1/realtime/calls/{call_id}/{accept|reject|hangup|refer}`` (and the GPT-Live paths
``/v1/live/sessions/{session_id}/...``, whose bodies ``_live_rest`` checks) served by hypercorn
from a small QuartTrio app (:func:`~supervisor.json_app.create_json_app`).  A request is answered
in this order:

1. recorded (every request, whatever its fate);
2. 401 ``invalid_api_key`` unless ``Authorization: Bearer <api_key>``;
3. the first matching scripted delay is slept (``trio.sleep``: the test's clock);
4. the first matching scripted failure answers with its status;
5. the first matching scripted drop closes the client's connection with no answer at all (a
   TCP reset when ``abrupt``); the request has no effect on the call;
6. 404 ``call_not_found`` for a call the platform never heard of, or one that ended;
7. 400 for a body OpenAI would refuse (Realtime: accept without ``"type": "realtime"``, refer
   without ``target_uri``, a non-integer reject ``status_code``; Live: see ``_live_rest``);
8. 200 with an empty body, and the call's state moves on.

==========  ===================  ====================================================
action      allowed from         effect
==========  ===================  ====================================================
accept      incoming, accepted   accepted (a repeated accept is a no-op 200)
reject      incoming, accepted   ended
hangup      incoming, accepted   ended; live sideband closed with 1000
refer       accepted             after ``refer_closes_after_s``: ended, sideband closed
==========  ===================  ====================================================

The server is hypercorn's connection handler (``TCPServer``) under an accept loop of our own,
so that the platform holds each client's TCP stream (``PlatformState.rest_connections``) and a
scripted drop can close it under hypercorn, as a proxy or a crashed server would.
"""

from __future__ import annotations

import json
import socket
import struct
from functools import partial
from typing import Any

import trio
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app
from quart import Response, request
from quart_trio import QuartTrio

from ..http_server import hypercorn_config, install
from ..json_app import create_json_app
from ._call import SimulatedCall, expect_call
from ._live_rest import LIVE_PREFIX, live_refusal
from ._live_rest import api_error as _error
from ._live_session import SimulatedLiveSession, expect_live_session
from ._state import CALL_ACTIONS, PlatformState, RecordedRequest

_PREFIX = "/v1/realtime/calls/"
#: What :func:`answer` returns as the status of a scripted drop: no answer (a reset if abrupt).
NO_ANSWER, RESET = 0, -1


async def answer(
    state: PlatformState[SimulatedCall],
    action: str,
    call_id: str,
    raw_body: bytes,
    headers: dict[str, str],
    client: str = "",
    runtime: str = "realtime",
) -> tuple[int, dict[str, Any] | None]:
    """Status and JSON body for one call-control request (order in the module docstring).

    ``runtime`` ``live``: a request on the GPT-Live paths, whose bodies ``_live_rest`` checks.
    """
    try:
        parsed = json.loads(raw_body) if raw_body else None
    except ValueError:
        parsed = None
    body = parsed if isinstance(parsed, dict) else None
    state.record_request(
        RecordedRequest(
            action=action,
            call_id=call_id,
            body=body,
            headers=headers,
            at=trio.current_time(),
            client=client,
            runtime=runtime,
        )
    )
    if headers.get("authorization") != f"Bearer {state.api_key}":
        return 401, _error("invalid_api_key", "Incorrect API key provided.")
    if (delay := state.scripts.take("delay", action, call_id)) is not None:
        await trio.sleep(delay.seconds)
    if (failure := state.scripts.take("fail", action, call_id)) is not None:
        return failure.status, _error("scripted_failure", "Scripted failure.", kind="server_error")
    if (drop := state.scripts.take("drop", action, call_id)) is not None:
        return (RESET if drop.abrupt else NO_ANSWER), None

    call = state.calls.get(call_id)
    if call is None and state.accept_unknown_calls:
        call = expect_call(state, call_id, runtime=runtime)
    allowed = ("accepted",) if action == "refer" else ("incoming", "accepted")
    if call is None or call.runtime != runtime or call.state not in allowed:
        if runtime == "live":
            return 404, _error("session_not_found", f"No session found with id '{call_id}'.")
        return 404, _error("call_not_found", f"No call found with id '{call_id}'.")
    if raw_body and body is None:
        return 400, _error("invalid_json", "The body is not a JSON object.")
    body = body or {}
    refusal = live_refusal(action, body) if runtime == "live" else _realtime_refusal(action, body)
    if refusal is not None:
        return 400, refusal

    if runtime == "live":
        _live_session_follows(state, action, call_id, body)
    if action == "accept":
        call._accept(body)
    elif action == "reject":
        call._end("rejected")
    elif action == "hangup":
        call._end("hangup")
        state.spawn(
            partial(call._close_after, 0.0, "hangup"), name=f"platform:hangup:{call_id}"
        )
    else:
        call.refer_target = body["target_uri"]
        if state.refer_closes_after_s is not None:
            state.spawn(
                partial(call._close_after, state.refer_closes_after_s, "refer"),
                name=f"platform:refer:{call_id}",
            )
    return 200, None


def _live_session_follows(
    state: PlatformState[SimulatedCall], action: str, session_id: str, body: dict[str, Any]
) -> None:
    """The Live sideband's session does what the REST request did: an accept admits attaches,
    a reject ends it, a hangup closes its sideband with ``session.closed`` (``close_requested``), and a refer
    (with ``refer_closes_after_s``) with ``remote_hangup``."""
    session = expect_live_session(state, session_id)
    if action == "accept":
        session._accept(body)
    elif action == "reject":
        session._end("rejected")
    elif action == "hangup":
        state.spawn(
            partial(session.close, "close_requested", ended_by="hangup"),
            name=f"platform:live-hangup:{session_id}",
        )
    elif action == "refer" and state.refer_closes_after_s is not None:
        # The caller's leg moves to the target: OpenAI's side of the call hangs up.
        state.spawn(
            partial(_close_later, session, state.refer_closes_after_s),
            name=f"platform:live-refer:{session_id}",
        )


async def _close_later(session: SimulatedLiveSession, delay_s: float) -> None:
    await trio.sleep(delay_s)
    if session.live_connections:
        await session.close("remote_hangup", ended_by="refer")


def _realtime_refusal(action: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The 400 body OpenAI would answer a Realtime ``action`` with ``body``, or None."""
    if action == "accept" and body.get("type") != "realtime":
        return _error("missing_required_parameter", "Missing required parameter: 'type'.", param="type")
    if action == "reject" and type(body.get("status_code", 603)) is not int:
        return _error("invalid_type", "status_code must be an integer.", param="status_code")
    if action == "refer":
        target = body.get("target_uri")
        if not isinstance(target, str) or not target:
            return _error(
                "missing_required_parameter",
                "Missing required parameter: 'target_uri'.",
                param="target_uri",
            )
    return None


def create_call_control_app(state: PlatformState[SimulatedCall]) -> QuartTrio:
    """The REST app: call-control POSTs go to :func:`answer`; any other request is a 404."""
    app = create_json_app("supervisor.testing.platform")
    app.config["MAX_CONTENT_LENGTH"] = None

    @app.post(f"{_PREFIX}<call_id>/<action>")
    async def call_control(call_id: str, action: str) -> Response:
        return await _serve(call_id, action, "realtime")

    @app.post(f"{LIVE_PREFIX}<session_id>/<action>")
    async def live_call_control(session_id: str, action: str) -> Response:
        return await _serve(session_id, action, "live")

    async def _serve(call_id: str, action: str, runtime: str) -> Response:
        raw_body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        if action not in CALL_ACTIONS:
            return _no_route()
        # From the scope, not Quart's headers (which add Remote-Addr): as the client sent them.
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.scope["headers"]
        }
        peer = request.scope.get("client")
        client = f"{peer[0]}:{peer[1]}" if peer else ""
        # As OpenAI would, the platform finishes what it was asked even if the client gives up.
        with trio.CancelScope(shield=True):
            status, payload = await answer(state, action, call_id, raw_body, headers, client, runtime)
        if status in (NO_ANSWER, RESET):
            await _drop(state, client, reset=status == RESET)
        return _respond(status, payload)

    # OpenAI's shape for a wrong path or method, not the shared JSON app's.
    @app.errorhandler(404)
    @app.errorhandler(405)
    async def not_found(_error: Exception) -> Response:
        return _no_route()

    return app


def _no_route() -> Response:
    return _respond(404, _error("not_found", f"No route for {request.method} {request.scope['path']}."))


def _respond(status: int, payload: dict[str, Any] | None) -> Response:
    if payload is None:
        response = Response(b"", status=status)
        del response.headers["Content-Type"]  # an empty 200 says only its length
        return response
    return Response(json.dumps(payload), status=status, content_type="application/json")


async def _drop(state: PlatformState[SimulatedCall], client: str, *, reset: bool) -> None:
    """Close ``client``'s connection under hypercorn, before any byte of an answer is sent."""
    stream = state.rest_connections.pop(client, None)
    if stream is None:  # pragma: no cover - the connection is registered while it is served
        return
    if reset:  # SO_LINGER 0: close() sends RST instead of FIN
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await trio.aclose_forcefully(stream)


async def serve_call_control(
    state: PlatformState[SimulatedCall],
    host: str,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the REST API on ``host`` (an ephemeral port) until cancelled; reports its URL.

    What ``hypercorn.trio.serve`` does for one plain or TLS listener, with the accept loop ours
    (see the module docstring); the Quart app gets its lifespan events as under ``serve``.
    """
    install()  # JSON answers to malformed HTTP, as callvisor's own servers give
    config = hypercorn_config(f"{host}:0", errorlog="callvisor.testing.rest")
    app = wrap_app(create_call_control_app(state), config.wsgi_max_body_size, "asgi")
    ssl_context = None
    if state.tls is not None:  # https: hypercorn's own context from the key and chain
        with state.tls.server_pem_file() as pem:
            config.certfile = config.keyfile = pem
            ssl_context = config.create_ssl_context()
    context = WorkerContext(None)
    lifespan = Lifespan(app, config, {})

    async def serve_one(tcp: trio.SocketStream) -> None:
        peer = tcp.socket.getpeername()
        client = f"{peer[0]}:{peer[1]}"
        state.rest_connections[client] = tcp
        stream: trio.abc.Stream = tcp
        if ssl_context is not None:
            stream = trio.SSLStream(tcp, ssl_context, server_side=True, https_compatible=True)
        try:
            await TCPServer(app, config, context, ConnectionState({}), stream)  # type: ignore[arg-type]
        finally:
            state.rest_connections.pop(client, None)

    async with trio.open_nursery() as nursery:
        await nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        listeners = await trio.open_tcp_listeners(0, host=host)
        sockname = listeners[0].socket.getsockname()
        where = f"[{sockname[0]}]" if ":" in sockname[0] else sockname[0]
        nursery.start_soon(trio.serve_listeners, serve_one, listeners)
        task_status.started(f"{'http' if ssl_context is None else 'https'}://{where}:{sockname[1]}")
