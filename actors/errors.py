"""Errors raised while a call runs its tools, in the same tree as :mod:`config.errors`::

    ApplicationError
    └── ToolExecutionError        tool_execution_failed: the tool ran and failed
        ├── ToolNotFoundError     the model called a tool the tenant does not have
        └── ToolArgsParseError    the arguments are not a JSON object

The model receives an error output for each of them and the call continues.
"""

from __future__ import annotations

from config.errors import ApplicationError


class ToolExecutionError(ApplicationError):
    """A tool failed (reason: tool_timeout, tool_http_error, tool_response_too_large, ...)."""

    event = "tool_execution_failed"


class ToolNotFoundError(ToolExecutionError):
    """The model called a tool that is not in the call's tool list (reason: tool_not_found)."""


class ToolArgsParseError(ToolExecutionError):
    """The tool arguments are not a JSON object (reason: tool_args_invalid)."""
