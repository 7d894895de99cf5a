"""Fallback prompts, used when the tenant store fails while a call is being decided.

The two texts are the defaults of ``DOWNTIME_GREETING`` and ``DOWNTIME_PROMPT`` in the settings;
operators may override them through the environment.
"""

from __future__ import annotations

DOWNTIME_GREETING = "Thank you for calling. We're experiencing technical difficulties."
DOWNTIME_PROMPT = "Apologize and ask caller to try again later."
