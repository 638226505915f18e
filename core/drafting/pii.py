"""Personal data masking: what leaves for an external LLM carries placeholders, not people.

`mask` swaps e-mail addresses, phone numbers, payment card numbers (Luhn-checked), IBANs
(mod-97 checked) and street addresses for placeholders such as "[EMAIL_1]"; `unmask` puts the
originals back. One mapping shared by several calls keeps the numbering and gives the same
original the same placeholder everywhere (customer text, history, KB passages).

The address patterns are deliberately conservative: a house number next to a street word
("221B Baker Street", "Hauptstraße 5", "12 rue de la Paix") or a line that is only a postcode
and a city ("10115 Berlin", "Seattle, WA 98101"). Free-form addresses without those cues pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import phonenumbers

PiiKind = Literal["email", "phone", "card", "iban", "address"]

_PLACEHOLDER_NAMES: dict[PiiKind, str] = {
    "email": "EMAIL",
    "phone": "PHONE",
    "card": "CARD",
    "iban": "IBAN",
    "address": "ADDRESS",
}
_PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|CARD|IBAN|ADDRESS)_(\d+)\]")

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)
_E164 = re.compile(r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)")

_STREET_WORDS = (
    r"Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Way|Court|"
    r"Ct\.?|Place|Pl\.?|Terrace|Close|Crescent|Square|Sq\.?|Highway|Hwy\.?|Parkway|Pkwy\.?"
)
_STREET_EN = re.compile(
    rf"(?<![\w-])\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'’.-]*\s+){{1,3}}(?:{_STREET_WORDS})(?![\w])"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Unit|Flat)\.?\s*#?\w+)?"
)
_STREET_SUFFIX = re.compile(
    r"(?<![\w-])[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|gasse|platz|allee)"
    r"\s+\d{1,4}\s?[a-z]?(?![\w])"
)
_STREET_SEPARATE = re.compile(
    r"(?<![\w-])[A-ZÄÖÜ][\wäöü-]*\s+(?:Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee)\s+\d{1,4}[a-z]?"
    r"(?![\w])"
)
_NAME_WORDS = r"[A-ZÁÉÍÓÚÀÈÂÊÎÔÛÇ][\w'’-]*(?:\s+[A-ZÁÉÍÓÚÀÈÂÊÎÔÛÇ][\w'’-]*){0,2}"
_STREET_FR = re.compile(
    r"(?<![\w-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+"
    r"(?:[Rr]ue|[Aa]venue|[Bb]oulevard|[Bb]d|[Cc]hemin|[Aa]llée|[Qq]uai|[Ii]mpasse|[Pp]lace)\s+"
    rf"(?:(?:de|du|des|la|le|les|d'|l')\s*)*{_NAME_WORDS}"
)
_STREET_ES = re.compile(
    r"(?<![\w-])(?:Calle|C/|Avenida|Avda\.?|Carrer|Paseo|Plaza|Rue|Via)\s+"
    rf"(?:(?:de|del|la|las|los|el)\s+)*{_NAME_WORDS},?\s+(?:n[º°o]\.?\s?)?\d{{1,4}}[a-z]?(?![\w])"
)
_POSTCODE_LINE = re.compile(
    r"^[ \t]*(?:[A-Z]{1,2}-)?(?:\d{4,5}|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})[ \t]+"
    r"[A-ZÄÖÜ][\wäöüéèß'-]+(?:[ \t-][A-ZÄÖÜ][\wäöüéèß'-]+)?[ \t]*$",
    re.MULTILINE,
)
_US_CITY_ZIP = re.compile(
    r"(?<!\w)[A-Z][a-z]+(?:\s[A-Z][a-z]+)?,\s[A-Z]{2}\s\d{5}(?:-\d{4})?(?!\d)"
)
_ADDRESS_PATTERNS = (
    _STREET_EN,
    _STREET_SUFFIX,
    _STREET_SEPARATE,
    _STREET_FR,
    _STREET_ES,
    _POSTCODE_LINE,
    _US_CITY_ZIP,
)


@dataclass
class Masked:
    """A masked text and the placeholders it uses (placeholder → original)."""

    text: str
    mapping: dict[str, str] = field(default_factory=dict)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces allowed)."""
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _card_prefix(raw: str) -> int:
    """Length of the longest prefix of `raw` (whole digit groups) that is a valid card number.

    The pattern is greedy, so "4111 1111 1111 1111 12" must still find the card in front.
    """
    ends = [m.end() for m in re.finditer(r"\d+", raw)]
    for end in reversed(ends):
        digits = re.sub(r"\D", "", raw[:end])
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return end
    return 0


def _find(text: str, region: str) -> list[tuple[int, int, PiiKind]]:
    """Non-overlapping personal data spans, the stronger kind first."""
    spans: list[tuple[int, int, PiiKind]] = []

    def add(start: int, end: int, kind: PiiKind) -> None:
        if all(end <= s or start >= e for s, e, _ in spans):
            spans.append((start, end, kind))

    for m in _PLACEHOLDER.finditer(text):  # already masked: leave alone
        spans.append((m.start(), m.end(), "email"))
    placeholders = len(spans)
    for m in _EMAIL.finditer(text):
        add(m.start(), m.end(), "email")
    for m in _IBAN.finditer(text):
        if iban_valid(m.group(0)):
            add(m.start(), m.end(), "iban")
    for m in _CARD.finditer(text):
        card = _card_prefix(m.group(0))
        if card:
            add(m.start(), m.start() + card, "card")
    for m in _E164.finditer(text):
        add(m.start(), m.end(), "phone")
    for pm in phonenumbers.PhoneNumberMatcher(text, region):
        add(pm.start, pm.end, "phone")
    for pattern in _ADDRESS_PATTERNS:
        for m in pattern.finditer(text):
            start, end = m.start(), m.end()
            while end > start and text[end - 1] in " \t,":
                end -= 1
            while start < end and text[start] in " \t":
                start += 1
            add(start, end, "address")
    spans = spans[placeholders:]
    spans.sort()
    return spans


def mask(text: str, mapping: dict[str, str] | None = None, *, region: str = "US") -> Masked:
    """Replace personal data in `text` with placeholders.

    Pass the same `mapping` to several calls: it is updated in place, numbering continues and
    an original seen before gets its earlier placeholder. `region` is the default region for
    phone numbers written without a country code.
    """
    mapping = mapping if mapping is not None else {}
    reverse = {original: ph for ph, original in mapping.items()}
    counters: dict[str, int] = {}
    for ph in mapping:
        m = _PLACEHOLDER.fullmatch(ph)
        if m:
            counters[m.group(1)] = max(counters.get(m.group(1), 0), int(m.group(2)))
    out: list[str] = []
    pos = 0
    for start, end, kind in _find(text, region):
        original = text[start:end]
        placeholder = reverse.get(original)
        if placeholder is None:
            name = _PLACEHOLDER_NAMES[kind]
            counters[name] = counters.get(name, 0) + 1
            placeholder = f"[{name}_{counters[name]}]"
            mapping[placeholder] = original
            reverse[original] = placeholder
        out.append(text[pos:start])
        out.append(placeholder)
        pos = end
    out.append(text[pos:])
    return Masked("".join(out), mapping)


def unmask(text: str, mapping: Mapping[str, str]) -> str:
    """Put the originals back for every placeholder of `mapping` found in `text`."""
    if not mapping:
        return text
    keys = sorted(mapping, key=lambda k: (-len(k), k))
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return pattern.sub(lambda m: mapping[m.group(0)], text)


def personal_data(text: str, *, region: str = "US") -> list[str]:
    """The kinds of personal data in `text` ("email", "phone", "card", "iban", "address")."""
    found = {kind for _, _, kind in _find(text, region)}
    return [kind for kind in _PLACEHOLDER_NAMES if kind in found]
