"""The hangup relay: ends this replica's calls when another replica asked for their hangup."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

import trio

from actors.handle import CallHandle
from actors.log import log_event
from config.errors import InstructionsDBError
from config.mongo_store import MongoStore

from ._collections import ensure_cluster_indexes
from ._registry import CallRegistry

#: How often a replica looks for hangups other replicas asked for its calls.
HANGUP_POLL_S = 1.0


class HangupRelay:
    """Polls the registry for hangups of the calls in ``held`` (this replica's leased calls)."""

    def __init__(
        self, store: MongoStore, registry: CallRegistry, *, held: Mapping[str, CallHandle]
    ) -> None:
        self.store = store
        self.registry = registry
        self.held = held

    async def watch(self) -> None:
        """Run forever: end local calls whose hangup another replica asked for.

        Also retries creating the cluster indexes until it succeeds once (MongoDB may have
        been down when the replica started).
        """
        indexed = False
        while True:
            await trio.sleep(HANGUP_POLL_S)
            if not indexed:
                with contextlib.suppress(InstructionsDBError):
                    await ensure_cluster_indexes(self.store)
                    indexed = True
            if not self.held:
                continue
            try:
                wanted = await self.registry.hangups_requested()
            except InstructionsDBError:
                continue  # the heartbeats report the outage
            for call_id in wanted:
                call = self.held.get(call_id)
                if call is not None and call.request_end("operator_hangup"):
                    log_event(
                        logging.INFO, "operator_hangup", "hangup asked through another replica",
                        call_id=call_id, tenant_id=call.tenant_id,
                    )
