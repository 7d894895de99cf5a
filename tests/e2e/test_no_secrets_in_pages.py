"""No page callvisor serves carries a secret or a raw webhook body (issue 11's security checks).

The leak watch in tests/conftest.py scans every log line of the suite; this scans every page:
both ports' answers to good and bad requests, with an operator token configured, after calls
that were accepted, rejected, refused and hung up, so that every part of the live tree and of
the metrics has something in it.  Each answer's status line, headers and body are checked for
the API key, the webhook secret (as configured and as the decoded HMAC key), the admin token and
the raw bodies that were delivered.
"""

from __future__ import annotations

import base64

import httpx
import pytest
import trio
import trio.testing

from supervisor.testing import incoming_call_event
from tests.leaks import leaks
from tests.rig import ACME, Rig

TOKEN = "s3cr3t-admin"


@pytest.fixture
def rig_env() -> dict[str, str]:
    return {"ADMIN_TOKEN": TOKEN}


def _page(response: httpx.Response) -> str:
    head = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{response.status_code} {response.reason_phrase}\n{head}\n\n{response.text}"


async def test_no_page_of_either_port_shows_a_secret_or_a_webhook_body(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Every route, good and bad requests, a token set: no key, secret, token or body in any answer."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    delivered: list[bytes] = []
    pages: list[str] = []

    async def webhook(call_id: str, to: str = ACME, *, sign: bool = True) -> None:
        body, headers = rig.signed(incoming_call_event(call_id, to=to), webhook_id=f"wh_{call_id}")
        if not sign:
            headers["webhook-signature"] = "v1,AAAA"
        delivered.append(body)
        rig.platform.expect_call(call_id)
        pages.append(_page(await rig.post_raw(body, headers)))

    await webhook("rtc_pages_live")
    await rig.wait_session("rtc_pages_live")
    await webhook("rtc_pages_unknown", to="+15550000000")  # no tenant: rejected
    await webhook("rtc_pages_forged", sign=False)  # 401
    await webhook("rtc_pages_live")  # a duplicate
    pages.append(_page(await rig.post_raw(b'{"not": "an event"', rig.signed({"x": 1})[1])))

    admin = [
        ("GET", "/actors"), ("GET", "/actors?scope=cluster"), ("GET", "/actors/rtc_pages_live"),
        ("GET", "/actors/rtc_nobody"), ("GET", "/metrics"), ("GET", "/ready"), ("GET", "/nowhere"),
        ("POST", "/actors"), ("POST", "/actors/rtc_nobody/hangup"),
        # The operator console: its page (or sign-in form), its script and its state.
        ("GET", "/"), ("GET", "/console/console.js"), ("GET", "/console/state"),
    ]
    for method, path in admin:
        pages.append(_page(await rig.admin(method, path, headers=auth)))
        pages.append(_page(await rig.admin(method, path)))  # no token: 401
        pages.append(_page(await rig.admin(method, path, headers={"Authorization": "Bearer wrong"})))
    for method, path in [("GET", "/health"), ("HEAD", "/health"), ("GET", "/"), ("PUT", "/webhooks/openai")]:
        pages.append(_page(await rig.http.request(method, f"{rig.url}{path}")))
    for token in (TOKEN, "wrong"):  # the console's sign-in: the cookie, and the form again
        pages.append(_page(await rig.admin("POST", "/console/sign-in", data={"token": token})))
    rig.http.cookies.clear()
    pages.append(_page(await rig.admin("POST", "/actors/rtc_pages_live/hangup", headers=auth)))
    await rig.wait_log("call_ended", call_id="rtc_pages_live")
    pages.append(_page(await rig.admin("GET", "/metrics", headers=auth)))

    secret = rig.signer.secret
    hmac_key = base64.b64decode(secret.removeprefix("whsec_")).decode("latin-1")
    forbidden = [rig.platform.api_key, secret, secret.removeprefix("whsec_"), hmac_key, TOKEN]
    forbidden += [body.decode() for body in delivered]
    assert len(pages) == 5 + 3 * len(admin) + 4 + 2 + 2
    for page in pages:
        assert leaks(page) == [], page[:300]
        assert [value[:12] for value in forbidden if value in page] == [], page[:300]
    # The pages did show the calls: the scan looked at something.
    assert any("rtc_pages_live" in page for page in pages)
    assert any("callvisor_calls_total" in page for page in pages)
