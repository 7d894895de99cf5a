"""What the registry holds about one log event (private; see actors.log)."""

from __future__ import annotations

from attrs import frozen


@frozen(kw_only=True)
class Event:
    """One event code: how severe, why it happens, what the caller/OpenAI sees, how to fix it."""

    code: str
    severity: str
    cause: str
    response: str
    category: str
    in_guide: bool = False
    fixes: tuple[tuple[str, str], ...] = ()
