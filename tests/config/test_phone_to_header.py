"""dialed_number: reading the E.164 number from the untrusted SIP To header."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.errors import TenantResolutionError
from config.phone import dialed_number, normalize_number


def to(value: object, name: str = "To") -> list[dict[str, Any]]:
    return [
        {"name": "From", "value": "<sip:+14155550000@carrier.example>;tag=from-secret-tag"},
        {"name": name, "value": value},
        {"name": "Call-ID", "value": "call-id-123"},
    ]


def reason_for(headers: Any, region: str = "US") -> TenantResolutionError:
    with pytest.raises(TenantResolutionError) as info:
        dialed_number(headers, default_region=region)
    return info.value


@pytest.mark.parametrize(
    "value",
    [
        "sip:+18005551212@sip.example.com",
        "<sip:+18005551212@host;user=phone>;tag=abc",
        '"Acme Support" <sip:+18005551212@host>',
        '"Acme <Support>; sales" <sip:+18005551212@host>;tag=1',
        "tel:+1-800-555-1212",
        "<tel:+18005551212;phone-context=example.com>",
        "sips:+18005551212@secure.example.com",
        "SIP:+18005551212@host",
        "sip:8005551212@host",
        "sip:18005551212@host",
        "sip:+1(800)555.1212@host",
        "sip:%2B18005551212@host",
        "sip:+18005551212:password@host",
        "sip:+18005551212@host;transport=tls;tag=xyz",
    ],
)
def test_to_header_forms_give_the_e164_number(value: str) -> None:
    """Every usual To form (name-addr, addr-spec, tel, sips, national) reads as +18005551212."""
    assert dialed_number(to(value), default_region="US") == "+18005551212"


@pytest.mark.parametrize("name", ["To", "to", "TO", "t", "T", " To "])
def test_header_name_is_matched_case_insensitively(name: str) -> None:
    """The To header is found whatever its case, also in compact form t."""
    assert dialed_number(to("sip:+18005551212@h", name=name), default_region="US") == "+18005551212"


def test_national_number_is_read_in_the_default_region() -> None:
    """A number without a country code is read with default_region."""
    assert dialed_number(to("sip:02079460958@h"), default_region="GB") == "+442079460958"


def test_first_to_header_wins() -> None:
    """With two To headers, the first one is used."""
    headers = to("sip:+18005551212@h") + to("sip:+18005550100@h")
    assert dialed_number(headers, default_region="US") == "+18005551212"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [{"name": "From", "value": "sip:+18005551212@h"}],
        [{"value": "sip:+18005551212@h"}],
        [{"name": 7, "value": "sip:+18005551212@h"}],
        ["To: sip:+18005551212@h", None, 3],
        "To: sip:+18005551212@h",
        None,
    ],
)
def test_missing_to_header(headers: Any) -> None:
    """No usable To header gives to_header_missing, with an empty context."""
    error = reason_for(headers)
    assert (error.reason, error.context, error.tenant_id) == ("to_header_missing", {}, None)
    assert error.event == "tenant_resolution_failed"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("sip:alice@example.com", "sip:alice@example.com"),
        ("sip:example.com", "sip:example.com"),
        ("mailto:+18005551212", "mailto:+18005551212"),
        ("http://+18005551212", "http://+18005551212"),
        ("tel:+1", "tel:+1"),
        ("sip:+1800FLOWERS@h", "sip:+1800FLOWERS@h"),
        ("<sip:+18005551212@h", "<sip:+18005551212@h"),
        ("", ""),
        (18005551212, "<int>"),
        (None, "<NoneType>"),
        (["sip:+18005551212@h"], "<list>"),
    ],
)
def test_invalid_to_header(value: object, shown: str) -> None:
    """A To value holding no phone number gives to_header_invalid with the value as context."""
    error = reason_for(to(value))
    assert (error.reason, error.context) == ("to_header_invalid", {"to": shown})


def test_oversized_to_value_is_refused_and_excerpted() -> None:
    """A To value over 1 KiB is invalid without parsing; the context keeps 64 characters."""
    value = "sip:+18005551212@" + "h" * 2000
    error = reason_for(to(value))
    assert error.reason == "to_header_invalid"
    assert error.context == {"to": value[:64]}


def test_error_context_holds_no_other_header() -> None:
    """Only an excerpt of To reaches the error; From and other headers never do."""
    error = reason_for(to("sip:bob@h\x00\r\ninjected: yes"))
    assert error.context == {"to": "sip:bob@h???injected: yes"}
    rendered = str(error.to_log_dict())
    assert "from-secret-tag" not in rendered
    assert "call-id-123" not in rendered


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+18005551212", "+18005551212"),
        ("+1 (800) 555-1212", "+18005551212"),
        ("8005551212", "+18005551212"),
        ("+44 20 7946 0958", "+442079460958"),
        ("1-800-FLOWERS", None),
        ("12", None),
        ("", None),
    ],
)
def test_normalize_number(text: str, expected: str | None) -> None:
    """normalize_number returns E.164 for possible numbers and None otherwise."""
    assert normalize_number(text, default_region="US") == expected


@given(st.text(max_size=300))
def test_arbitrary_to_text_raises_only_resolution_errors(value: str) -> None:
    """Any To text yields an E.164 number or a TenantResolutionError, nothing else."""
    try:
        outcome = dialed_number(to(value), default_region="US")
    except TenantResolutionError as error:
        outcome = f"{error.reason} {len(error.context['to'])}"
    if outcome.startswith("+"):
        assert outcome[1:].isdigit()
    else:
        reason, shown = outcome.split()
        assert reason == "to_header_invalid"
        assert int(shown) <= 64


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"name": st.sampled_from(["To", "t", "From"]), "value": _json}),
            _json,
        ),
        max_size=5,
    )
)
def test_arbitrary_header_lists_raise_only_resolution_errors(headers: list[Any]) -> None:
    """Any JSON-shaped header list yields a number or a TenantResolutionError."""
    try:
        outcome = dialed_number(headers, default_region="US")
    except TenantResolutionError as error:
        outcome = error.reason
    assert outcome.startswith("+") or outcome in ("to_header_missing", "to_header_invalid")
