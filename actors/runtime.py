"""What differs between OpenAI's two SIP runtimes, Realtime and GPT-Live.

A tenant's calls run on one runtime (``config.runtime``), but OpenAI may post one SIP call's
webhook on both surfaces, with different ids.  :func:`not_the_tenants_runtime` is the rule
that keeps a call from being accepted twice: the webhook of the runtime the tenant does not use
is acknowledged and never accepted (docs/decisions/0012-one-runtime-per-tenant.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from .log import log_event

#: Longest ``Call-ID`` value logged, in characters (SIP headers are untrusted input).
CALL_ID_EXCERPT_CHARS = 64


def not_the_tenants_runtime(
    runtime: str, tenant_runtime: str, sip_headers: Sequence[Mapping[str, Any]]
) -> str | None:
    """None when a webhook of ``runtime`` is the tenant's to decide; otherwise log
    ``webhook_runtime_ignored`` and return the reason, ``tenant_runtime_<tenant_runtime>``."""
    if runtime == tenant_runtime:
        return None
    reason = f"tenant_runtime_{tenant_runtime}"
    log_event(
        logging.INFO,
        "webhook_runtime_ignored",
        "webhook of the runtime the tenant does not use; acknowledged, not accepted",
        reason=reason,
        runtime=runtime,
        sip_call_id=sip_call_id(sip_headers),
    )
    return reason


def sip_call_id(sip_headers: Sequence[Mapping[str, Any]]) -> str | None:
    """The SIP ``Call-ID`` (or compact ``i``) header's first 64 characters, unprintable ones as ``?``."""
    for header in sip_headers:
        name, value = header.get("name"), header.get("value")
        if isinstance(name, str) and name.lower() in ("call-id", "i") and isinstance(value, str):
            return "".join(c if c.isprintable() else "?" for c in value[:CALL_ID_EXCERPT_CHARS])
    return None
