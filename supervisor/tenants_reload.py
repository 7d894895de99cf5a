"""Tenants from a file, re-read without a restart (SIGHUP, ``POST /tenants/reload``).

:class:`ReloadableTenants` is the tenant source the service hands its calls: it answers from
the :class:`~config.tenants_file.FileTenantSource` loaded last, and :meth:`~ReloadableTenants.reload`
replaces that with the file as it is now, or keeps it:

* the new file is read in a worker thread (bounded by :data:`RELOAD_TIMEOUT_S`) and judged as
  ``callvisor tenants check`` judges a file: one that cannot be used at all (unreadable, not
  YAML, no ``tenants`` list) or that would take tenants or numbers out of service by accident
  (a duplicate id, a number claimed twice) is refused, the old tenants stay, and
  ``tenants_reload_failed`` lists every problem;
* otherwise new calls use the new tenants at once: the derived-config memos are dropped too (they
  are keyed by each document's fingerprint and would miss anyway; dropping them frees what
  removed tenants left), and ``tenants_reloaded`` says which tenants were added, removed or
  changed.  A live call keeps the plan it was accepted with.

Reloads run one at a time.  With MongoDB as the source there is nothing to reload: every call
reads the documents it needs (docs/operations.md, "Reloading tenants").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import trio
from attrs import frozen

from actors.log import log_event
from config.errors import TenantsFileError
from config.memo import CONFIG_MEMO, TOOLS_MEMO
from config.source import PromptKind
from config.tenants_file import FileTenantSource

#: Longest a reload waits for the file to be read and parsed.
RELOAD_TIMEOUT_S = 10.0


@frozen(kw_only=True)
class ReloadResult:
    """What one reload did: ``applied`` False means the old tenants stayed (``problems`` say why)."""

    applied: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def view(self) -> dict[str, Any]:
        if not self.applied:
            return {"ok": False, "error": "tenants_reload_failed", "problems": list(self.problems)}
        return {
            "ok": True, "added": list(self.added), "removed": list(self.removed),
            "changed": list(self.changed), "problems": list(self.problems),
        }


class ReloadableTenants:
    """A TenantSource over the tenants file loaded last; :meth:`reload` reads it again."""

    def __init__(self, current: FileTenantSource, path: Path | str, *, default_region: str) -> None:
        self.current = current
        self._path = Path(path)
        self._default_region = default_region
        self._one_at_a_time = trio.Lock()

    @property
    def load_problems(self) -> Sequence[str]:
        return self.current.load_problems

    async def route_number(self, number: str) -> str | None:
        return await self.current.route_number(number)

    async def fetch_state(self, tenant_id: str) -> Mapping[str, Any] | None:
        return await self.current.fetch_state(tenant_id)

    async def fetch_config(self, tenant_id: str) -> Mapping[str, Any] | None:
        return await self.current.fetch_config(tenant_id)

    async def fetch_prompt(self, tenant_id: str, kind: PromptKind, prompt_id: str) -> str | None:
        return await self.current.fetch_prompt(tenant_id, kind, prompt_id)

    async def list_tenants(self) -> Sequence[str]:
        return await self.current.list_tenants()

    async def reload(self, *, trigger: str) -> ReloadResult:
        """Read the file again; apply it unless it has a problem that blocks a reload."""
        async with self._one_at_a_time:
            result = await self._reload()
        if result.applied:
            log_event(
                logging.INFO, "tenants_reloaded", "tenants file read again; new calls use it",
                trigger=trigger, file=str(self._path), added=list(result.added),
                removed=list(result.removed), changed=list(result.changed), problems=list(result.problems),
            )
        else:
            log_event(
                logging.ERROR, "tenants_reload_failed", "tenants file not reloaded; the old tenants stay",
                trigger=trigger, file=str(self._path), problems=list(result.problems),
            )
        return result

    async def _reload(self) -> ReloadResult:
        try:
            with trio.fail_after(RELOAD_TIMEOUT_S):
                new = await trio.to_thread.run_sync(self._load, abandon_on_cancel=True)
        except TenantsFileError as err:
            return ReloadResult(applied=False, problems=tuple(err.problems))
        except trio.TooSlowError:
            return ReloadResult(applied=False, problems=(f"{self._path}: not read within {RELOAD_TIMEOUT_S:g} s",))
        if new.reload_blockers:
            return ReloadResult(applied=False, problems=new.reload_blockers)
        old, self.current = self.current, new
        CONFIG_MEMO.clear()
        TOOLS_MEMO.clear()
        return ReloadResult(
            applied=True,
            added=tuple(t for t in new.tenants if t not in old.tenants),
            removed=tuple(t for t in old.tenants if t not in new.tenants),
            changed=tuple(t for t in new.tenants if t in old.tenants and _differs(old, new, t)),
            problems=new.load_problems,
        )

    def _load(self) -> FileTenantSource:
        return FileTenantSource.load(self._path, default_region=self._default_region)


def _differs(old: FileTenantSource, new: FileTenantSource, tenant_id: str) -> bool:
    """The tenant's documents or its routed numbers changed."""
    numbers = [{n for n, t in source.routes.items() if t == tenant_id} for source in (old, new)]
    return old.tenants[tenant_id] != new.tenants[tenant_id] or numbers[0] != numbers[1]
