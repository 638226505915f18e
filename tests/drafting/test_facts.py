"""Fact extraction: canonical values across spellings, and what is not a fact."""

from __future__ import annotations

import pytest

from core.drafting.facts import extract_facts, unsupported_facts


def values(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.value) for f in extract_facts(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("€1,299.00", ("money", "EUR 1299.00")),
        ("1.299,00 €", ("money", "EUR 1299.00")),
        ("1 299,00 €", ("money", "EUR 1299.00")),
        ("EUR 4.95", ("money", "EUR 4.95")),
        ("$10", ("money", "USD 10.00")),
        ("CHF 25", ("money", "CHF 25.00")),
        ("£89.99", ("money", "GBP 89.99")),
        ("12.90 EUR", ("money", "EUR 12.90")),
        ("2-3 business days", ("duration", "2-3 business days")),
        ("2–3 days", ("duration", "2-3 days")),
        ("3 to 5 working days", ("duration", "3-5 business days")),
        ("30 days", ("duration", "30 days")),
        ("thirty days", ("duration", "30 days")),
        ("twenty-four hours", ("duration", "24 hours")),
        ("48 hours", ("duration", "48 hours")),
        ("48h", ("duration", "48 hours")),
        ("a 4-hour first response", ("duration", "4 hours")),
        ("12 months", ("duration", "12 months")),
        ("2 weeks", ("duration", "2 weeks")),
        ("within one business day", ("duration", "1 business day")),
        ("2 extra years", ("duration", "2 years")),
        ("14 Tage", ("duration", "14 days")),
        ("5 January 2026", ("date", "2026-01-05")),
        ("January 5, 2026", ("date", "2026-01-05")),
        ("the 3rd of December", ("date", "--12-03")),
        ("2026-01-05", ("date", "2026-01-05")),
        ("05.01.2026", ("date", "2026-01-05")),  # European: day first
        ("5.1.2026", ("date", "2026-01-05")),
        ("05/01/2026", ("date", "2026-05-01")),  # US: month first
        ("15%", ("percentage", "15%")),
        ("5 %", ("percentage", "5%")),
        ("15 percent", ("percentage", "15%")),
        ("fifteen percent", ("percentage", "15%")),
        ("https://Help.Example.com/Returns/", ("url", "https://help.example.com/Returns")),
        ("Mail B2B@Northwind.Example.", ("email", "b2b@northwind.example")),
        ("+49 151 2345 6789", ("phone", "+4915123456789")),
        ("(415) 555-0132", ("phone", "+14155550132")),
        ("TL-7Q3K9", ("number", "TL-7Q3K9")),
        ("order NW-20417", ("number", "NW-20417")),
        ("ticket zd-48391", ("number", "ZD-48391")),
        ("#1234", ("number", "1234")),
        ("1,234 units", ("number", "1234")),
    ],
)
def test_canonical_values(text: str, expected: tuple[str, str]) -> None:
    assert values(text) == [expected]


def test_spellings_of_the_same_amount_are_equal() -> None:
    a = extract_facts("The price is €1,299.00.")[0]
    b = extract_facts("Le prix est de 1.299,00 €.")[0]
    assert a.value == b.value
    assert (a.text, b.text) == ("€1,299.00", "1.299,00 €")


def test_positions_point_at_the_written_text() -> None:
    text = "Refunds take 5-10 business days, see https://help.example/refunds."
    for fact in extract_facts(text):
        assert text[fact.start : fact.end] == fact.text
    assert [f.value for f in extract_facts(text)] == [
        "5-10 business days",
        "https://help.example/refunds",
    ]


def test_numbers_inside_other_facts_are_not_bare_numbers() -> None:
    kinds = values("€29 for 2 extra years, call +1-425-555-0107 by 2026-01-05, 24 hours")
    assert ("number", "29") not in kinds
    assert all(kind != "number" for kind, _ in kinds)


def test_list_markers_ordinals_and_model_names_are_not_facts() -> None:
    text = "1. Go to the form\n2) Add photos\nThe 1st and 3rd item, an IPX7 Lumen, a Summit 35L."
    assert values(text) == []


def test_may_the_verb_is_not_a_date() -> None:
    assert values("you may 2 times ask") == [("number", "2")]
    assert values("May 5") == [("date", "--05-05")]


def test_invalid_dates_are_not_dates() -> None:
    assert all(kind != "date" for kind, _ in values("2026-02-30 and 31.04.2026"))


def test_unsupported_facts_flags_only_what_no_source_says() -> None:
    sources = [
        "You can return items within 30 days of delivery. Refunds take 5-10 business days.",
        "Express costs €12.90. See https://help.example/returns.",
    ]
    reply = "You have thirty days to return it; express is 12,90 € and refunds take 3 days."
    unsupported = unsupported_facts(reply, sources)
    assert [(f.kind, f.value) for f in unsupported] == [("duration", "3 days")]


def test_bare_number_backed_by_a_source_fact() -> None:
    assert unsupported_facts("Your order 1234 ships in 30 days.", ["Order #1234: 30 days"]) == []
    assert [f.value for f in unsupported_facts("Only 30 left", ["30 days"])] == []
    assert [f.value for f in unsupported_facts("Only 45 left", ["30 days"])] == ["45"]
