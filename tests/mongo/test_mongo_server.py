"""The same store against a real MongoDB server, when ``MONGODB_URI`` names one.

No server can run on the development machine, so these tests are skipped there (with the reason
shown by ``-ra``).  Each run uses a database of its own and drops it afterwards.  They run on the
real clock: a jumping clock would take a slow first connection (TLS, a remote cluster) for a
hung one and fire the store's backstop deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from config.check import check_tenants
from config.errors import InstructionsDBError
from config.mongo import MongoStore, MongoTenantSource, import_tenants, open_mongo_store
from config.source import TenantSource
from config.tenants_file import FileTenantSource

URI = os.environ.get("MONGODB_URI", "")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "tenants.yaml"
ACME_HOSTS = frozenset({"tools.acme.example"})

pytestmark = [
    pytest.mark.mongodb,
    pytest.mark.skipif(not URI, reason="MONGODB_URI not set: no MongoDB server on this machine"),
]

OutputsOf = Callable[[TenantSource, FileTenantSource], Awaitable[dict[str, Any]]]


@pytest.fixture
def database() -> str:
    return f"callvisor_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def server_store(database: str) -> AsyncIterator[MongoStore]:
    async with open_mongo_store(URI, database=database, timeout_ms=5000) as store:
        try:
            yield store
        finally:
            await store.run("drop_database", lambda db: db.client.drop_database(db.name))


async def test_import_then_the_same_answers_as_the_file(
    server_store: MongoStore,
    example_file: FileTenantSource,
    outputs_of: OutputsOf,
) -> None:
    """On a real server: import, every TenantSource answer equals the file's, re-import unchanged."""
    first = await import_tenants(server_store, example_file, dry_run=False)
    assert first.tenants.inserted == 6
    source = MongoTenantSource(server_store)
    assert await outputs_of(source, example_file) == await outputs_of(example_file, example_file)
    again = await import_tenants(server_store, example_file, dry_run=False)
    assert not again.changed
    from_mongo = await check_tenants(source, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    from_file = await check_tenants(example_file, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    assert sorted(from_mongo, key=repr) == sorted(from_file, key=repr)


async def test_the_unique_prompt_index_on_a_real_server(server_store: MongoStore) -> None:
    """The server enforces the unique (tenant_id, kind, prompt_id) index: db_error."""
    await MongoTenantSource(server_store).ensure_indexes()
    prompt = {"tenant_id": "t", "kind": "greeting", "prompt_id": "p", "text": "hi"}
    await server_store.run("test", lambda db: db.prompts.insert_one({"_id": "a", **prompt}))
    with pytest.raises(InstructionsDBError) as info:
        await server_store.run("test", lambda db: db.prompts.insert_one({"_id": "b", **prompt}))
    assert info.value.reason == "db_error"
    assert info.value.context["cause_type"] == "DuplicateKeyError"


def test_cli_import_list_and_check(database: str) -> None:
    """callvisor tenants import, list and check against the server, then the database dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVISOR_")}
    env |= {"MONGODB_DATABASE": database, "CALLVISOR_TOOL_ALLOWED_HOSTS": "tools.acme.example"}

    def callvisor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "supervisor.commands.cli", "tenants", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )

    try:
        imported = callvisor("import", str(EXAMPLE))
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.splitlines()[0] == (
            "tenants: 6 inserted, 0 updated, 0 unchanged, 0 deleted"
        )
        listed = callvisor("list")
        assert listed.returncode == 0, listed.stderr
        assert len(listed.stdout.splitlines()) == 6
        checked = callvisor("check")
        assert checked.returncode == 1
        assert checked.stderr == f"MongoDB database {database}: 6 tenants, 4 problems\n"
    finally:
        import pymongo

        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(URI, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(database)
