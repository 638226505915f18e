"""Language, sentiment and urgency-cue signals: behaviour, robustness and thread safety."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.classification import signals
from core.classification.signals import (
    LanguageGuess,
    SentimentScore,
    detect_language,
    sentiment,
    urgency_cues,
)


@pytest.fixture(scope="module", autouse=True)
def _preloaded() -> Iterator[None]:
    signals.preload()
    yield


# --- language ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Where is my parcel? It was supposed to arrive on Monday.", "en"),
        ("Wo ist mein Paket? Es sollte am Montag ankommen.", "de"),
        ("Où est mon colis ? Il devait arriver lundi.", "fr"),
        ("¿Dónde está mi paquete? Debía llegar el lunes.", "es"),
        ("Dov'è il mio pacco? Doveva arrivare lunedì.", "it"),
        ("Waar is mijn pakket? Het zou maandag aankomen.", "nl"),
        ("Где моя посылка? Она должна была прийти в понедельник.", "ru"),
        ("私の荷物はどこですか？月曜日に届くはずでした。", "ja"),
        ("我的包裹在哪里？它应该在星期一到达。", "zh"),
        ("أين طردي؟ كان من المفترض أن يصل يوم الاثنين.", "ar"),
    ],
)
def test_detects_clear_languages(text: str, code: str) -> None:
    guess = detect_language(text)
    assert guess.code == code
    assert signals.LANGUAGE_CONFIDENCE_THRESHOLD <= guess.confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Thank you merci danke gracias", id="mixed"),
        pytest.param("hello bonjour hallo hola ciao", id="mixed-greetings"),
        pytest.param("ok", id="short"),
        pytest.param("Hi", id="short-hi"),
        pytest.param("a", id="one-letter"),
        pytest.param("🙂🙂", id="emoji"),
        pytest.param("12345 678, 90.00 €", id="numbers"),
        pytest.param("", id="empty"),
        pytest.param("   \n\t ", id="whitespace"),
        pytest.param("שלום, ההזמנה שלי לא הגיעה", id="unsupported-script-hebrew"),
    ],
)
def test_unsure_or_letterless_text_has_no_language(text: str) -> None:
    guess = detect_language(text)
    assert guess.code is None
    assert 0.0 <= guess.confidence < signals.LANGUAGE_CONFIDENCE_THRESHOLD


def test_only_the_head_of_a_long_text_is_analysed() -> None:
    english = "Please help me, my parcel never arrived and nobody answers my mails. "
    german = "Bitte helfen Sie mir, mein Paket ist nie angekommen und niemand antwortet. "
    text = english * (signals.MAX_ANALYSED_CHARS // len(english) + 1) + german * 1_500
    assert len(text) > 100_000
    assert detect_language(text).code == "en"
    assert detect_language(german * 1_500).code == "de"


# --- sentiment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("This is absolutely terrible, I am furious and your service is the worst!", "negative"),
        ("I hate this. You charged me twice and nobody helps. Awful!!!", "negative"),
        ("Thank you so much, you were amazing and the product is great!", "positive"),
        ("Love it, works perfectly :)", "positive"),
        ("What are your opening hours on Saturday?", "neutral"),
        ("The parcel is in Berlin.", "neutral"),
    ],
)
def test_sentiment_labels(text: str, label: str) -> None:
    score = sentiment(text)
    assert score.label == label
    assert -1.0 <= score.score <= 1.0
    if label == "positive":
        assert score.score >= 0.05
    elif label == "negative":
        assert score.score <= -0.05
    else:
        assert -0.05 < score.score < 0.05


def test_sentiment_sees_emoji_in_any_language() -> None:
    assert sentiment("🙂🙂").label == "positive"
    assert sentiment("Danke!!! 😊").label == "positive"


def test_sentiment_of_empty_text_is_neutral_zero() -> None:
    assert sentiment("") == SentimentScore(label="neutral", score=0.0)
    assert sentiment(" \n ") == SentimentScore(label="neutral", score=0.0)


# --- urgency cues --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("This is URGENT, please call me", "urgent"),
        ("Need this fixed asap", "urgent"),
        ("Cancel it immediately.", "urgent"),
        ("I need the money right now", "urgent"),
        ("It's an emergency", "urgent"),
        ("Bitte dringend zurückrufen", "urgent"),
        ("Bitte sofort sperren", "urgent"),
        ("C'est une urgence", "urgent"),
        ("Es urgente, por favor", "urgent"),
        ("Where is my refund!!!", "urgent"),
        ("My account was hacked", "security"),
        ("My card was stolen yesterday", "security"),
        ("I think this is fraud", "security"),
        ("There is a fraudulent charge", "security"),
        ("An unauthorised payment left my account", "security"),
        ("Unauthorized transaction on my card", "security"),
        ("Someone logged into my account from Brazil", "security"),
        ("someone accessed my profile", "security"),
        ("I got a phishing mail that looked like you", "security"),
        ("Mein Konto wurde gehackt", "security"),
        ("Das ist Betrug!", "security"),
        ("Mon compte a été piraté", "security"),
        ("My lawyer will contact you", "legal"),
        ("I have instructed a solicitor", "legal"),
        ("I will take legal action", "legal"),
        ("I will sue you", "legal"),
        ("I'm going to sue the company", "legal"),
        ("I'll file a chargeback with my bank", "legal"),
        ("I'm contacting consumer protection", "legal"),
        ("Ich schalte meinen Anwalt ein", "legal"),
        ("Mein Rechtsanwalt meldet sich", "legal"),
        ("Please cancel my subscription", "cancel_threat"),
        ("I want to cancel my account now", "cancel_threat"),
        ("cancel my contract", "cancel_threat"),
        ("I will never order again", "cancel_threat"),
        ("never buy from you again", "cancel_threat"),
        ("I'm switching to your competitor", "cancel_threat"),
        ("This is the third time I write", "repeat"),
        ("I asked again and again", "repeat"),
        ("Still no answer", "repeat"),
        ("It is still not working", "repeat"),
        ("still waiting for my refund", "repeat"),
        ("I already asked last week", "repeat"),
        ("I already wrote to you", "repeat"),
        ("I already called twice", "repeat"),
        ("Writing for the 2nd time", "repeat"),
        ("for the second time", "repeat"),
    ],
)
def test_each_cue_is_found(text: str, cue: str) -> None:
    assert urgency_cues(text) == [cue]


@pytest.mark.parametrize(
    "text",
    [
        "Could you send me the invoice when convenient?",
        "Thanks, everything arrived in good order!",
        "The emergent behaviour of the app is interesting.",  # not "urgent"/"emergency"
        "I paid with Sofortüberweisung.",  # the payment brand, not "sofort"
        "Wow!! Great service",  # two exclamation marks only
        "I stole a glance at the new catalogue.",  # not "stolen"
        "Der Betrag betrug 50 Euro.",  # verb "betrug" (amounted to), not "Betrug" (fraud)
        "Pirates of the Caribbean DVD arrived",  # English "pirate", not "piraté"
        "I spoke to Sue at your front desk, she was lovely.",  # name, not "sue"
        "I have an issue I want to pursue with you.",  # "sue" inside other words
        "Can I cancel my order before it ships?",  # an order, not the account/contract
        "I will order again next month.",
        "Is this the first time you ship to Norway?",
        "I already received the parcel.",
        "The lawn mower works great.",  # "law" but not "lawyer"
    ],
)
def test_no_cue_in_ordinary_text(text: str) -> None:
    assert urgency_cues(text) == []


def test_cues_are_sorted_and_unique() -> None:
    text = (
        "URGENT!!! Someone accessed my account, this is fraud. I already called twice, "
        "still no answer. Fix it immediately or my lawyer will sue you and I'll cancel my "
        "account."
    )
    assert urgency_cues(text) == ["cancel_threat", "legal", "repeat", "security", "urgent"]


def test_cues_ignore_text_beyond_the_scan_limit() -> None:
    text = "x" * signals.MAX_CUE_SCAN_CHARS + " urgent"
    assert urgency_cues(text) == []
    assert urgency_cues("urgent " + text) == ["urgent"]


# --- robustness ----------------------------------------------------------------------------

ODD_INPUTS = [
    pytest.param("", id="empty"),
    pytest.param("🙂🙂", id="emoji-only"),
    pytest.param("👨‍👩‍👧‍👦🏳️‍🌈🇩🇪", id="emoji-zwj-flags"),
    pytest.param("Mon compte a été piraté, c'est urgent !!! " * 2_500, id="100KB"),
    pytest.param("a" * 100_000, id="100KB-one-letter"),
    pytest.param("\x00\x01\x07 help \x1b[31m red \x7f\x85\x9f", id="control-chars"),
    pytest.param("broken \ud800 surrogate \udfff here", id="lone-surrogates"),
    pytest.param("Hello, ich brauche Hilfe mit meiner commande, por favor. 谢谢", id="mixed"),
    pytest.param("مرحبا، طلبي لم يصل بعد. שלום, ההזמנה שלי", id="rtl"),
    pytest.param("\u202eorder 123\u202c مرحبا \u200f refund \u200e", id="bidi-marks"),
    pytest.param("z\u0351\u0352\u0357a\u0300\u0301\u0302l\u0303go", id="combining-marks"),
    pytest.param("\u200b\u200c\u200d\ufeff", id="zero-width-only"),
    pytest.param("!!!???...,,,", id="punctuation-only"),
    pytest.param("\U0010ffff\U000e0001\ufffd", id="private-and-tags"),
]


@pytest.mark.parametrize("text", ODD_INPUTS)
def test_odd_inputs_do_not_crash(text: str) -> None:
    guess = detect_language(text)
    assert isinstance(guess, LanguageGuess)
    assert guess.code is None or (len(guess.code) == 2 and guess.code.islower())
    assert 0.0 <= guess.confidence <= 1.0

    score = sentiment(text)
    assert score.label in ("negative", "neutral", "positive")
    assert -1.0 <= score.score <= 1.0

    cues = urgency_cues(text)
    assert cues == sorted(set(cues))
    assert set(cues) <= set(signals.URGENCY_CUES)


def test_odd_inputs_give_sensible_answers() -> None:
    assert detect_language("👨‍👩‍👧‍👦🏳️‍🌈🇩🇪").code is None
    assert detect_language("\u200b\u200c\u200d\ufeff").code is None
    assert detect_language("\x00\x01 Bitte helfen Sie mir, mein Paket ist weg \x07").code == "de"
    with_surrogates = "\ud800 Mais où est mon colis \udfff ? Il devait arriver lundi."
    assert detect_language(with_surrogates).code == "fr"
    assert detect_language("مرحبا، طلبي لم يصل بعد").code == "ar"
    long_french = "Mon compte a été piraté, c'est urgent !!! " * 2_500
    assert detect_language(long_french).code == "fr"
    assert urgency_cues(long_french) == ["security", "urgent"]


# --- threads -------------------------------------------------------------------------------

THREAD_TEXTS = [
    "Where is my parcel? It was supposed to arrive on Monday.",
    "Wo ist mein Paket? Es sollte am Montag ankommen.",
    "Où est mon colis ? Il devait arriver lundi.",
    "¿Dónde está mi paquete? Debía llegar el lunes.",
    "URGENT!!! Someone accessed my account, I will call my lawyer",
    "Thank you so much, you were amazing!",
    "🙂🙂",
    "",
    "Где моя посылка?",
]


def _all_signals(text: str) -> tuple[LanguageGuess, SentimentScore, list[str]]:
    guess = detect_language(text)
    # lingua's confidences can differ in the last bits between calls; compare them rounded.
    rounded = LanguageGuess(code=guess.code, confidence=round(guess.confidence, 6))
    return rounded, sentiment(text), urgency_cues(text)


def test_concurrent_calls_agree_with_sequential_ones() -> None:
    expected = [_all_signals(text) for text in THREAD_TEXTS]
    work = THREAD_TEXTS * 25
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(_all_signals, work))
    assert results == expected * 25


def test_lazy_initialisation_builds_each_detector_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built_detector = signals._get_language_detector()
    built_analyzer = signals._get_sentiment_analyzer()
    calls = {"language": 0, "sentiment": 0}
    counter_lock = threading.Lock()

    def slow_language_builder() -> object:
        with counter_lock:
            calls["language"] += 1
        time.sleep(0.05)  # widen the race window
        return built_detector

    def slow_sentiment_builder() -> object:
        with counter_lock:
            calls["sentiment"] += 1
        time.sleep(0.05)
        return built_analyzer

    monkeypatch.setattr(signals, "_language_detector", None)
    monkeypatch.setattr(signals, "_sentiment_analyzer", None)
    monkeypatch.setattr(signals, "_build_language_detector", slow_language_builder)
    monkeypatch.setattr(signals, "_build_sentiment_analyzer", slow_sentiment_builder)

    start = threading.Barrier(8)

    def call(text: str) -> tuple[LanguageGuess, SentimentScore, list[str]]:
        start.wait()
        return _all_signals(text)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, THREAD_TEXTS[:8]))

    assert calls == {"language": 1, "sentiment": 1}
    assert results[1][0].code == "de"
    assert results[4][2] == ["legal", "security", "urgent"]
