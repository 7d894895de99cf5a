"""Fixtures for the MongoDB store tests.

``store``
    A ``MongoStore`` over an in-memory ``mongomock`` client, with one worker thread (mongomock is
    not thread-safe).  The store runs every operation in a thread: tests that touch it ask for
    ``mock_clock`` (see tests/conftest.py).
``dead_uri``
    A ``mongodb://`` URI of a loopback port nothing listens on: the real driver against it
    fails with ``ServerSelectionTimeoutError`` after 0.5 s.
``outputs_of``
    Every answer a TenantSource gives for the tenants, numbers and prompt ids of a tenants file
    (plus unknown ones), to compare two sources.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import mongomock
import pytest

import config
from config.mongo import MongoStore
from config.source import TenantSource
from config.tenants_file import FileTenantSource

EXAMPLE_TENANTS = Path(config.__file__).parent / "examples" / "tenants.yaml"

Outputs = dict[str, Any]


@pytest.fixture
async def store() -> AsyncIterator[MongoStore]:
    store = MongoStore(mongomock.MongoClient(), max_threads=1, timeout_ms=2000)
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
def example_file() -> FileTenantSource:
    return FileTenantSource.load(EXAMPLE_TENANTS)


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def dead_uri() -> str:
    return f"mongodb://127.0.0.1:{free_port()}/"


async def source_outputs(source: TenantSource, file_source: FileTenantSource) -> Outputs:
    """What ``source`` answers for every tenant, number and prompt id named by ``file_source``."""
    tenant_ids = [*file_source.tenants, "no-such-tenant"]
    numbers = [*file_source.routes, "+18005559999"]
    prompt_ids = sorted(
        {pid for t in file_source.tenants.values() for texts in t.prompts.values() for pid in texts}
        | {"no-such-prompt"}
    )
    return {
        "list_tenants": sorted(await source.list_tenants()),
        "route_number": {n: await source.route_number(n) for n in numbers},
        "fetch_state": {t: await source.fetch_state(t) for t in tenant_ids},
        "fetch_config": {t: await source.fetch_config(t) for t in tenant_ids},
        "fetch_prompt": {
            (t, kind, pid): await source.fetch_prompt(t, kind, pid)
            for t in tenant_ids
            for kind in ("greeting", "instruction")
            for pid in prompt_ids
        },
    }


@pytest.fixture
def outputs_of() -> Callable[[TenantSource, FileTenantSource], Awaitable[Outputs]]:
    return source_outputs
