"""Hypothesis profiles for the property tests.

``no-leaks`` (the default) is reproducible: derandomized, no example database, so CI runs the
same examples every time.  ``HYPOTHESIS_PROFILE=thorough`` runs many more random examples and
keeps failures in the local example database so that a rerun replays them first.

The profiles are registered here but not loaded globally (other test modules use hypothesis
with its defaults); a property test applies one itself::

    @settings(settings.get_profile(PROFILE))

where ``PROFILE`` is ``"thorough"`` when ``HYPOTHESIS_PROFILE=thorough``, else ``"no-leaks"``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "print_blob": True,
}

# No explain phase by default: it reruns a failing example ~100 times (minutes here).
settings.register_profile(
    "no-leaks",
    max_examples=25,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    **_COMMON,
)
settings.register_profile("thorough", max_examples=300, **_COMMON)

