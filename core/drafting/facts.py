"""Checkable facts in support text: money, percentages, durations, dates, numbers, links.

A drafted reply may only state facts its sources state. `extract_facts` finds them with their
canonical value, so "€1,299.00" and "1.299,00 €" compare equal, and so do "30 days" and "thirty
days". `unsupported_facts` lists the facts of a reply that no source backs.

Conventions (explicit, because dates and separators are ambiguous):
- Dates: `yyyy-mm-dd` is ISO, `d.m.yyyy` / `dd.mm.yyyy` is European (day first), `m/d/yyyy` /
  `mm/dd/yyyy` is US (month first), so "05/01/2026" is 1 May 2026 and "05.01.2026" is 5 January
  2026. Written dates ("5 January 2026", "January 5, 2026") may omit the year: "--01-05".
- Amounts: with both "." and "," the last one is the decimal mark; with one of them, it is the
  decimal mark when 1 or 2 digits follow it and a thousands separator when 3 follow.
- Spelled-out numbers (one..ninety, hundred, "twenty-four") count only before a unit or
  "percent"; on their own they are words, not facts.
- Not facts: list markers ("1." at the start of a line), ordinals ("1st", "3rd") and digits
  glued to letters (model names such as "IPX7", "35L"). Times ("14:00") are numbers.
- Phones need a "+" country code or a US shape ("(415) 555-0132", "415-555-0132" → "+1…").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

FactKind = Literal["money", "percentage", "duration", "date", "number", "url", "email", "phone"]


@dataclass(frozen=True)
class Fact:
    """One fact found in a text: its kind, canonical value and where it was written."""

    kind: FactKind
    value: str  # canonical, comparable across spellings
    text: str  # as written
    start: int
    end: int


_UNITS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_WORD_NUM = (
    r"(?:(?:a\s+|one\s+)?hundred|(?:"
    + "|".join(_TENS)
    + r")(?:[\s-](?:"
    + "|".join(k for k, v in _UNITS.items() if v < 10)
    + r"))?|"
    + "|".join(sorted(_UNITS, key=len, reverse=True))
    + r")"
)
_DIGITS = r"\d+(?:[.,]\d+)?"
_QTY = rf"(?:{_DIGITS}|{_WORD_NUM})"

_MONTHS = {
    "january": 1,
    "jan": 1,
    "januar": 1,
    "janvier": 1,
    "february": 2,
    "feb": 2,
    "februar": 2,
    "février": 2,
    "march": 3,
    "mar": 3,
    "märz": 3,
    "mars": 3,
    "april": 4,
    "apr": 4,
    "avril": 4,
    "may": 5,
    "mai": 5,
    "june": 6,
    "jun": 6,
    "juni": 6,
    "juin": 6,
    "july": 7,
    "jul": 7,
    "juli": 7,
    "juillet": 7,
    "august": 8,
    "aug": 8,
    "août": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "septembre": 9,
    "october": 10,
    "oct": 10,
    "oktober": 10,
    "octobre": 10,
    "november": 11,
    "nov": 11,
    "novembre": 11,
    "december": 12,
    "dec": 12,
    "dezember": 12,
    "décembre": 12,
}
_MONTH = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"

_DURATION_UNITS = {
    "minute": "minute",
    "minutes": "minute",
    "min": "minute",
    "mins": "minute",
    "hour": "hour",
    "hours": "hour",
    "hr": "hour",
    "hrs": "hour",
    "h": "hour",
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
    "stunde": "hour",
    "stunden": "hour",
    "tag": "day",
    "tage": "day",
    "tagen": "day",
    "werktag": "business day",
    "werktage": "business day",
    "werktagen": "business day",
    "woche": "week",
    "wochen": "week",
    "monat": "month",
    "monate": "month",
    "monaten": "month",
    "jahr": "year",
    "jahre": "year",
    "jahren": "year",
    "heure": "hour",
    "heures": "hour",
    "jour": "day",
    "jours": "day",
    "semaine": "week",
    "semaines": "week",
    "mois": "month",
    "ans": "year",
    "hora": "hour",
    "horas": "hour",
    "día": "day",
    "días": "day",
    "dias": "day",
    "semana": "week",
    "semanas": "week",
    "mes": "month",
    "meses": "month",
    "año": "year",
    "años": "year",
}
_UNIT = "(?:" + "|".join(sorted(_DURATION_UNITS, key=len, reverse=True)) + ")"
_QUALIFIER = r"(?:business|working|calendar|bank)"

_CURRENCY_CODES = {
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "£": "GBP",
    "gbp": "GBP",
    "chf": "CHF",
    "fr.": "CHF",
    "franc": "CHF",
    "francs": "CHF",
}
_AMOUNT = r"\d{1,3}(?:[.,\s\u00a0\u202f']\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CUR_BEFORE = r"(?:US\$|€|\$|£|EUR|USD|GBP|CHF)"
_CUR_AFTER = r"(?:€|\$|£|EUR|USD|GBP|CHF|euros?|dollars?|francs?)"

_F = re.IGNORECASE
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]\"']+", _F)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_MONEY_BEFORE = re.compile(rf"(?<![\w$€£])({_CUR_BEFORE})\s?({_AMOUNT})(?![\d.,]?\d)", _F)
_MONEY_AFTER = re.compile(rf"(?<![\w.,])({_AMOUNT})\s?({_CUR_AFTER})(?!\w)", _F)
_ISO_DATE = re.compile(r"(?<![\d.-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_EU_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?![\d.]\d)")
_US_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4})(?![\d/])")
_DAY_MONTH = re.compile(
    rf"(?<![\w.])(\d{{1,2}})(?:st|nd|rd|th|\.)?\s+(?:of\s+)?({_MONTH})(?:,?\s+(\d{{4}}))?(?!\w)", _F
)
_MONTH_DAY = re.compile(
    rf"(?<!\w)({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?(?![\w:])", _F
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,6}(?!\w)")
_PHONE_US = re.compile(r"(?<![\w(])(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?![\w-])")
_PERCENT = re.compile(
    rf"(?<![\w.,])({_QTY})\s?(?:%|percent\b|per\s+cent\b|prozent\b|pour\s+cent\b|por\s+ciento\b)",
    _F,
)
_DURATION = re.compile(
    rf"(?<![\w.,])({_QTY})(?:\s*(?:[-–—]|to|bis|à|a)\s*({_QTY}))?"
    rf"(?:\s*-\s*|\s*)(?:(?:extra|more|additional|further|full|weitere|zusätzliche)\s+)?"
    rf"(?:({_QUALIFIER})\s+)?({_UNIT})(?!\w)",
    _F,
)
_REFERENCE = re.compile(
    r"(?<![\w-])[A-Z]{2,4}(?:-[A-Z]{2,4})?-(?=[A-Z0-9]*\d)[A-Z0-9]{4,}(?![\w-])"
)
_REFERENCE_LOWER = re.compile(r"(?<![\w-])[a-z]{2}-\d{4,}(?![\w-])")
_HASH_NUMBER = re.compile(r"(?<![\w#])#(\d{2,})(?!\w)")
_TIME = re.compile(r"(?<![\w:.])([01]?\d|2[0-3]):([0-5]\d)(?![\w:])")
_NUMBER = re.compile(r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)*)(?![\w])")
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*•][ \t]+)?\d{1,2}[.)](?=\s)", re.MULTILINE)
_TRAILING_URL_PUNCT = ".,;:!?)]}'\"*"


def _word_number(word: str) -> int | None:
    w = re.sub(r"\s+", " ", word.lower().strip()).replace("-", " ")
    if w.endswith("hundred"):
        return 100
    parts = w.split(" ")
    if len(parts) == 1:
        return _UNITS.get(parts[0], _TENS.get(parts[0]))
    tens, unit = _TENS.get(parts[0]), _UNITS.get(parts[-1])
    return tens + unit if tens is not None and unit is not None else None


def _number_text(raw: str) -> str | None:
    """A quantity as canonical digits: "30", "2.5", "thirty" → "30"."""
    if raw[0].isdigit():
        return raw.replace(",", ".")
    n = _word_number(raw)
    return None if n is None else str(n)


def _amount(raw: str) -> str | None:
    s = re.sub(r"[\s\u00a0\u202f']", "", raw)
    last_dot, last_comma = s.rfind("."), s.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        dec = "." if last_dot > last_comma else ","
        other = "," if dec == "." else "."
        s = s.replace(other, "").replace(dec, ".")
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        tail = s.rsplit(sep, 1)[1]
        if s.count(sep) == 1 and len(tail) in (1, 2):
            s = s.replace(sep, ".")
        elif len(tail) == 3:
            s = s.replace(sep, "")
        else:
            return None
    try:
        return f"{float(s):.2f}"
    except ValueError:
        return None


def _valid_date(year: int | None, month: int, day: int) -> str | None:
    try:
        date(year if year is not None else 2000, month, day)
    except ValueError:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}" if year is not None else f"--{month:02d}-{day:02d}"


def _month(word: str) -> int:
    return _MONTHS[word.lower().rstrip(".")]


def _canonical_url(raw: str) -> str:
    url = raw if "://" in raw else "https://" + raw
    scheme, rest = url.split("://", 1)
    host, sep, path = rest.partition("/")
    out = f"{scheme.lower()}://{host.lower()}{sep}{path}"
    return out.rstrip("/")


def _duration_value(m: re.Match[str]) -> str | None:
    first = _number_text(m.group(1))
    second = _number_text(m.group(2)) if m.group(2) else None
    if first is None or (m.group(2) and second is None):
        return None
    unit = _DURATION_UNITS[m.group(4).lower()]
    qualifier = m.group(3).lower() if m.group(3) else None
    if qualifier == "working":
        qualifier = "business"
    if qualifier and " " not in unit:
        unit = f"{qualifier} {unit}"
    qty = f"{first}-{second}" if second is not None else first
    plural = second is not None or first != "1"
    return f"{qty} {unit}{'s' if plural else ''}"


def _phone_value(raw: str, us: bool) -> str | None:
    digits = re.sub(r"\D", "", raw)
    if us:
        digits = "1" + digits
    return "+" + digits if 8 <= len(digits) <= 15 else None


@lru_cache(maxsize=4096)
def _extract(text: str) -> tuple[Fact, ...]:
    taken: list[tuple[int, int]] = []
    facts: list[Fact] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    def add(kind: FactKind, value: str | None, start: int, end: int) -> None:
        if value is None or not free(start, end):
            return
        taken.append((start, end))
        facts.append(Fact(kind, value, text[start:end], start, end))

    for m in _URL.finditer(text):
        raw = m.group(0).rstrip(_TRAILING_URL_PUNCT)
        add("url", _canonical_url(raw), m.start(), m.start() + len(raw))
    for m in _EMAIL.finditer(text):
        add("email", m.group(0).lower(), m.start(), m.end())
    for m in _MONEY_BEFORE.finditer(text):
        amount = _amount(m.group(2))
        code = _CURRENCY_CODES[m.group(1).lower()]
        add("money", amount and f"{code} {amount}", m.start(), m.end())
    for m in _MONEY_AFTER.finditer(text):
        amount = _amount(m.group(1))
        code = _CURRENCY_CODES[m.group(2).lower()]
        add("money", amount and f"{code} {amount}", m.start(), m.end())
    for m in _ISO_DATE.finditer(text):
        add("date", _valid_date(int(m[1]), int(m[2]), int(m[3])), m.start(), m.end())
    for m in _EU_DATE.finditer(text):
        add("date", _valid_date(int(m[3]), int(m[2]), int(m[1])), m.start(), m.end())
    for m in _US_DATE.finditer(text):
        add("date", _valid_date(int(m[3]), int(m[1]), int(m[2])), m.start(), m.end())
    for m in _DAY_MONTH.finditer(text):
        year = int(m[3]) if m[3] else None
        add("date", _valid_date(year, _month(m[2]), int(m[1])), m.start(), m.end())
    for m in _MONTH_DAY.finditer(text):
        if m[1].lower() == "may" and not m[1][0].isupper():
            continue  # the verb: "you may 2 ..." is not a date
        year = int(m[3]) if m[3] else None
        add("date", _valid_date(year, _month(m[1]), int(m[2])), m.start(), m.end())
    for m in _PHONE_INTL.finditer(text):
        add("phone", _phone_value(m.group(0), us=False), m.start(), m.end())
    for m in _PHONE_US.finditer(text):
        add("phone", _phone_value(m.group(0), us=True), m.start(), m.end())
    for m in _PERCENT.finditer(text):
        n = _number_text(m.group(1))
        add("percentage", n and f"{n}%", m.start(), m.end())
    for m in _DURATION.finditer(text):
        if m.group(4).lower() == "h" and not m.group(1)[-1].isdigit():
            continue  # "eight h..." is no "8 hours"
        add("duration", _duration_value(m), m.start(), m.end())
    for m in _REFERENCE.finditer(text):
        add("number", m.group(0).upper(), m.start(), m.end())
    for m in _REFERENCE_LOWER.finditer(text):
        add("number", m.group(0).upper(), m.start(), m.end())
    for m in _HASH_NUMBER.finditer(text):
        add("number", m.group(1), m.start(), m.end())
    for m in _LIST_MARKER.finditer(text):
        taken.append((m.start(), m.end()))  # a list marker is no fact
    for m in _TIME.finditer(text):
        add("number", f"{int(m[1]):02d}:{m[2]}", m.start(), m.end())
    for m in _NUMBER.finditer(text):
        raw = m.group(1)
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
            value = raw.replace(",", "")
        elif re.fullmatch(r"\d+,\d{1,2}", raw):
            value = raw.replace(",", ".")
        else:
            value = raw.replace(",", "")
        add("number", value, m.start(), m.end())
    facts.sort(key=lambda f: (f.start, f.end))
    return tuple(facts)


def extract_facts(text: str) -> list[Fact]:
    """The facts written in `text`, in order of appearance, without overlaps.

    A number inside a money amount, duration, date, phone or link is part of that fact and is
    not reported again as a bare number.
    """
    return list(_extract(text))


def _component_numbers(value: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", value)


def unsupported_facts(reply: str, sources: Sequence[str]) -> list[Fact]:
    """The facts of `reply` whose canonical value no source states.

    A bare number is also backed when a source fact contains it (the "30" of "30 days").
    """
    values: set[str] = set()
    parts: set[str] = set()
    for source in sources:
        for fact in _extract(source):
            values.add(fact.value)
            for n in _component_numbers(fact.value):
                parts.add(n)
                parts.add(n.split(".")[0])
    out = []
    for fact in _extract(reply):
        if fact.value in values:
            continue
        if fact.kind == "number" and fact.value in parts:
            continue
        out.append(fact)
    return out
