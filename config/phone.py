"""Reading the dialed number from a call's SIP headers.

SIP headers arrive from the caller's carrier and are untrusted: only the ``To`` header is looked
at, only its first KiB, and an error carries at most a short excerpt of it.  Numbers are read
with ``phonenumbers`` and returned in E.164 form (``+18005551212``).

Calls to a tenant dial the same few ``To`` values again and again, so what a value reads as
(its number, or that it holds none) is remembered per raw value and region in a bounded LRU
(``TO_CACHE_ENTRIES`` values of at most ``CACHED_TO_CHARS`` characters; longer ones are read
every time).  The reading is a pure function of the text, so nothing ever invalidates it; which
tenant a number routes to is the source's answer and is never cached here.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import phonenumbers

from .errors import TenantResolutionError

DEFAULT_REGION = "US"
"""Region used to read national numbers (``8005551212``) unless configured otherwise."""

MAX_HEADER_CHARS = 1024
"""A ``To`` value longer than this is rejected without being parsed."""

EXCERPT_CHARS = 64
"""At most this many characters of the ``To`` value go into an error's context."""

TO_CACHE_ENTRIES = 4096
"""How many ``To`` values (with their region) the LRU remembers, failures included."""

CACHED_TO_CHARS = 256
"""Longer ``To`` values are not remembered: the LRU holds at most ~4096 x 1 KiB of them."""

_TO_NAMES = frozenset({"to", "t"})  # "t" is the compact form (RFC 3261 section 7.3.3)
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_ANGLE = re.compile(r"<([^<>]*)>")
_NUMBER_CHARS = re.compile(r"\+?[0-9().\- ]+")


def normalize_number(text: str, *, default_region: str) -> str | None:
    """Return ``text`` as an E.164 number, or None when it is not a possible phone number.

    Accepts ``+`` international numbers with visual separators (``+1-800-555-1212``) and
    national numbers, which are read as numbers of ``default_region``.  Letters are refused.
    """
    candidate = text.strip()
    if not _NUMBER_CHARS.fullmatch(candidate) or not any(ch.isdigit() for ch in candidate):
        return None
    region = None if candidate.startswith("+") else default_region
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def dialed_number(sip_headers: Sequence[Mapping[str, Any]], *, default_region: str) -> str:
    """Return the E.164 number of the SIP ``To`` header.

    Raises TenantResolutionError with reason ``to_header_missing`` when there is no ``To``
    header (matched case-insensitively, compact form ``t`` included) and ``to_header_invalid``
    when its value does not hold a phone number.
    """
    value = _find_to(sip_headers)
    if value is _MISSING:
        raise TenantResolutionError("the SIP To header is missing", reason="to_header_missing")
    number = _number_from_to(value, default_region=default_region)
    if number is None:
        raise TenantResolutionError(
            "the SIP To header does not hold a phone number",
            reason="to_header_invalid",
            context={"to": _excerpt(value)},
        )
    return number


_MISSING = object()


def _find_to(sip_headers: object) -> object:
    """Return the value of the first ``To`` header, or ``_MISSING``."""
    if not isinstance(sip_headers, Sequence) or isinstance(sip_headers, str | bytes):
        return _MISSING
    for header in sip_headers:
        if not isinstance(header, Mapping):
            continue
        name = header.get("name")
        if isinstance(name, str) and len(name) <= 16 and name.strip().lower() in _TO_NAMES:
            return header.get("value")
    return _MISSING


def to_cache_info() -> functools._CacheInfo:
    """Hits, misses and size of the ``To`` value LRU (``currsize <= TO_CACHE_ENTRIES``)."""
    return _read_to.cache_info()


def _number_from_to(value: object, *, default_region: str) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_HEADER_CHARS:
        return None
    if len(value) > CACHED_TO_CHARS:
        return _read_to_value(value, default_region)
    return _read_to(value, default_region)


def _read_to_value(value: str, default_region: str) -> str | None:
    """The E.164 number of a ``To`` value, or None."""
    uri = _uri_of(value)
    scheme, sep, rest = uri.partition(":")
    if not sep:
        return None
    scheme = scheme.strip().lower()
    if scheme == "tel":
        user = rest
    elif scheme in ("sip", "sips"):
        user, at, _host = rest.partition("@")
        if not at:
            return None
        user = user.partition(":")[0]  # drop a password, should a carrier send one
    else:
        return None
    user = unquote(user.partition(";")[0])  # drop URI parameters (phone-context, isub, ...)
    return normalize_number(user, default_region=default_region)


# A failure (None) is remembered too: a carrier resending one bad value costs one lookup.
_read_to = functools.lru_cache(maxsize=TO_CACHE_ENTRIES)(_read_to_value)


def _uri_of(value: str) -> str:
    """The URI of a name-addr (``"Name" <uri>;tag=x``) or addr-spec (``uri;tag=x``) value."""
    unquoted = _QUOTED.sub("", value)
    bracketed = _ANGLE.search(unquoted)
    if bracketed is not None:
        return bracketed.group(1).strip()
    if "<" in unquoted or ">" in unquoted:
        return ""
    # Without angle brackets, everything after the first ";" is a header parameter.
    return unquoted.partition(";")[0].strip()


def _excerpt(value: object) -> str:
    """A short, printable excerpt of an untrusted header value."""
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    head = value[:EXCERPT_CHARS]
    return "".join(ch if _printable(ch) else "?" for ch in head)


def _printable(ch: str) -> bool:
    return ch == " " or (ch.isprintable() and unicodedata.category(ch)[0] != "Z")
