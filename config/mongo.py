"""The MongoDB tenant store: the public face of ``mongo_store``, ``mongo_source``, ``mongo_import``.

Use it like this (docs/mongodb.md has the collections, the timeouts and the error table)::

    async with open_mongo_store(uri, database="callvisor", timeout_ms=2000) as store:
        source = MongoTenantSource(store)          # a TenantSource, with a route cache
        await source.ensure_indexes()
        report = await import_tenants(store, FileTenantSource.load(path), dry_run=False)

Every failure of the store is an ``InstructionsDBError`` with reason ``db_timeout``,
``db_unavailable``, ``auth_failed`` or ``db_error`` and context ``{operation, cause_type}``.
"""

from __future__ import annotations

from .mongo_import import CollectionCounts as CollectionCounts
from .mongo_import import ImportReport as ImportReport
from .mongo_import import import_tenants as import_tenants
from .mongo_source import COLLECTIONS as COLLECTIONS
from .mongo_source import INDEXES as INDEXES
from .mongo_source import MongoTenantSource as MongoTenantSource
from .mongo_source import RouteCache as RouteCache
from .mongo_source import ensure_indexes as ensure_indexes
from .mongo_source import prompt_doc_id as prompt_doc_id
from .mongo_store import DEADLINE_SLACK_S as DEADLINE_SLACK_S
from .mongo_store import MongoStore as MongoStore
from .mongo_store import client_options as client_options
from .mongo_store import error_reason as error_reason
from .mongo_store import map_db_error as map_db_error
from .mongo_store import open_mongo_store as open_mongo_store
