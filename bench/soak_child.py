"""``python -m bench.soak_child serve``: ``callvisor serve`` with the soak's switches.

Both are read from the environment before the service starts, and without them this is exactly
``callvisor serve``:

``SOAK_LEDGER_MAX_ENTRIES=N``
    Both in-memory dedup ledgers (:class:`supervisor.ledger.Ledger`, webhook-id and call_id)
    keep at most N entries instead of 100,000.  At the soak's rate (about 10 webhooks/s) the
    production bound would take hours to reach, so the ledgers would grow through the whole
    run, by design; a small bound makes them full (flat) within the warm-up, and any growth left
    after it is something else.  There is no setting for the bound, so this sets the default
    of ``Ledger.__init__``'s keyword before any ledger is built.
``SOAK_GC_FULL_EVERY=N``
    ``callvisor serve`` runs a full garbage collection at most once per N young ones instead of
    600 (:data:`supervisor.service.GC_FULL_EVERY`; young ones come every 0.5 s, so 600 is about
    five minutes).  What the calls leave in reference cycles waits for that collection, and RSS
    levels off only once a full collection has freed it and the next cycle reuses the memory:
    with the production cadence that takes over ten minutes, with N=120 (one a minute) the
    soak sees several cycles after its warm-up.  The module constant is read when the tuning
    starts, so this sets it before.
``SOAK_TRACEMALLOC=DIR``
    Trace allocations from the start (``SOAK_TRACEMALLOC_FRAMES`` frames each, default 1);
    every SIGUSR1 runs a full garbage collection, then writes the next snapshot to
    ``DIR/snapshot-NN.tracemalloc`` (it stops the process for the time of the dump, so the soak
    sends it at its two quiesces only).  The soak diffs
    the first post-warm-up snapshot against the last one (:func:`bench.soak_memory.top_growth`).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from supervisor import service
from supervisor.ledger import Ledger


def _lower_ledger_bound(entries: int) -> None:
    defaults = Ledger.__init__.__kwdefaults__
    if defaults is None or "max_entries" not in defaults:
        raise RuntimeError("Ledger.__init__ has no max_entries keyword any more: update bench/soak_child.py")
    defaults["max_entries"] = entries


class Snapshots:
    """Writes a tracemalloc snapshot to the next numbered file on each SIGUSR1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken = 0

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.taken += 1
        gc.collect()  # what is garbage now is not what grew: the snapshot counts live memory
        tracemalloc.take_snapshot().dump(str(self.folder / f"snapshot-{self.taken:02d}.tracemalloc"))
        (self.folder / "taken").write_text(str(self.taken))


def main() -> int:
    entries = os.environ.get("SOAK_LEDGER_MAX_ENTRIES", "")
    if entries:
        _lower_ledger_bound(int(entries))
    full_every = os.environ.get("SOAK_GC_FULL_EVERY", "")
    if full_every:
        service.GC_FULL_EVERY = int(full_every)
    folder = os.environ.get("SOAK_TRACEMALLOC", "")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tracemalloc.start(int(os.environ.get("SOAK_TRACEMALLOC_FRAMES", "1")))
        signal.signal(signal.SIGUSR1, Snapshots(Path(folder)))
    from supervisor.commands.cli import main as callvisor

    return callvisor(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
