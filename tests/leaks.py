"""What must never appear in a log line or a page: the suite's secrets and raw webhook bodies.

Every secret the suite makes has a recognisable form: the simulated platform's API keys
(``sk-sim-`` and 24 hex digits), webhook secrets (``whsec_``: not even the prefix is ever
logged, since callvisor never logs a secret's value), and the fixed tokens and passwords some
tests configure.  A raw ``realtime.call.incoming`` body is recognised by its ``sip_headers``
array, which callvisor reads but never logs whole.

:func:`leaks` is what ``tests/conftest.py``'s suite-wide log watch and the page scan in
tests/e2e/test_no_secrets_in_pages.py apply to every line and page.
"""

from __future__ import annotations

import re

LEAK_PATTERNS: dict[str, re.Pattern[str]] = {
    "platform API key": re.compile(r"sk-sim-[0-9a-f]{24}"),
    "webhook secret": re.compile(r"whsec_"),
    "configured token or password": re.compile(r"admin-token-xyz|tok-very-secret|pw-secret|s3cr3t-admin"),
    "raw webhook body": re.compile(r'"sip_headers"\s*:\s*\['),
}


def leaks(text: str) -> list[str]:
    """The names of the patterns ``text`` matches (empty when it leaks nothing)."""
    return [name for name, pattern in LEAK_PATTERNS.items() if pattern.search(text)]
