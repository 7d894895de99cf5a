"""Webhook intake: verify, parse, deduplicate, then hand the call to the supervisor.

The incoming-call types are ``realtime.call.incoming`` (id ``data.call_id``) and GPT-Live's
``live.transport.incoming`` and deprecated ``live.call.incoming`` (id ``data.session_id``),
handled alike; the call actor ignores the one whose runtime the tenant does not use.

:meth:`WebhookIntake.handle` turns one POST (raw body + headers) into an HTTP status and JSON
body.  Bad input is answered with 4xx and a log line, never a 500:

=========================================  ======  ==============================================
situation                                  status  body
=========================================  ======  ==============================================
signature fails                            401     ``{"ok": false, "error": "webhook_verification_failed", "reason": R}``
body over 256 KiB                          413     ``{"ok": false, "error": "body_too_large"}``
not JSON / not an object / no call_id      400     ``{"ok": false, "error": "malformed_json" | "missing_call_id"}``
(``data.session_id`` for the Live types; or nested deeper than ``MAX_BODY_DEPTH``)
a type we do not handle                    200     ``{"ok": true, "ignored": TYPE}``
the runtime the tenant does not use        200     ``{"ok": true, "ignored": TYPE, "reason": R}``
webhook-id or call_id already decided      200     ``{"ok": true, "duplicate": true}``
call accepted / rejected / gone            200     ``{"ok": true, "accepted"|"rejected"|"gone": ...}``
OpenAI unreachable while deciding          503     ``{"ok": false, "error": E, "retry": true}``, E one of
                                                   ``call_accept_failed``, ``call_reject_failed``,
                                                   ``internal_error`` (a bug: the actor crashed)
=========================================  ======  ==============================================
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import trio

from actors import bounded_json
from actors.call import IncomingCall
from actors.decision import Outcome
from actors.log import call_context, log_event
from config.settings import Settings

from .ledger import Claim, Ledger
from .metrics import Metrics
from .supervisor import Supervisor
from .webhooks import WebhookVerificationError, verify_webhook

MAX_BODY_BYTES = 256 * 1024
#: How deeply a body may nest objects and arrays (OpenAI's events nest four levels); a body
#: nested deeper is ``malformed_json`` before the JSON decoder recurses into it.
MAX_BODY_DEPTH = 32
INCOMING_CALL = "realtime.call.incoming"
#: The incoming-call webhook types: the runtime each belongs to and the field of its id.
INCOMING_CALLS = {
    INCOMING_CALL: ("realtime", "call_id"),
    "live.transport.incoming": ("live", "session_id"),
    "live.call.incoming": ("live", "session_id"),  # deprecated by OpenAI, still delivered
}
_CALL_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")

Reply = tuple[int, dict[str, Any]]


#: What the delivery ledger remembers of a settled webhook-id: that it was settled.  Its
#: redelivery is answered as a duplicate whatever the first answer was, so one shared value
#: serves every entry (a remembered delivery costs its key, not its answer).
SETTLED: Reply = (200, {"ok": True, "duplicate": True})


class DeliveryLedger(Protocol):
    """Remembers handled webhook-ids (in memory, or in MongoDB in cluster mode)."""

    def claim(self, key: str) -> AbstractAsyncContextManager[Claim[Reply]]: ...


class WebhookIntake:
    """The public webhook endpoint's logic, independent of the web framework."""

    def __init__(
        self,
        *,
        settings: Settings,
        supervisor: Supervisor,
        metrics: Metrics,
        deliveries: DeliveryLedger | None = None,
    ) -> None:
        self._settings = settings
        self._supervisor = supervisor
        self._metrics = metrics
        self.deliveries: DeliveryLedger = deliveries or Ledger()

    def too_large(self) -> Reply:
        log_event(logging.WARNING, "webhook_invalid", "webhook body over 256 KiB", reason="body_too_large")
        self._metrics.webhooks_total.labels(result="invalid").inc()
        return 413, {"ok": False, "error": "body_too_large"}

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        """Answer one webhook delivery."""
        received_at = trio.current_time()
        if len(body) > MAX_BODY_BYTES:
            return self.too_large()
        try:
            meta = verify_webhook(
                body,
                headers,
                self._settings.webhook_secrets,
                tolerance_s=self._settings.webhook_tolerance_s,
                now=time.time(),
            )
        except WebhookVerificationError as err:
            log_event(
                logging.ERROR, "webhook_verification_failed", str(err),
                reason=err.reason, error={"error_type": type(err).__name__, **err.to_log_dict()},
            )
            self._metrics.webhooks_total.labels(result="unauthorized").inc()
            return 401, {"ok": False, "error": "webhook_verification_failed", "reason": err.reason}

        event = _parse(body)
        if event is None:
            return self._invalid("malformed_json", meta.webhook_id)
        event_type = event.get("type")
        if not isinstance(event_type, str):
            return self._invalid("malformed_json", meta.webhook_id)
        incoming_kind = INCOMING_CALLS.get(event_type)
        if incoming_kind is None:
            event_type = event_type[:100]
            log_event(
                logging.INFO, "webhook_ignored", "webhook type not handled",
                type=event_type, webhook_id=meta.webhook_id,
            )
            self._metrics.webhooks_total.labels(result="ignored").inc()
            return 200, {"ok": True, "ignored": event_type}
        runtime, id_field = incoming_kind
        data = event.get("data")
        call_id = data.get(id_field) if isinstance(data, dict) else None
        if not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
            return self._invalid("missing_call_id", meta.webhook_id)
        sip_headers = data.get("sip_headers") if isinstance(data, dict) else None
        incoming = IncomingCall(
            call_id=call_id,
            webhook_id=meta.webhook_id,
            sip_headers=tuple(h for h in sip_headers if isinstance(h, dict))
            if isinstance(sip_headers, list)
            else (),
            received_at=received_at,
            runtime=runtime,
        )
        # Shielded from the request: if OpenAI hangs up on us mid-decision, the decision (which
        # runs in this task until the actor reports it) must still finish, be logged and be
        # remembered, or an accepted call would be left without its actor.  Every wait inside
        # is bounded (call control, tenant store, the ledgers).
        with call_context(call_id=call_id), trio.CancelScope(shield=True):
            reply = await self._decide(incoming, event_type)
        return reply

    async def _decide(self, incoming: IncomingCall, event_type: str) -> Reply:
        async with self.deliveries.claim(incoming.webhook_id) as claim:
            if claim.previous is not None:
                return self._duplicate(incoming, "webhook_id")
            decision, duplicate = await self._supervisor.start_call(incoming)
            if duplicate:
                claim.settle(SETTLED)
                return self._duplicate(incoming, "call_id")
            reply = (decision.http_status(), decision.http_body())
            if decision.outcome is Outcome.IGNORED:
                reply = (200, {"ok": True, "ignored": event_type, "reason": decision.reason})
            if decision.definitive:
                claim.settle(SETTLED)
                self._metrics.webhooks_total.labels(result=decision.outcome.value).inc()
            else:
                self._metrics.webhooks_total.labels(result="retry").inc()
            return reply

    def _duplicate(self, incoming: IncomingCall, key: str) -> Reply:
        log_event(
            logging.WARNING, "duplicate_webhook_id", "webhook already handled; ignored",
            webhook_id=incoming.webhook_id, duplicate_of=key,
        )
        self._metrics.webhooks_total.labels(result="duplicate").inc()
        return 200, {"ok": True, "duplicate": True}

    def _invalid(self, reason: str, webhook_id: str) -> Reply:
        log_event(
            logging.WARNING, "webhook_invalid", "signed webhook body is unusable",
            reason=reason, webhook_id=webhook_id,
        )
        self._metrics.webhooks_total.labels(result="invalid").inc()
        return 400, {"ok": False, "error": reason}


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        event = bounded_json.loads(body, max_depth=MAX_BODY_DEPTH)
    except ValueError:  # not JSON, or nested past MAX_BODY_DEPTH (bounded_json.TooDeep)
        return None
    return event if isinstance(event, dict) else None
