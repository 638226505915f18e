"""Cheap, offline per-message signals for triage: language, sentiment and urgency cues.

Everything here runs locally from models bundled in the installed wheels (lingua's n-gram
models, VADER's lexicon); nothing is downloaded at run time. The detectors are built lazily,
once per process, behind a lock, so the functions are safe to call from several threads. Call
:func:`preload` at process start (before forking workers, so the models are shared
copy-on-write) to pay the loading cost up front instead of on the first message.

No function raises on any ``str`` input: empty text, emoji only, control characters, lone
surrogates, right-to-left scripts, mixed languages and very long text are all handled. Only the
first :data:`MAX_ANALYSED_CHARS` characters are analysed for language and sentiment, which
bounds latency.

Language detection uses lingua in high-accuracy mode over :data:`SUPPORTED_LANGUAGES`. The set
is deliberately smaller than lingua's 75 languages: in high-accuracy mode each Latin-script
language costs roughly 30 MB of resident n-gram models. The 18-language set first planned
(this one plus Danish, Norwegian Bokmål, Finnish and Czech) took about 400 MB; this 14-language
set takes about 290 MB including VADER, measured after :func:`preload`. Low-accuracy mode
(about 40 MB for all 18) was rejected because it gives confident wrong answers on short and
mixed-language messages (e.g. "cancelar mi pedido" read as Portuguese with 0.9 confidence),
where high-accuracy mode answers "unsure" (``code=None``). Text in an unsupported language
often comes back as ``None``. A close relative of a supported language can still be read as that
language (Norwegian as Swedish, Czech as Turkish), so routing should not treat a ``code`` as
proof.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

from lingua import Language, LanguageDetector, LanguageDetectorBuilder
from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped, unused-ignore]
    SentimentIntensityAnalyzer,
)

__all__ = [
    "LANGUAGE_CONFIDENCE_THRESHOLD",
    "MAX_ANALYSED_CHARS",
    "MAX_CUE_SCAN_CHARS",
    "SUPPORTED_LANGUAGES",
    "URGENCY_CUES",
    "LanguageGuess",
    "SentimentScore",
    "detect_language",
    "preload",
    "sentiment",
    "urgency_cues",
]

SUPPORTED_LANGUAGES: tuple[Language, ...] = (
    Language.ENGLISH,
    Language.GERMAN,
    Language.FRENCH,
    Language.SPANISH,
    Language.ITALIAN,
    Language.DUTCH,
    Language.PORTUGUESE,
    Language.POLISH,
    Language.SWEDISH,
    Language.TURKISH,
    Language.RUSSIAN,
    Language.JAPANESE,
    Language.CHINESE,
    Language.ARABIC,
)
"""Languages the detector chooses between (high-accuracy mode; see the module docstring)."""

LANGUAGE_CONFIDENCE_THRESHOLD = 0.5
"""The top language is reported only when lingua's confidence reaches this value."""

MIN_LETTERS = 2
"""Texts with fewer letters than this get ``code=None`` without asking the detector."""

MAX_ANALYSED_CHARS = 2_000
"""Language detection and sentiment look at this many leading characters only."""

MAX_CUE_SCAN_CHARS = 10_000
"""Urgency cues are searched in this many leading characters only."""

SENTIMENT_POSITIVE_THRESHOLD = 0.05
SENTIMENT_NEGATIVE_THRESHOLD = -0.05

_WARMUP_TEXT = "Hello, I was charged twice for my order last week and still have no refund."


@dataclass(frozen=True)
class LanguageGuess:
    """The detected language of a text.

    ``code`` is an ISO 639-1 code in lower case (``"en"``, ``"de"``, ...) or ``None`` when the
    detector is unsure, the text has fewer than two letters, or it is in a script none of
    :data:`SUPPORTED_LANGUAGES` uses. ``confidence`` (0..1) is lingua's confidence for the top
    language, also reported when ``code`` is ``None`` because it fell below the threshold.
    """

    code: str | None
    confidence: float


@dataclass(frozen=True)
class SentimentScore:
    """VADER's verdict: ``score`` is the compound score in -1..1, ``label`` its bucket."""

    label: Literal["negative", "neutral", "positive"]
    score: float


_lock = threading.Lock()
_language_detector: LanguageDetector | None = None
_sentiment_analyzer: SentimentIntensityAnalyzer | None = None

# C0/C1 control characters except tab, line feed and carriage return.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _build_language_detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*SUPPORTED_LANGUAGES).build()


def _build_sentiment_analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _get_language_detector() -> LanguageDetector:
    global _language_detector
    detector = _language_detector
    if detector is None:
        with _lock:
            detector = _language_detector
            if detector is None:
                detector = _build_language_detector()
                _language_detector = detector
    return detector


def _get_sentiment_analyzer() -> SentimentIntensityAnalyzer:
    global _sentiment_analyzer
    analyzer = _sentiment_analyzer
    if analyzer is None:
        with _lock:
            analyzer = _sentiment_analyzer
            if analyzer is None:
                analyzer = _build_sentiment_analyzer()
                _sentiment_analyzer = analyzer
    return analyzer


def _prepare(text: str, limit: int) -> str:
    """Truncate, make valid UTF-8 (lone surrogates become '?') and blank out control chars."""
    head = text[:limit]
    head = head.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL_CHARS.sub(" ", head)


def _has_letters(text: str, minimum: int) -> bool:
    count = 0
    for char in text:
        if char.isalpha():
            count += 1
            if count >= minimum:
                return True
    return False


def detect_language(text: str) -> LanguageGuess:
    """Guess the language of ``text`` among :data:`SUPPORTED_LANGUAGES`.

    Returns ``code=None`` when the text has fewer than two letters (empty, emoji, numbers) or
    when the top language's confidence is below :data:`LANGUAGE_CONFIDENCE_THRESHOLD`, which is
    typical for very short or mixed-language messages and for unsupported languages.
    """
    prepared = _prepare(text, MAX_ANALYSED_CHARS)
    if not _has_letters(prepared, MIN_LETTERS):
        return LanguageGuess(code=None, confidence=0.0)
    values = _get_language_detector().compute_language_confidence_values(prepared)
    if not values:
        return LanguageGuess(code=None, confidence=0.0)
    top = values[0]
    confidence = min(max(float(top.value), 0.0), 1.0)
    if confidence < LANGUAGE_CONFIDENCE_THRESHOLD:
        return LanguageGuess(code=None, confidence=confidence)
    return LanguageGuess(code=top.language.iso_code_639_1.name.lower(), confidence=confidence)


def sentiment(text: str) -> SentimentScore:
    """Score ``text`` with VADER (compound >= 0.05 positive, <= -0.05 negative, else neutral).

    VADER's lexicon is English. Text in other languages is still scored: it then reacts only
    to what it recognises (emoji, emoticons, "!!!", capitalisation and the occasional shared
    word), so for non-English text the result is mostly "neutral" and should be read with
    :func:`detect_language` in mind.
    """
    prepared = _prepare(text, MAX_ANALYSED_CHARS)
    if not prepared.strip():
        return SentimentScore(label="neutral", score=0.0)
    scores = _get_sentiment_analyzer().polarity_scores(prepared)
    compound = min(max(float(scores["compound"]), -1.0), 1.0)
    label: Literal["negative", "neutral", "positive"]
    if compound >= SENTIMENT_POSITIVE_THRESHOLD:
        label = "positive"
    elif compound <= SENTIMENT_NEGATIVE_THRESHOLD:
        label = "negative"
    else:
        label = "neutral"
    return SentimentScore(label=label, score=compound)


_APOSTROPHE = r"['\u2019]"

URGENCY_CUES: dict[str, re.Pattern[str]] = {
    name: re.compile("|".join(parts), re.IGNORECASE)
    for name, parts in {
        "urgent": [
            r"\burgent(?:e|ly)?\b",
            r"\burgen(?:ce|cia)\b",
            r"\basap\b",
            r"\bimmediately\b",
            r"\bright\s+now\b",
            r"\bemergency\b",
            r"\bdringend\b",
            r"\bsofort\b",
            r"[!\uff01]{3,}",
        ],
        "security": [
            r"\bhacked\b",
            r"\bstolen\b",
            r"\bfraud",
            r"\bunauthori[sz]ed\b",
            r"\b(?:someone|somebody)\s+(?:has\s+|had\s+)?(?:logged|accessed)\b",
            r"\bphishing\b",
            r"\bgehackt\b",
            # "Betrug" is the noun (fraud); lower-case "betrug" is also "amounted to".
            r"(?-i:\bBetrug)",
            r"\bbetrüg",
            r"\bpiraté",
        ],
        "legal": [
            r"\blawyers?\b",
            r"\battorneys?\b",
            r"\bsolicitors?\b",
            r"\blegal\s+action\b",
            # Not a bare "sue": "Sue" is also a name ("I spoke to Sue").
            r"\bsue\s+(?:you|your|them|the\s+company|this\s+company)\b",
            rf"(?:\bwill|{_APOSTROPHE}ll|\bgonna|\b(?:going|want|have|intend|plan)\s+to)\s+sue\b",
            r"\bsuing\b",
            r"\bcharge[\s-]?backs?\b",
            r"\bconsumer\s+protection\b",
            r"anw[aä]lt",
        ],
        "cancel_threat": [
            r"\bcancel(?:l?ing)?\s+my\s+(?:account|subscription|contract|membership)\b",
            r"\bnever\s+(?:order|buy|shop|purchase)(?:ing)?\s+(?:[\w']+\s+){0,3}?again\b",
            r"\bswitching\s+to\b",
        ],
        "repeat": [
            r"\bthird\s+time\b",
            r"\bagain\s+and\s+again\b",
            rf"\bstill\s+(?:no|not|nothing|waiting|haven{_APOSTROPHE}?t|hasn{_APOSTROPHE}?t)\b",
            r"\balready\s+(?:asked|wrote|written|called|emailed|contacted)\b",
            r"\bfor\s+the\s+(?:2nd|second|3rd|third|4th|fourth|5th|fifth)\s+time\b",
        ],
    }.items()
}
"""Cue name → case-insensitive pattern. Cheap and literal: negation is not understood."""


def urgency_cues(text: str) -> list[str]:
    """Names of the :data:`URGENCY_CUES` groups found in ``text``, sorted and unique.

    Only the first :data:`MAX_CUE_SCAN_CHARS` characters are searched, which also keeps long
    quoted history at the bottom of an e-mail from contributing.
    """
    head = text[:MAX_CUE_SCAN_CHARS]
    return sorted(name for name, pattern in URGENCY_CUES.items() if pattern.search(head))


def preload() -> None:
    """Build both detectors now and load the language models (call once at process start)."""
    _get_language_detector().compute_language_confidence_values(_WARMUP_TEXT)
    _get_sentiment_analyzer().polarity_scores(_WARMUP_TEXT)
