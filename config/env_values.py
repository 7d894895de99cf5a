"""Parsers for environment values, used by ``config.settings``.

Each parser takes the raw string and returns the typed value or raises EnvValueError, whose
message completes the line ``NAME: <message>``.  The caller adds the offending value, unless the
variable is a secret.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import phonenumbers
from attrs import frozen

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@frozen
class Bind:
    """A listening address."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True for ``localhost``, 127.0.0.0/8 and ``::1``."""
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class EnvValueError(ValueError):
    """Raised by a parser; the message completes ``NAME: <message>`` and never holds the value."""


def parse_webhook_secrets(raw: str) -> tuple[bytes, ...]:
    """Whitespace-separated secrets; ``whsec_<base64>`` is decoded, anything else is UTF-8."""
    secrets: list[bytes] = []
    parts = raw.split()
    for index, part in enumerate(parts, start=1):
        which = f"secret {index} of {len(parts)}"
        if part.startswith("whsec_"):
            try:
                key = base64.b64decode(part.removeprefix("whsec_"), validate=True)
            except (binascii.Error, ValueError):
                raise EnvValueError(f"{which} is not valid base64 after 'whsec_'") from None
            if not key:
                raise EnvValueError(f"{which} is empty after 'whsec_'")
            secrets.append(key)
        else:
            secrets.append(part.encode())
    return tuple(secrets)


def parse_readable_file(raw: str) -> Path:
    """A path to an existing, readable file."""
    path = Path(raw.strip())
    if not path.is_file():
        raise EnvValueError("expected an existing file")
    if not os.access(path, os.R_OK):
        raise EnvValueError("file is not readable")
    return path


def parse_directory(raw: str) -> Path:
    """A path to an existing, readable directory."""
    path = Path(raw.strip())
    if not path.is_dir():
        raise EnvValueError("expected an existing directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise EnvValueError("directory is not readable")
    return path


def parse_mongodb_uri(raw: str) -> str:
    """A MongoDB connection string (it may hold credentials: never echoed)."""
    uri = raw.strip()
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise EnvValueError("expected a mongodb:// or mongodb+srv:// URI")
    return uri


_DATABASE_FORBIDDEN = frozenset('/\\. "$*<>:|?\0')


def parse_database_name(raw: str) -> str:
    """A MongoDB database name: 1 to 63 bytes, none of ``/\\. "$*<>:|?`` or NUL."""
    name = raw.strip()
    if not name or len(name.encode()) > 63 or any(ch in _DATABASE_FORBIDDEN for ch in name):
        raise EnvValueError('expected a database name of 1 to 63 bytes without /\\. "$*<>:|?')
    return name


def url_parser(*schemes: str) -> Callable[[str], str]:
    """A parser of absolute URLs with one of ``schemes`` and a host."""
    wanted = " or ".join(f"{scheme}://" for scheme in schemes)
    pattern = re.compile(rf"(?:{'|'.join(schemes)})://[^\s/?#]+\S*", re.IGNORECASE)

    def parse(raw: str) -> str:
        url = raw.strip()
        if not pattern.fullmatch(url):
            raise EnvValueError(f"expected a {wanted} URL")
        return url

    return parse


_BIND = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>[0-9]{1,5})")


def parse_bind(raw: str) -> Bind:
    """``host:port`` or ``[ipv6]:port`` with a port 0-65535."""
    match = _BIND.fullmatch(raw.strip())
    port = int(match["port"]) if match else -1
    if match is None or port > 65535:
        raise EnvValueError("expected host:port with a port 0-65535 (IPv6 as [::1]:8000)")
    host = match["v6"] or match["host"]
    if match["v6"]:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise EnvValueError("expected an IPv6 address inside [...]") from None
    elif not _is_host_name(host.lower()):
        raise EnvValueError("expected host:port with a host name or IPv4 address")
    return Bind(host, port)


def whole_number_parser(*, minimum: int) -> Callable[[str], int]:
    """A parser of whole numbers ``>= minimum``."""
    def parse(raw: str) -> int:
        text = raw.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text) or int(text) < minimum:
            raise EnvValueError(f"expected a whole number >= {minimum}")
        return int(text)

    return parse


def number_parser(
    *, above: float | None = None, at_least: float | None = None
) -> Callable[[str], float]:
    """A parser of finite numbers ``> above`` (or ``>= at_least``)."""
    bound = f"> {above:g}" if above is not None else f">= {at_least:g}"

    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        too_small = (above is not None and value <= above) or (
            at_least is not None and value < at_least
        )
        if not math.isfinite(value) or too_small:
            raise EnvValueError(f"expected a number {bound}")
        return value

    return parse


def parse_log_level(raw: str) -> str:
    """A log level name, any case; returned upper-case."""
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise EnvValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def parse_region(raw: str) -> str:
    """A region phonenumbers supports, any case; returned upper-case."""
    region = raw.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise EnvValueError("expected a supported ISO 3166 alpha-2 region code such as US or GB")
    return region


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def parse_hosts(raw: str) -> frozenset[str]:
    """Host names (or IP addresses) separated by commas or whitespace, lower-cased."""
    hosts = frozenset(part.lower() for part in re.split(r"[\s,]+", raw.strip()) if part)
    bad = sorted(host for host in hosts if not _is_host_name(host))
    if bad:
        raise EnvValueError(f"not host names: {', '.join(map(repr, bad))}")
    return hosts


def _is_host_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_cluster_mode(raw: str) -> str:
    """``mongodb`` (the only engine), or ``none``/``off`` for one process on its own."""
    value = raw.strip().lower()
    if value in ("none", "off"):
        return "none"
    if value != "mongodb":
        raise EnvValueError(f"expected mongodb or none, got {raw.strip()!r}")
    return value


def parse_flag(raw: str) -> bool:
    """1/0, true/false, yes/no in any case."""
    try:
        return _FLAGS[raw.strip().lower()]
    except KeyError:
        raise EnvValueError("expected one of 1, 0, true, false, yes, no") from None
