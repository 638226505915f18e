"""PII masking: round trip, stable placeholders, checksums decide what is a card or an IBAN."""

from __future__ import annotations

import pytest

from core.drafting.pii import iban_valid, luhn_valid, mask, personal_data, unmask

TEXT = """Hi, write to Maria.Lopez@example.com or call (415) 555-0132 / +49 151 2345 6789.
My card 4111 1111 1111 1111 was charged twice; refund to IBAN DE89 3704 0044 0532 0130 00.
Ship to 221B Baker Street, or to my office:
Hauptstraße 5
10115 Berlin
Order NW-20417 of 2026-01-05, total €1,299.00."""


def test_round_trip_is_identical() -> None:
    masked = mask(TEXT)
    assert unmask(masked.text, masked.mapping) == TEXT
    for original in masked.mapping.values():
        assert original not in masked.text


def test_placeholders_per_kind() -> None:
    masked = mask(TEXT)
    assert masked.mapping == {
        "[EMAIL_1]": "Maria.Lopez@example.com",
        "[PHONE_1]": "(415) 555-0132",
        "[PHONE_2]": "+49 151 2345 6789",
        "[CARD_1]": "4111 1111 1111 1111",
        "[IBAN_1]": "DE89 3704 0044 0532 0130 00",
        "[ADDRESS_1]": "221B Baker Street",
        "[ADDRESS_2]": "Hauptstraße 5",
        "[ADDRESS_3]": "10115 Berlin",
    }
    # order numbers, dates and amounts are not personal data
    assert "NW-20417 of 2026-01-05, total €1,299.00" in masked.text


def test_shared_mapping_keeps_numbering_and_reuses_placeholders() -> None:
    mapping: dict[str, str] = {}
    first = mask("From a@example.com and b@example.com", mapping)
    second = mask("Again b@example.com, now also c@example.com", mapping)
    assert first.text == "From [EMAIL_1] and [EMAIL_2]"
    assert second.text == "Again [EMAIL_2], now also [EMAIL_3]"
    assert second.mapping is mapping
    assert unmask(first.text + " " + second.text, mapping) == (
        "From a@example.com and b@example.com Again b@example.com, now also c@example.com"
    )


def test_masking_masked_text_changes_nothing() -> None:
    masked = mask(TEXT)
    again = mask(masked.text, dict(masked.mapping))
    assert again.text == masked.text


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "IBAN DE89 3704 0044 0532 0130 01",  # mod 97 fails
        "tracking 9400 1000 0000 0000 0000 00",  # 22 digits: no card
        "it took 3 days during the storm, via email",
    ],
)
def test_checksum_failures_and_plain_text_are_not_masked(text: str) -> None:
    assert mask(text).text == text
    assert personal_data(text) == []


def test_card_followed_by_more_digits() -> None:
    masked = mask("card 4111-1111-1111-1111 12/26")
    assert masked.text == "card [CARD_1] 12/26"


def test_checksums() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")


def test_addresses_in_other_countries() -> None:
    masked = mask("Livraison au 12 rue de la Paix, ou Calle Mayor 5, o Seattle, WA 98101.")
    assert sorted(masked.mapping.values()) == [
        "12 rue de la Paix",
        "Calle Mayor 5",
        "Seattle, WA 98101",
    ]


def test_e164_and_default_region() -> None:
    assert mask("+442079460018").text == "[PHONE_1]"
    assert mask("020 7946 0018", region="GB").text == "[PHONE_1]"


def test_personal_data_kinds() -> None:
    assert personal_data(TEXT) == ["email", "phone", "card", "iban", "address"]
    assert personal_data("Please ignore my previous email, order #1234 is fine.") == []
