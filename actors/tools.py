"""Running the tools a tenant configured, when the model calls them.

A tool run turns the model's ``(name, arguments)`` into a JSON-ready output for the model and,
for the call-control tools, ``then``: the tool whose work the session does once the model has
spoken (hang up, transfer).  Failures raise :mod:`actors.errors`; the session turns them into an
error output, and the call continues.

* ``end_call``: output ``{"ok": true}``; then: hang up once the goodbye has played.
* ``transfer_call``: output ``{"ok": true}``; then: refer to the configured target.
* ``http``: POST the JSON arguments to the tenant's HTTPS endpoint (host checked against
  ``CALLVISOR_TOOL_ALLOWED_HOSTS`` when the tool was built; redirects are not followed), with a
  timeout and a response size cap.  A JSON response is given to the model as is; anything else
  (or JSON nested deeper than :data:`MAX_RESULT_DEPTH`) as text.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

import httpx2
import trio
from attrs import frozen

from config.models import EndCallTool, HttpTool, ToolSpec, TransferCallTool

from . import bounded_json
from .errors import ResponseTooLarge, ToolArgsParseError, ToolExecutionError, ToolNotFoundError
from .sideband import excerpt
from .tls import describe_tls_failure, tls_failure
from .transport import MAX_RESPONSE_BYTES_EXTENSION, TrioTransport

#: A tool whose work the session does after the model has answered: hang up or transfer.
CallAction = EndCallTool | TransferCallTool


@frozen(kw_only=True)
class ToolResult:
    output: dict[str, Any]
    then: CallAction | None = None


def find_tool(tools: Sequence[ToolSpec], name: str | None) -> ToolSpec:
    """The call's tool called ``name`` (None: the model's function call had no string name)."""
    for tool in tools:
        if tool.name == name:
            return tool
    said = "a tool without a name" if name is None else repr(name[:64])
    raise ToolNotFoundError(
        f"the model called {said}, which this call does not have",
        reason="tool_not_found",
        context={"tool_name": None if name is None else name[:64], "available": [tool.name for tool in tools]},
    )


#: How deeply the model's arguments may nest (objects and arrays): real ones nest a few levels;
#: anything deeper is refused before the JSON decoder or any code of ours walks it recursively.
MAX_ARGUMENT_DEPTH = 32
#: The longest argument string taken from the model, in characters.  A realtime response holds
#: at most 4,096 output tokens (some 16 KB of text); longer arguments are refused on sight
#: (``tool_args_too_large``), so a queued function call holds at most this much.
MAX_ARGUMENT_CHARS = 64 * 1024


def refuse_arguments(name: str | None, arguments: object) -> ToolArgsParseError | None:
    """Why ``arguments`` are refused whatever the tool (not a string, or too long), or None."""
    tool_name = None if name is None else name[:64]
    said = "a tool without a name" if tool_name is None else tool_name
    if not isinstance(arguments, str):
        return ToolArgsParseError(
            f"arguments for {said} are not a JSON string but {excerpt(arguments, 40)}",
            reason="tool_args_invalid",
            context={"tool_name": tool_name, "arguments_excerpt": excerpt(arguments, 80)},
        )
    if len(arguments) > MAX_ARGUMENT_CHARS:
        return ToolArgsParseError(
            f"arguments for {said} are {len(arguments)} characters long, more than {MAX_ARGUMENT_CHARS}",
            reason="tool_args_too_large",
            context={"tool_name": tool_name, "arguments_chars": len(arguments)},
        )
    return None


#: How deeply an http tool's JSON answer may nest to be given to the model as JSON; deeper, it
#: is given as text (it is untrusted input too, and is encoded again for the model).
MAX_RESULT_DEPTH = 32


def parse_arguments(tool: ToolSpec, arguments: object) -> dict[str, Any]:
    """The model's argument string as a JSON object, nested at most :data:`MAX_ARGUMENT_DEPTH`."""
    refused = refuse_arguments(tool.name, arguments)
    if refused is not None:
        raise refused
    assert isinstance(arguments, str)  # refuse_arguments saw to it
    problem = "are not a JSON object"
    try:
        parsed = bounded_json.loads(arguments, max_depth=MAX_ARGUMENT_DEPTH)
    except bounded_json.TooDeep:
        parsed, problem = None, f"nest deeper than {MAX_ARGUMENT_DEPTH} levels"
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ToolArgsParseError(
            f"arguments for {tool.name} {problem}",
            reason="tool_args_invalid",
            context={"tool_name": tool.name, "arguments_excerpt": arguments[:80]},
        )
    return parsed


#: http tool requests in flight at once per process: each holds a connection, and requests
#: beyond it wait on a cheap limiter rather than on sockets.
HTTP_TOOLS_IN_FLIGHT = 64


def tool_http_client(
    ssl_context: ssl.SSLContext, transport: httpx2.AsyncBaseTransport | None = None
) -> httpx2.AsyncClient:
    """The http tools' client: our trio transport (as call control's) unless one is given.

    TLS trusts what call control trusts: ``ssl_context`` is the process's one context.
    Redirects are never followed (a tool's host was checked against the allowed hosts when it
    was built; a redirect could lead anywhere).  Tests and the demo pass an
    ``httpx2.MockTransport`` to answer for tool endpoints in memory.
    """
    return httpx2.AsyncClient(
        transport=transport or TrioTransport(ssl_context=ssl_context, max_idle_per_origin=HTTP_TOOLS_IN_FLIGHT),
        follow_redirects=False,
    )


async def run_tool(
    tool: ToolSpec,
    arguments: dict[str, Any],
    http: httpx2.AsyncClient,
    in_flight: trio.CapacityLimiter,
) -> ToolResult:
    """Run one tool; the caller bounds it with a cancel scope."""
    if isinstance(tool, EndCallTool):
        return ToolResult(output={"ok": True, "status": "ending_call"}, then=tool)
    if isinstance(tool, TransferCallTool):
        return ToolResult(output={"ok": True, "status": "transferring"}, then=tool)
    if isinstance(tool, HttpTool):
        return ToolResult(output=await _post(tool, arguments, http, in_flight))
    raise ToolExecutionError(  # pragma: no cover - build_tools only makes the kinds above
        f"no runner for tool {tool.name}", reason="tool_kind_unknown", context={"tool_name": tool.name}
    )


async def _post(
    tool: HttpTool,
    arguments: dict[str, Any],
    http: httpx2.AsyncClient,
    in_flight: trio.CapacityLimiter,
) -> dict[str, Any]:
    context: dict[str, Any] = {"tool_name": tool.name}
    too_large = ToolExecutionError(
        f"{tool.name} answered more than {tool.max_response_bytes} bytes",
        reason="tool_response_too_large",
        context=context,
    )
    try:
        with trio.fail_after(tool.timeout_s):
            async with in_flight:
                response = await http.post(
                    tool.url,
                    json=arguments,
                    follow_redirects=False,
                    timeout=tool.timeout_s,
                    # Our transport stops reading (and drops the connection) past the cap.
                    extensions={MAX_RESPONSE_BYTES_EXTENSION: tool.max_response_bytes},
                )
    except trio.TooSlowError:
        raise ToolExecutionError(
            f"{tool.name} did not answer within {tool.timeout_s:g} s",
            reason="tool_timeout",
            context=context,
        ) from None
    except ResponseTooLarge as exc:
        raise too_large from exc
    except httpx2.HTTPError as exc:
        if (tls := tls_failure(exc)) is not None:
            raise ToolExecutionError(
                f"{tool.name}: TLS with the tool's host failed", reason="tool_tls_error",
                context={**context, "tls_reason": describe_tls_failure(tls)},
            ) from exc
        raise ToolExecutionError(
            f"{tool.name} could not be reached", reason="tool_unreachable",
            context={**context, "cause_type": type(exc).__name__},
        ) from exc
    body = response.content
    if len(body) > tool.max_response_bytes:  # another transport (the tests' mock) read it all
        raise too_large
    if not 200 <= response.status_code < 300:
        raise ToolExecutionError(
            f"{tool.name} answered HTTP {response.status_code}",
            reason="tool_http_error",
            context={**context, "status": response.status_code},
        )
    try:
        result = bounded_json.loads(body, max_depth=MAX_RESULT_DEPTH)
    except ValueError:  # not JSON, or nested past MAX_RESULT_DEPTH
        return {"ok": True, "result": body.decode("utf-8", "replace")}
    return {"ok": True, "result": result}
