"""Who may use the operator port, and from which page.

Three checks, made before any route of the operator app runs (``admin_app``):

* **The token** (``ADMIN_TOKEN`` set).  A request is let in with ``Authorization: Bearer
  <token>`` (curl, Prometheus, a probe) or with the console's session cookie.  The cookie is
  not the token: it holds HMAC-SHA256(token, "callvisor operator console session v1"), so a
  cookie read off a browser cannot be used as the token elsewhere, every replica given the
  same token accepts it, and changing the token signs every browser out.  The cookie is
  ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (a page of another site cannot make
  the browser send it), ``Path=/`` and ``Secure`` when the request came over https.  It is set
  by ``POST /console/sign-in`` with the token in a form body: never in a URL, never logged, never
  written into a page.  Both comparisons are constant-time.
* **The origin of a POST.**  Every action (hangup, drain, tenants reload, sign-in) is a POST,
  and a POST whose ``Sec-Fetch-Site`` is anything but ``same-origin`` or ``none`` (typed in or
  a tool), or whose ``Origin`` names another host than the request's ``Host``, is refused with
  403 ``cross_origin``: a page elsewhere, even another port of the same machine (same-site),
  cannot drain the replica through an operator's browser.  curl sends neither header.
* **The host, without a token.**  The port is then bound to loopback only (the settings refuse
  anything else), and a request whose ``Host`` is not a loopback address or ``localhost`` is
  refused with 403 ``host_not_loopback``: that is what a DNS-rebinding page would send, having
  pointed its own name at 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

from quart import Request

#: The console's session cookie.
COOKIE_NAME = "callvisor_console"
#: How long a browser stays signed in.
COOKIE_MAX_AGE_S = 12 * 3600
_COOKIE_PURPOSE = b"callvisor operator console session v1"

#: ``Sec-Fetch-Site`` values of a request a page of ours (or no page) made.
_OWN_FETCH_SITES = frozenset({"same-origin", "none"})


class OperatorAuth:
    """The operator token, and the console cookie derived from it (None: no token, loopback only)."""

    def __init__(self, token: str | None) -> None:
        self.required = token is not None
        self._bearer = f"Bearer {token}".encode() if token else b""
        self._token = token.encode() if token else b""
        self._cookie = (
            hmac.new(token.encode(), _COOKIE_PURPOSE, hashlib.sha256).hexdigest().encode() if token else b""
        )

    def authorized(self, request: Request) -> bool:
        """True when no token is set, or the request carries the bearer header or the cookie."""
        if not self.required:
            return True
        header = request.headers.get("Authorization", "").encode()
        cookie = request.cookies.get(COOKIE_NAME, "").encode()
        # Both compared every time, so that the time taken does not tell which one was tried.
        by_header = hmac.compare_digest(header, self._bearer)
        by_cookie = hmac.compare_digest(cookie, self._cookie)
        return by_header or by_cookie

    def token_matches(self, given: str) -> bool:
        """Whether ``given`` (a sign-in form's field) is the token."""
        return self.required and hmac.compare_digest(given.encode(), self._token)

    def cookie_value(self) -> str:
        """The session cookie's value (only with a token)."""
        assert self.required
        return self._cookie.decode()


def cross_origin(request: Request) -> bool:
    """True when a browser made ``request`` from a page of another origin than the port's own."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() not in _OWN_FETCH_SITES:
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    # The host and port only: behind a proxy that ends TLS the page is https, the request http.
    try:
        netloc = urlsplit(origin.strip()).netloc
    except ValueError:
        return True
    return not netloc or netloc.lower() != request.host.lower()


def loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback (or is empty, as HTTP/1.0 may send)."""
    if not host:
        return True
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8001
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
