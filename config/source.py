"""Where tenants come from: the ``TenantSource`` protocol.

A source hands out a tenant's raw documents, the same documents whichever store holds them (the
tenants file now, MongoDB later): number routes (E.164 number to tenant id), a state document
pointing at the current greeting and instruction (``greeting_id``, ``instruction_id``), a config
document (the shape of ``config.models.TenantConfig``) and the prompt texts by id.

Sources return documents as stored and do not judge them: ``config.resolve`` applies the rules,
so a broken document fails the same way whatever store it came from.  A source whose store
fails raises ``config.errors.InstructionsDBError``.  The methods are async because the MongoDB
source runs its driver in worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

PromptKind = Literal["greeting", "instruction"]


class TenantSource(Protocol):
    """Read access to tenants' raw documents."""

    async def route_number(self, number: str) -> str | None:
        """The id of the tenant the E.164 ``number`` routes to, or None."""
        ...

    async def fetch_state(self, tenant_id: str) -> Mapping[str, Any] | None:
        """The tenant's state document, or None when it has none."""
        ...

    async def fetch_config(self, tenant_id: str) -> Mapping[str, Any] | None:
        """The tenant's config document, or None when it has none."""
        ...

    async def fetch_prompt(self, tenant_id: str, kind: PromptKind, prompt_id: str) -> str | None:
        """The text of the tenant's greeting or instruction ``prompt_id``, or None when unknown.

        A prompt that exists with no usable text is returned as ``""``, not None.
        """
        ...

    async def list_tenants(self) -> Sequence[str]:
        """The ids of every tenant, in a stable order (for ``tenants check`` and listings)."""
        ...

    @property
    def load_problems(self) -> Sequence[str]:
        """Entries the source could not use at all (skipped or not routed), one line each."""
        ...
