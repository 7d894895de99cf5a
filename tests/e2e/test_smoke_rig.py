"""The rig itself works: a healthy call is accepted and greeted."""

import trio.testing

from tests.rig import Rig


async def test_healthy_call_is_accepted_and_greeted(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A call to acme-corp is accepted (200) and the greeting goes out on the sideband."""
    response = await rig.call("rtc_smoke")
    assert response.json() == {"ok": True, "accepted": "rtc_smoke"}
    await rig.wait_session("rtc_smoke")
    greeting = await rig.platform.wait_for_client_event("rtc_smoke", "response.create")
    assert "Hello, thanks for calling Acme" in greeting["response"]["instructions"]
