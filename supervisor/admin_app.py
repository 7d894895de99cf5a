"""The operator port: the console, the live actor tree, metrics, hangup, drain, readiness.

Bound to ``CALLVISOR_ADMIN`` (loopback by default).  When ``ADMIN_TOKEN`` is set every route but
the console's sign-in form and its static files requires ``Authorization: Bearer <token>`` or the
console's session cookie (both compared in constant time); binding a non-loopback address
without a token is refused at start-up by the settings, and without a token a request whose
``Host`` is not loopback is refused (403 ``host_not_loopback``).  A POST from a page of another
origin is refused (403 ``cross_origin``).  The rules: :mod:`supervisor.admin_auth`.

======================================  =========================================================
``GET /``                                the operator console (:mod:`supervisor.console`: its
                                         page, state and sign-in routes)
``GET /actors``                          supervisor → calls → each call's child tasks
``GET /actors/{call_id}``                one call (404 if not live here)
``POST /actors/{call_id}/hangup``        end the call (reason ``operator_hangup``); 202
``POST /drain``                          start draining (as SIGTERM does); 202
``POST /tenants/reload``                 re-read CALLVISOR_TENANTS_FILE (as SIGHUP does); 200, or
                                         422 with the problems when the old tenants stay
``GET /ready``                           200 while admitting calls, 503 while draining (or, in
                                         cluster mode, while MongoDB fails); the body gives the
                                         state of the tenant store and of OpenAI call control
``GET /metrics``                         Prometheus text
======================================  =========================================================

Like the public port, a :func:`~supervisor.json_app.create_json_app` app: 404, 405 (with
``Allow``) and 500 answer JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from actors.log import log_event
from config.errors import InstructionsDBError
from config.health import Dependencies

from .admin_auth import OperatorAuth, cross_origin, loopback_host
from .cluster import Coordination
from .console import OPEN_PATHS, describe_call, register_console
from .json_app import create_json_app, encode_json, json_bytes_response
from .supervisor import Supervisor
from .tenants_reload import ReloadResult

#: Calls ``GET /actors`` describes between two checkpoints: with thousands of calls the loop
#: serves everything else between chunks instead of stalling for the whole tree (bench.console).
ACTORS_CHUNK = 200


async def _encoded_calls(supervisor: Supervisor) -> bytes:
    """Every live call's view (``describe_call``), encoded as one JSON array, a chunk at a time.

    The calls are those registered when it starts; a call that ends meanwhile is still described
    (as ending, its tasks gone).
    """
    now = trio.current_time()
    parts = []
    for i, call in enumerate(list(supervisor.calls.values())):
        if i and i % ACTORS_CHUNK == 0:
            await trio.lowlevel.checkpoint()
        parts.append(encode_json(describe_call(call, now))[:-1])
    return b"[" + b",".join(parts) + b"]"


def create_admin_app(
    supervisor: Supervisor,
    *,
    admin_token: str | None,
    request_drain: Callable[[], Awaitable[None] | None],
    cluster: Coordination | None = None,
    dependencies: Dependencies | None = None,
    reload_tenants: Callable[[str], Awaitable[ReloadResult | None]] | None = None,
) -> QuartTrio:
    app = create_json_app("callvisor.admin")
    auth = OperatorAuth(admin_token)

    @app.before_request
    async def authorize() -> tuple[dict[str, Any], int] | None:
        refused = None
        if not auth.required and not loopback_host(request.host):
            refused = "host_not_loopback"
        elif request.method == "POST" and cross_origin(request):
            refused = "cross_origin"
        if refused is not None:
            log_event(
                logging.WARNING, "admin_request_refused", "operator request refused before any route",
                reason=refused, method=request.method, path=request.path[:100],
            )
            return {"ok": False, "error": refused}, 403
        if auth.authorized(request) or request.path in OPEN_PATHS:
            return None
        log_event(logging.WARNING, "admin_unauthorized", "operator request without a valid token", path=request.path[:100])
        return {"ok": False, "error": "unauthorized"}, 401

    register_console(app, supervisor, auth=auth, dependencies=dependencies, cluster=cluster)

    @app.get("/actors")
    async def actors() -> Response | tuple[dict[str, Any], int]:
        scope = request.args.get("scope", "replica")
        if scope not in ("replica", "cluster"):
            return {"ok": False, "error": "scope must be replica or cluster"}, 400
        if scope == "cluster" and cluster is None:
            return {"ok": False, "error": "not in cluster mode (CALLVISOR_CLUSTER)"}, 400
        head = encode_json(supervisor.snapshot())[:-2]  # without its closing "}\n"
        body = [head, b',"calls":', await _encoded_calls(supervisor)]
        if scope == "cluster":
            assert cluster is not None
            try:
                fleet = {
                    "calls": await cluster.registry.calls(),
                    "capacity_used": await cluster.capacity.used_in_cluster(),
                    "capacity_limit": cluster.capacity.limit,
                }
            except InstructionsDBError as err:
                return {"ok": False, "error": "cluster_store_unavailable", "reason": err.reason}, 503
            body += [b',"cluster":', encode_json(fleet)[:-1]]
        body.append(b"}\n")
        return json_bytes_response(200, b"".join(body))

    @app.get("/actors/<call_id>")
    async def actor(call_id: str) -> tuple[dict[str, Any], int]:
        call = supervisor.calls.get(call_id)
        if call is None:
            return {"ok": False, "error": "call_not_found"}, 404
        return describe_call(call, trio.current_time()), 200

    @app.post("/actors/<call_id>/hangup")
    async def hangup(call_id: str) -> tuple[dict[str, Any], int]:
        call = supervisor.calls.get(call_id)
        if call is None and cluster is not None:
            try:
                owner = await cluster.registry.request_hangup(call_id)
            except InstructionsDBError as err:
                return {"ok": False, "error": "cluster_store_unavailable", "reason": err.reason}, 503
            if owner is not None:
                log_event(
                    logging.INFO, "operator_hangup", "hangup forwarded to the owning replica",
                    call_id=call_id, replica_id=owner,
                )
                return {"ok": True, "hangup": call_id, "replica_id": owner, "forwarded": True}, 202
        if call is None:
            return {"ok": False, "error": "call_not_found"}, 404
        first = call.request_end("operator_hangup")
        log_event(
            logging.INFO, "operator_hangup", "operator asked the call to end",
            call_id=call_id, tenant_id=call.tenant_id, already_ending=not first,
        )
        return {"ok": True, "hangup": call_id, "already_ending": not first}, 202

    @app.post("/drain")
    async def drain() -> tuple[dict[str, Any], int]:
        started = request_drain()
        if started is not None:
            await started
        return {"ok": True, "draining": True}, 202

    @app.post("/tenants/reload")
    async def tenants_reload() -> tuple[dict[str, Any], int]:
        result = None if reload_tenants is None else await reload_tenants("POST /tenants/reload")
        if result is None:  # MongoDB: every call reads the documents it needs
            return {"ok": True, "source": "mongodb", "reloaded": False}, 200
        return {"source": "file", **result.view()}, 200 if result.applied else 422

    @app.get("/ready")
    async def ready() -> tuple[dict[str, Any], int]:
        body: dict[str, Any] = {"draining": supervisor.draining}
        ready = not supervisor.draining
        if dependencies is not None:
            ready = ready and dependencies.admits_calls()
            body["dependencies"] = dependencies.view()
        return {"ok": ready, "ready": ready, **body}, 200 if ready else 503

    @app.get("/metrics")
    async def metrics() -> Response:
        supervisor.refresh_gauges()
        body, content_type = supervisor.metrics.render()
        return Response(body, content_type=content_type)

    return app
