"""Pure identifier normalization and reference rules."""

from __future__ import annotations

import pytest

from core.channels.text_tidy import tidy
from core.conversations.rules import find_references, new_reference
from core.errors import InvalidInput
from core.identity.rules import (
    Identifier,
    account_key,
    normalize_email,
    normalize_handle,
    normalize_phone,
    sort_by_priority,
)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(415) 555-0132", "US", "+14155550132"),
        ("+49 151 2345 6789", "US", "+4915123456789"),
        ("0049 151 23456789", "US", "+4915123456789"),
        ("0151 23456789", "DE", "+4915123456789"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),
    ],
)
def test_phones_become_e164(raw: str, region: str, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["12", "abc", "+1 555"])
def test_bad_phones_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_phone(raw, "US")
    assert err.value.field == "sender.phone"


def test_emails_are_lower_cased_and_checked() -> None:
    assert normalize_email(" Maria.Lopez@Example.COM ") == "maria.lopez@example.com"
    with pytest.raises(InvalidInput):
        normalize_email("maria@")


@pytest.mark.parametrize(
    ("raw", "channel", "expected"),
    [
        ("100012345678", "facebook", Identifier("handle", "facebook:100012345678")),
        ("@AcmeSupport", "twitter", Identifier("handle", "twitter:@acmesupport")),
        ("AcmeSupport", "twitter", Identifier("handle", "twitter:@acmesupport")),
        ("@Maria.LZ", "instagram", Identifier("handle", "instagram:maria.lz")),
        ("facebook:42", "chat", Identifier("handle", "facebook:42")),
        ("visitor-7", "chat", Identifier("handle", "chat:visitor-7")),
        ("4915123456789", "whatsapp", Identifier("phone", "+4915123456789")),
    ],
)
def test_handles_are_platform_qualified(raw: str, channel: str, expected: Identifier) -> None:
    assert normalize_handle(raw, channel, "US") == expected


def test_handle_without_platform_on_email_is_rejected() -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_handle("someone", "email", "US")
    assert err.value.field == "sender.handle"


def test_priority_and_account_key() -> None:
    ids = [
        Identifier("handle", "chat:x"),
        Identifier("email", "a@b.c"),
        Identifier("customer_ref", "C1"),
    ]
    assert [i.kind for i in sort_by_priority(ids + ids)] == ["customer_ref", "email", "handle"]
    assert account_key("  Alpine   Schools GmbH ") == "alpine schools gmbh"


def test_references() -> None:
    ref = new_reference("TL")
    assert ref.startswith("TL-") and len(ref) == 8
    assert not set(ref[3:]) & set("01ILO")
    assert find_references("TL", "Re: order [tl-7q3k9]", "see TL-7Q3K9 and TL-ABCDE") == [
        "TL-7Q3K9",
        "TL-ABCDE",
    ]
    assert find_references("TL", "XTL-7Q3K9 or TL-7Q3K9X") == []


def test_clean_text() -> None:
    assert tidy("  hi\r\n\r\n\r\n  there\x00  ") == "hi\n\nthere"
