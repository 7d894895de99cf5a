"""A real browser for the console tests: Debian's headless Chromium driven by selenium.

``browser`` is a fresh Chromium (its own empty profile) under chromedriver, both from Debian's
``chromium`` and ``chromium-driver`` packages (.ci/run installs them); never a downloaded browser:
selenium is given both paths, so its manager looks nothing up.  Where either is missing the test
is skipped, and pytest's summary (``-ra``) prints why.

The service under test runs in the test's trio loop, so every browser call, which blocks, goes
through :func:`in_browser` (a worker thread) while the loop serves the page's requests.  These
tests run on the real clock: the browser's timers are real.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: The flags this machine's Chromium needs headless (no sandbox as root, nothing fetched).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
WINDOW = (1400, 1250)

T = TypeVar("T")


def browser_missing() -> str | None:
    """Why no browser can be started here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is not installed (apt-get install --no-install-recommends {package})"
    return None


def open_browser(profile: Path) -> Any:
    """A headless Chromium with the profile folder ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (skipped where it is not installed)."""
    missing = browser_missing()
    if missing is not None:
        pytest.skip(f"no browser: {missing}")
    pytest.importorskip("selenium", reason="selenium is not installed (the dev extra)")
    profile = Path(tempfile.mkdtemp(prefix="callvisor-chromium-"))
    driver = open_browser(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


async def in_browser(fn: Callable[[], T]) -> T:
    """Run a blocking browser call in a worker thread, so the service keeps serving the page."""
    return await trio.to_thread.run_sync(fn)
