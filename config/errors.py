"""Errors that carry data: who was affected, a short reason code, and context.

The tree (every class renders itself with ``to_log_dict()``)::

    ApplicationError                  base: tenant_id, reason, context
    ├── TenantResolutionError         tenant_resolution_failed: the dialed number routes nowhere
    ├── TenantNotConfiguredError      tenant_not_configured: no state/config document
    ├── InstructionsMissingError      instructions_missing: greeting/instruction empty or not found
    ├── InstructionsDBError           instructions_db_error: the tenant store failed (fallback used)
    ├── TenantConfigParseError        tenant_config_parse_error: config fails validation
    └── ToolBuildError                tool_build_error: a tool's config is invalid (call goes on)

``actors.errors`` adds the errors of a call (tools, call control) to the same tree.

Two plain exceptions stand outside the tree because they stop the process at startup instead of
failing one call; each carries ``problems``, one human line per problem::

    SettingsError                     the environment is unusable (``Settings.from_env``; the
                                      trust store, ``actors.tls.client_tls_context``)
    TenantsFileError                  the tenants file is unusable (``FileTenantSource.load``)

Three more are the steps of validation, caught inside this package and never seen outside it::

    InvalidField (ValueError)         an attrs validator refused a value of the right type
    StrictTypeError (TypeError)       the strict converter refused a value of the wrong type
    ConfigStructureError              a document failed to structure: one ``problem @ path``
                                      per line, then raised as TenantConfigParseError

Each class names the log event it is reported under (``event``); reasons are short snake_case
codes an operator can grep for.  A foreign error (pymongo, cattrs) is mapped to one of these at
exactly one seam, with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ApplicationError(RuntimeError):
    """Base of every error callvisor reports to an operator."""

    event: ClassVar[str] = "application_error"

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        tenant_id: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.tenant_id = tenant_id
        self.context: dict[str, Any] = dict(context or {})

    def to_log_dict(self) -> dict[str, Any]:
        """Render for the ``error`` field of a log line."""
        return {
            "error_type": type(self).__name__,
            "tenant_id": self.tenant_id,
            "reason": self.reason,
            "context": self.context,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r}, tenant_id={self.tenant_id!r})"


class TenantResolutionError(ApplicationError):
    """The dialed number could not be read, or no tenant owns it."""

    event = "tenant_resolution_failed"


class TenantNotConfiguredError(ApplicationError):
    """The tenant exists in routing but has no usable state or configuration document."""

    event = "tenant_not_configured"


class InstructionsMissingError(ApplicationError):
    """The tenant's state points at a greeting or instruction that is missing or empty."""

    event = "instructions_missing"


class InstructionsDBError(ApplicationError):
    """The tenant store failed while fetching instructions; fallback prompts are used.

    Reasons: ``db_timeout``, ``db_unavailable``, ``auth_failed``, ``db_error``; context
    ``{"operation": ..., "cause_type": ...}``.  Mapped from pymongo in ``config.mongo_store``.
    """

    event = "instructions_db_error"


class TenantConfigParseError(ApplicationError):
    """The tenant's config document exists but fails validation."""

    event = "tenant_config_parse_error"


class ToolBuildError(ApplicationError):
    """A configured tool could not be built; the call proceeds without tools."""

    event = "tool_build_error"


class SettingsError(Exception):
    """The environment does not describe a usable configuration.

    ``problems`` holds one line per problem, each starting with the variable's name; every
    problem is collected before this is raised.  Secret values never appear in it.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(problems))
        self.problems = list(problems)


class TenantsFileError(Exception):
    """The tenants file cannot be used at all (unreadable, not YAML, wrong top-level shape).

    Problems with single entries are not fatal: they are listed in the source's
    ``load_problems`` instead.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("unusable tenants file:\n" + "\n".join(problems))
        self.problems = list(problems)


class InvalidField(ValueError):
    """A field holds a value of the right type that is still not acceptable."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


class StrictTypeError(TypeError):
    """A value of the wrong type; ``expected`` names the type for humans."""

    def __init__(self, expected: str) -> None:
        super().__init__(f"expected {expected}")
        self.expected = expected


class ConfigStructureError(Exception):
    """A document could not be structured; ``errors`` holds one ``problem @ path`` per line."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)
