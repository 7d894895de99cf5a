"""The webhook fuzz's hypothesis profiles, budgets and counters (read by tests/fuzz/conftest.py).

A module of its own: pytest imports a conftest under a name of its choosing, and the tests must
count into the very objects the conftest's hooks print.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from typing import Any

from hypothesis import HealthCheck, Phase, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz-bounded")
if PROFILE not in ("fuzz", "fuzz-bounded"):
    PROFILE = "fuzz-bounded"

#: Examples per test, by profile.
BUDGETS: dict[str, dict[str, int]] = {
    "fuzz-bounded": {"envelopes": 100, "bodies": 120, "calls": 60},
    "fuzz": {"envelopes": 4_000, "bodies": 4_500, "calls": 1_800},
}

_COMMON: dict[str, Any] = {
    "deadline": None,
    # Bodies of 256 KiB and examples that each cost a loopback round trip are the point here.
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much, HealthCheck.large_base_example],
    "print_blob": True,
}
settings.register_profile(
    "fuzz-bounded",
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    **_COMMON,
)
settings.register_profile("fuzz", phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink], **_COMMON)


def fuzz_settings(name: str) -> settings:
    """The profile's settings with the budget of test ``name`` (a key of :data:`BUDGETS`)."""
    return settings(settings.get_profile(PROFILE), max_examples=BUDGETS[PROFILE][name])


#: Examples run, per test (its short name).
CASES: Counter[str] = Counter()
#: What the examples of each test were answered, counted by label.
LABELS: defaultdict[str, Counter[str]] = defaultdict(Counter)
#: Wall time of each test, in seconds.
WALL_S: dict[str, float] = {}
#: Outcome of each test: passed or failed.
OUTCOMES: dict[str, str] = {}
STARTED = time.monotonic()
