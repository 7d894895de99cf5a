"""The process's own errors, drawn once here.

The errors of one call are in :mod:`actors.errors` and :mod:`config.errors`; at the process
level only the webhook endpoint has one, a plain exception outside that tree because it is
answered before any call exists::

    WebhookVerificationError      webhook_verification_failed: answered 401 with its ``reason``
                                  (missing_header, bad_timestamp, stale_timestamp,
                                  future_timestamp, malformed_signature, bad_signature; the
                                  table in supervisor.webhooks says what each means)
"""

from __future__ import annotations


class WebhookVerificationError(Exception):
    """A delivery failed verification; ``reason`` is one of the codes in the module docstring."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def to_log_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message}

    def __repr__(self) -> str:
        return f"WebhookVerificationError(reason={self.reason!r}, message={self.message!r})"
