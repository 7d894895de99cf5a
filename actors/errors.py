"""The errors of one call: what a call actor raises and maps, drawn once here.

Those that carry data are in :mod:`config.errors`' tree (``to_log_dict()``, an ``event`` to be
logged under, a snake_case ``reason``)::

    ApplicationError (config.errors)
    ├── ToolExecutionError        tool_execution_failed: the tool ran and failed
    │   ├── ToolNotFoundError     the model called a tool the tenant does not have
    │   └── ToolArgsParseError    the arguments are not a JSON object
    └── CallControlError          a call-control request failed; context: action, status
        ├── CallAcceptError       call_accept_failed: OpenAI is asked to redeliver (HTTP 503)
        ├── CallRejectError       call_reject_failed: likewise
        ├── CallHangupError       call_hangup_failed: at the end of a call
        ├── CallReferError        call_transfer_failed: the call continues
        └── CallGoneError         call_gone: OpenAI answered 404, whatever the action

The model receives an error output for each tool error and the call continues.  Call-control
reasons: openai_5xx, openai_4xx, timeout, connection_error, tls_error (``actors.control`` is the
one seam where the openai SDK's exceptions become these).

Three signals stay inside the actor and are never logged as they are::

    CallRefused                   the slot was refused (reason: tenant_capacity, global_capacity,
                                  draining, store_unavailable); the call is rejected
    SessionStartFailed            the sideband did not come up (reason: sideband_404,
                                  handshake_failed, handshake_rejected, tls_error, timeout)
    ResponseTooLarge              an answer passed the transport's size cap (an httpx2.ReadError,
                                  so that the SDK and the tools' client treat it as a read error)
"""

from __future__ import annotations

import httpx2

from config.errors import ApplicationError


class ToolExecutionError(ApplicationError):
    """A tool failed (reason: tool_timeout, tool_http_error, tool_response_too_large, ...)."""

    event = "tool_execution_failed"


class ToolNotFoundError(ToolExecutionError):
    """The model called a tool that is not in the call's tool list (reason: tool_not_found)."""


class ToolArgsParseError(ToolExecutionError):
    """The tool arguments are not a JSON object (reason: tool_args_invalid)."""


class CallControlError(ApplicationError):
    """A call control request failed; ``context`` has ``action`` and ``status``.

    Raised as the subclass for the action, which names the event it is logged under.
    """


class CallAcceptError(CallControlError):
    """Accept failed; OpenAI is asked to redeliver (HTTP 503)."""

    event = "call_accept_failed"


class CallRejectError(CallControlError):
    """Reject failed; OpenAI is asked to redeliver (HTTP 503)."""

    event = "call_reject_failed"


class CallHangupError(CallControlError):
    """Hangup failed at the end of a call."""

    event = "call_hangup_failed"


class CallReferError(CallControlError):
    """Refer (transfer) failed; the call continues."""

    event = "call_transfer_failed"


class CallGoneError(CallControlError):
    """OpenAI answered 404: the call no longer exists (whatever the action)."""

    event = "call_gone"


class CallRefused(Exception):
    """Raised by :meth:`Admission.slot` on entry when the call may not be admitted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # tenant_capacity | global_capacity | draining | store_unavailable

    @property
    def rejected(self) -> str:
        """The rejection reason the webhook answer names."""
        if self.reason == "draining":
            return "draining"
        if self.reason == "store_unavailable":
            return "capacity_unavailable"
        return "capacity"


class SessionStartFailed(Exception):
    """The sideband session did not start; ``reason`` says how."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ResponseTooLarge(httpx2.ReadError):
    """The answer's body passed the size cap; its connection is closed."""
