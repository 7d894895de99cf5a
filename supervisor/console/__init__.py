"""The operator console: one page on the operator port, refreshed by a short poll.

======================================  =========================================================
``GET /``                                the console (with ADMIN_TOKEN and no credentials: the
                                         sign-in form, and nothing else)
``GET /console/console.js|console.css``  the page's script and style (no data; no token needed)
``GET /console/state``                   one refresh, JSON (``_state``): ``?tenant=ID``,
                                         ``?offset=N`` page the calls, ``?decisions_after=SEQ``
                                         gives only the decisions the page does not have
``POST /console/sign-in``                form field ``token``: sets the session cookie, 303 to
                                         ``/`` (401 and the form again when wrong)
``POST /console/sign-out``               clears the cookie, 303 to ``/``
======================================  =========================================================

The page is plain HTML, CSS and one script, shipped as package data beside this module (no build
step).  Its actions are the operator port's own routes (``POST /actors/{id}/hangup``,
``POST /drain``), called by the script after a confirmation.  Why a poll rather than server-sent
events: docs/decisions/0014-console-live-updates.md.  Who may see it: :mod:`supervisor.admin_auth`.

Every answer here carries a Content-Security-Policy that lets the page load only its own script,
style and data (no inline script, no frames), ``Cache-Control: no-store`` and ``Referrer-Policy:
same-origin`` (not ``no-referrer``: under that, Chromium sends ``Origin: null`` with the sign-in
form's POST, which the origin check must refuse).
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio

from actors.log import log_event
from config.health import Dependencies

from ..admin_auth import COOKIE_MAX_AGE_S, COOKIE_NAME, OperatorAuth
from ..cluster import Coordination
from ..json_app import json_response
from ..supervisor import Supervisor
from ._state import CALLS_PER_PAGE as CALLS_PER_PAGE
from ._state import CLUSTER_REFRESH_S as CLUSTER_REFRESH_S
from ._state import ClusterView, console_state
from ._state import describe_call as describe_call
from ._state import task_tree as task_tree
from ._text import render_tree as render_tree

#: Paths answered without credentials even when ADMIN_TOKEN is set (each shows no data).
OPEN_PATHS = frozenset({"/", "/console/console.js", "/console/console.css", "/console/sign-in"})

#: The largest sign-in form body read.
SIGN_IN_MAX_BYTES = 4096

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


def _asset(name: str) -> bytes:
    return resources.files(__name__).joinpath(name).read_bytes()


def _answer(body: bytes, kind: str, status: int = 200) -> Response:
    response = Response(body, status, content_type=_TYPES[kind])
    response.headers.update(_HEADERS)
    return response


def _see_other() -> Response:
    """303 to the console (after a sign-in or sign-out form)."""
    response = Response(b"", 303)
    response.headers["Location"] = "/"
    response.headers.update(_HEADERS)
    return response


def _int_arg(name: str, *, maximum: int) -> int | None:
    """A non-negative whole-number query argument (0 when absent), None when malformed."""
    raw = request.args.get(name, "0")
    if not raw.isdigit() or len(raw) > 12:
        return None
    return min(int(raw), maximum)


def register_console(
    app: QuartTrio,
    supervisor: Supervisor,
    *,
    auth: OperatorAuth,
    dependencies: Dependencies | None,
    cluster: Coordination | None,
) -> None:
    """Add the console's routes to the operator ``app`` (its ``before_request`` checks credentials)."""
    assets = {name: _asset(name) for name in ("index.html", "signin.html", "console.js", "console.css")}
    wrong_token_page = assets["signin.html"].replace(
        b"<!--problem-->", b'<p class="problem" id="sign-in-problem">That is not the operator token.</p>'
    )
    cluster_view = ClusterView(cluster) if cluster is not None else None

    @app.get("/")
    async def page() -> Response:
        if not auth.authorized(request):
            return _answer(assets["signin.html"], "html")
        return _answer(assets["index.html"], "html")

    @app.get("/console/console.js")
    async def script() -> Response:
        return _answer(assets["console.js"], "js")

    @app.get("/console/console.css")
    async def style() -> Response:
        return _answer(assets["console.css"], "css")

    @app.get("/console/state")
    async def state() -> Response:
        offset = _int_arg("offset", maximum=10**9)
        after = _int_arg("decisions_after", maximum=2**62)
        tenant = request.args.get("tenant") or None
        if offset is None or after is None or (tenant is not None and len(tenant) > 200):
            return json_response(400, {"ok": False, "error": "offset and decisions_after are whole numbers"})
        body = console_state(
            supervisor, dependencies=dependencies, tenant=tenant, offset=offset, decisions_after=after
        )
        body["token_required"] = auth.required
        if cluster_view is not None:
            body["cluster"] = await cluster_view.view(supervisor.settings.replica_id)
        return json_response(200, body, headers=_HEADERS)

    @app.post("/console/sign-in")
    async def sign_in() -> Response | tuple[dict[str, Any], int]:
        if not auth.required:
            return {"ok": False, "error": "no_token_configured"}, 404
        length = request.content_length
        if length is None or length > SIGN_IN_MAX_BYTES:
            return {"ok": False, "error": "body_too_large"}, 413
        form = await request.form
        if not auth.token_matches(form.get("token", "")):
            log_event(logging.WARNING, "admin_unauthorized", "console sign-in with a wrong token", path=request.path)
            return _answer(wrong_token_page, "html", 401)
        log_event(logging.INFO, "operator_signed_in", "a browser signed in to the operator console")
        response = _see_other()
        response.set_cookie(
            COOKIE_NAME, auth.cookie_value(), max_age=COOKIE_MAX_AGE_S, path="/",
            httponly=True, samesite="Strict", secure=request.scheme == "https",
        )
        return response

    @app.post("/console/sign-out")
    async def sign_out() -> Response:
        response = _see_other()
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Strict")
        return response


__all__ = [
    "CALLS_PER_PAGE",
    "CLUSTER_REFRESH_S",
    "OPEN_PATHS",
    "describe_call",
    "register_console",
    "render_tree",
    "task_tree",
]
