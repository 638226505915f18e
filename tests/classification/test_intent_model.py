"""Intent models: training, calibration, lexical view, persistence, versions, sampling,
zero-shot."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
import pytest

from adapters.container import Container
from core.classification.intent_model import (
    DEFAULT_METHOD,
    METHODS,
    IntentModel,
    Method,
    TrainedIntentModel,
    ZeroShotIntentModel,
    cross_validate,
    fit_temperature,
    latest_model,
    sample_per_label,
)
from core.config import Settings

LABELS = ("card_lost", "refund", "delivery", "password")
WORDS = {  # words a message of each label tends to use (the lexical view's material)
    "card_lost": ("card", "lost", "stolen", "wallet"),
    "refund": ("refund", "money", "back", "charge"),
    "delivery": ("parcel", "delivery", "arrived", "tracking"),
    "password": ("password", "login", "reset", "locked"),
}
FILLER = ("please", "help", "hi", "today", "my", "the", "again", "urgent", "thanks", "now")


def synthetic(
    per_label: int = 20, dim: int = 16, seed: int = 0, spread: float = 0.35
) -> tuple[np.ndarray, list[str]]:
    """Unit vectors around one random centre per label (overlapping a little)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(LABELS), dim))
    vectors, labels = [], []
    for i, label in enumerate(LABELS):
        points = centres[i] + spread * np.linalg.norm(centres[i]) * rng.normal(
            size=(per_label, dim)
        ) / np.sqrt(dim)
        vectors.append(points)
        labels += [label] * per_label
    x = np.vstack(vectors)
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def texts_for(labels: Sequence[str], seed: int = 0, keyword_share: float = 1.0) -> list[str]:
    """A short message per label: one or two of its words among filler words.

    With `keyword_share` < 1, the other messages carry only filler words.
    """
    rng = np.random.default_rng(seed)
    out = []
    for label in labels:
        words = list(rng.choice(FILLER, size=3))
        if rng.random() < keyword_share:
            words += list(rng.choice(WORDS[label], size=int(rng.integers(1, 3)), replace=False))
        rng.shuffle(words)
        out.append(" ".join(str(w) for w in words))
    return out


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str]]:
    return synthetic()


@pytest.fixture(scope="module")
def texts(data: tuple[np.ndarray, list[str]]) -> list[str]:
    return texts_for(data[1])


@pytest.mark.parametrize("method", METHODS)
def test_train_predicts_calibrated_probabilities(
    data: tuple[np.ndarray, list[str]], texts: list[str], method: Method
) -> None:
    x, y = data
    model = TrainedIntentModel.train(x, y, method=method, texts=texts)
    assert model.labels == sorted(LABELS)
    assert model.method == method
    probabilities = model.probabilities(x, texts)
    assert probabilities.shape == (len(y), len(LABELS))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities >= 0).all()
    predictions = model.predict(x.tolist(), texts=texts)  # plain lists work as well as arrays
    assert np.mean([p.label == t for p, t in zip(predictions, y, strict=True)]) > 0.9
    for p, row in zip(predictions, probabilities, strict=True):
        assert 0.0 <= p.confidence <= 1.0
        assert p.confidence == pytest.approx(row.max())
        assert len(p.alternatives) == 3
        assert p.label not in [label for label, _ in p.alternatives]
        scores = [p.confidence] + [s for _, s in p.alternatives]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0)  # 4 labels: top + 3 alternatives is all


def test_predict_handles_empty_and_checks_dimension(
    data: tuple[np.ndarray, list[str]], texts: list[str]
) -> None:
    x, y = data
    model = TrainedIntentModel.train(x, y, texts=texts)
    assert model.method == DEFAULT_METHOD
    assert model.predict([], texts=[]) == []
    with pytest.raises(ValueError, match="dimensions"):
        model.predict([[0.1] * 5], texts=["card lost"])
    with pytest.raises(ValueError, match="texts"):
        model.predict(x[:2], texts=["only one"])


@pytest.mark.parametrize("method", METHODS)
def test_two_labels_and_bad_input(method: Method) -> None:
    x, y = synthetic(per_label=10)
    keep = [i for i, label in enumerate(y) if label in ("refund", "delivery")]
    labels = [y[i] for i in keep]
    texts = texts_for(labels)
    model = TrainedIntentModel.train(x[keep], labels, texts=texts, method=method)
    p = model.predict(x[keep], texts=texts)
    assert {q.label for q in p} == {"refund", "delivery"}
    assert all(len(q.alternatives) == 1 for q in p)
    assert all(q.confidence + q.alternatives[0][1] == pytest.approx(1.0) for q in p)
    with pytest.raises(ValueError, match="two labels"):
        TrainedIntentModel.train(x[:5], ["one"] * 5, texts=["a"] * 5)
    with pytest.raises(ValueError, match="labels"):
        TrainedIntentModel.train(x[:5], ["a", "b"], texts=["a"] * 5)
    with pytest.raises(ValueError, match="texts"):
        TrainedIntentModel.train(x[keep], labels, texts=texts[:3], method=method)


def test_knn_lexical_needs_the_texts(data: tuple[np.ndarray, list[str]], texts: list[str]) -> None:
    x, y = data
    with pytest.raises(ValueError, match="knn-lexical method needs the texts"):
        TrainedIntentModel.train(x, y, method="knn-lexical")
    with pytest.raises(ValueError, match="knn-lexical method needs the texts"):
        cross_validate(x, y, folds=4, method="knn-lexical")
    model = TrainedIntentModel.train(x, y, method="knn-lexical", texts=texts)
    assert model.needs_texts
    with pytest.raises(ValueError, match="needs the message texts"):
        model.predict(x[:3])
    with pytest.raises(ValueError, match="needs the message texts"):
        model.probabilities(x[:3])
    # the vector-only methods ignore texts, given or not
    plain = TrainedIntentModel.train(x, y, method="knn-temperature")
    assert not plain.needs_texts
    assert plain.predict(x[:3]) == plain.predict(x[:3], texts=texts[:3])


def test_lexical_view_fixes_what_the_vectors_confuse() -> None:
    """Two labels whose vectors coincide, but whose messages use different words: the
    vectors alone can only guess between them, the lexical view tells them apart."""
    x, y = synthetic(per_label=40, seed=3)
    blurred = x.copy()
    card = [i for i, label in enumerate(y) if label == "card_lost"]
    refund = [i for i, label in enumerate(y) if label == "refund"]
    blurred[refund] = blurred[card]  # the embedder sees no difference between the two
    texts = texts_for(y, seed=4)
    train = np.array([i % 4 != 0 for i in range(len(y))])
    test = ~train
    tr_labels = [lab for lab, t in zip(y, train, strict=True) if t]
    te_labels = [lab for lab, t in zip(y, test, strict=True) if t]
    tr_texts = [s for s, t in zip(texts, train, strict=True) if t]
    te_texts = [s for s, t in zip(texts, test, strict=True) if t]
    vectors_only = TrainedIntentModel.train(blurred[train], tr_labels, method="knn-temperature")
    lexical = TrainedIntentModel.train(
        blurred[train], tr_labels, method="knn-lexical", texts=tr_texts
    )

    def accuracy(model: TrainedIntentModel, label: str) -> float:
        predictions = model.predict(blurred[test], texts=te_texts)
        pairs = [(p.label, t) for p, t in zip(predictions, te_labels, strict=True) if t == label]
        return sum(p == t for p, t in pairs) / len(pairs)

    for label in ("card_lost", "refund"):
        assert accuracy(lexical, label) >= 0.9
    confused = (accuracy(vectors_only, "card_lost") + accuracy(vectors_only, "refund")) / 2
    assert confused <= 0.75  # about a coin toss between the two
    # the other labels stay right, and a confused message is not over-confident
    assert accuracy(lexical, "delivery") >= 0.9
    unsure = vectors_only.predict(blurred[test][:1], texts=te_texts[:1])[0]
    if unsure.label in ("card_lost", "refund"):
        assert unsure.confidence < 0.8
    meta = lexical.metadata
    assert meta["lexical_weight"] in (0.3, 0.4, 0.5)
    assert set(meta["lexical_weight_log_loss"]) == {"0.3", "0.4", "0.5"}
    assert meta["lexical_features"] > 0


def test_save_load_same_predictions_and_metadata(
    tmp_path: Path, data: tuple[np.ndarray, list[str]], texts: list[str]
) -> None:
    x, y = data
    model = TrainedIntentModel.train(
        x, y, texts=texts, embedding_model="test-model", cv={"accuracy": 0.9}
    )
    path = model.save(tmp_path / "models")
    assert path.name == f"intent-{model.version}.joblib"
    assert re.fullmatch(r"trained-\d{8}T\d{6}-[0-9a-f]{6}", model.version)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["labels"] == sorted(LABELS)
    assert meta["n"] == len(y)
    assert meta["version"] == model.version
    assert meta["embedding_model"] == "test-model"
    assert meta["cv"] == {"accuracy": 0.9}
    assert meta["created_at"]
    assert meta["method"] == "knn-lexical"
    assert meta["lexical_weight"] in (0.3, 0.4, 0.5)
    loaded = TrainedIntentModel.load(path)
    assert loaded.version == model.version
    assert loaded.labels == model.labels
    assert loaded.method == "knn-lexical"
    assert np.array_equal(loaded.probabilities(x, texts), model.probabilities(x, texts))
    assert loaded.predict(x[:3], texts=texts[:3]) == model.predict(x[:3], texts=texts[:3])
    unseen = ["my wallet was stolen with the card", "zzz qqq"]  # unknown words are fine
    assert loaded.predict(x[:2], texts=unseen) == model.predict(x[:2], texts=unseen)
    with pytest.raises(ValueError, match="needs the message texts"):
        loaded.predict(x[:3])
    payload = joblib.load(path)
    assert payload["format"] == 2
    assert payload["head"]["lexical"]["coef"].dtype == np.float32
    # saving the same version again changes nothing
    before = path.stat().st_mtime_ns
    assert model.save(tmp_path / "models") == path
    assert path.stat().st_mtime_ns == before
    assert not list((tmp_path / "models").glob(".*partial"))


def test_format_1_models_still_load_and_unknown_formats_fail_clearly(
    tmp_path: Path, data: tuple[np.ndarray, list[str]]
) -> None:
    x, y = data
    model = TrainedIntentModel.train(x, y, method="knn-temperature")
    path = model.save(tmp_path / "models")
    payload = joblib.load(path)
    payload["format"] = 1  # what the previous version wrote: no lexical view, no knn T
    del payload["head"]["lexical"], payload["head"]["knn_temperature"]
    old = tmp_path / "old.joblib"
    joblib.dump(payload, old)
    loaded = TrainedIntentModel.load(old)
    assert loaded.method == "knn-temperature"
    assert np.array_equal(loaded.probabilities(x), model.probabilities(x))
    payload["format"] = 99
    joblib.dump(payload, old)
    with pytest.raises(ValueError, match="format 99.*retrain"):
        TrainedIntentModel.load(old)


def test_versions_differ_and_latest_model_is_the_newest(
    tmp_path: Path, data: tuple[np.ndarray, list[str]]
) -> None:
    x, y = data
    folder = tmp_path / "models"
    assert latest_model(folder) is None
    folder.mkdir()
    assert latest_model(folder) is None
    first = TrainedIntentModel.train(x, y, method="temperature")
    second = TrainedIntentModel.train(x, y, method="temperature")  # same data, a moment later
    assert first.version != second.version
    first_path, second_path = first.save(folder), second.save(folder)
    assert first_path != second_path
    assert first_path.exists() and second_path.exists()
    assert latest_model(folder) == second_path
    # the recorded creation time decides, not the file's modification time
    os.utime(first_path, (2e9, 2e9))
    assert latest_model(folder) == second_path
    third = TrainedIntentModel.train(x[:40], y[:40], method="temperature")
    assert latest_model(folder) == second_path  # not saved yet
    third_path = third.save(folder)
    assert latest_model(folder) == third_path


def test_sample_per_label_and_examples_per_label(
    data: tuple[np.ndarray, list[str]], texts: list[str]
) -> None:
    x, y = data
    idx = sample_per_label(y, 3, seed=1)
    assert Counter(y[i] for i in idx) == {label: 3 for label in LABELS}
    assert list(idx) == sorted(idx)
    assert np.array_equal(idx, sample_per_label(y, 3, seed=1))
    assert not np.array_equal(idx, sample_per_label(y, 3, seed=2))
    small = ["a", "a", "b"]
    assert list(sample_per_label(small, 5)) == [0, 1, 2]  # fewer than asked: all of them
    with pytest.raises(ValueError):
        sample_per_label(y, 0)

    model = TrainedIntentModel.train(x, y, texts=texts, examples_per_label=3, seed=1)
    assert model.metadata["n"] == 12
    assert model.metadata["examples_per_label"] == 3
    assert model.metadata["counts"] == {label: 3 for label in sorted(LABELS)}


def test_cross_validate(data: tuple[np.ndarray, list[str]], texts: list[str]) -> None:
    x, y = data
    teams = {"card_lost": "security", "refund": "billing", "delivery": "billing"}
    result = cross_validate(x, y, folds=4, texts=texts, team_of=teams, keep_predictions=True)
    assert result["method"] == DEFAULT_METHOD
    assert result["n"] == len(y)
    assert len(result["per_fold"]) == 4
    assert len(result["predictions"]) == len(y)
    assert {p.label for p in result["predictions"]} <= set(LABELS)
    assert 0.8 < result["accuracy"] <= 1.0
    assert 0.0 <= result["ece"] <= 1.0
    assert result["team_accuracy"] >= result["accuracy"]
    assert result["fit_seconds"] > 0
    # each training fold (15 per label) is cut to 2 per label; the test folds stay whole
    assert all(f["lexical_weight"] in (0.3, 0.4, 0.5) for f in result["per_fold"])
    few = cross_validate(x, y, folds=4, examples_per_label=2, texts=texts)
    assert few["n"] == len(y)
    assert few["examples_per_label"] == 2
    assert "predictions" not in few
    json.dumps(few)  # `router train --json` prints it as it is


def test_fit_temperature_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(scale=3.0, size=(4000, 5))
    p = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    targets = np.array([rng.choice(5, p=row) for row in p])
    # the model's logits are 4x too sharp: the fitted temperature should undo it
    assert fit_temperature(true_logits * 4, targets) == pytest.approx(4.0, rel=0.1)


class FakeEmbedder:
    """Maps each text to the unit vector of the first keyword it contains."""

    KEYWORDS = ("card", "refund", "parcel", "password")

    @property
    def model_name(self) -> str:
        return "fake"

    @property
    def dimension(self) -> int:
        return len(self.KEYWORDS) + 1

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            v = [0.0] * self.dimension
            hits = [i for i, k in enumerate(self.KEYWORDS) if k in text.lower()]
            v[hits[0] if hits else -1] = 1.0
            out.append(v)
        return out


def test_zero_shot_with_a_fake_embedder() -> None:
    embedder = FakeEmbedder()
    descriptions = {
        "lost_card": "My card is lost",
        "refund": "I want a refund",
        "delivery": "Where is my parcel",
    }
    model: IntentModel = ZeroShotIntentModel(descriptions, embedder)
    assert model.labels == list(descriptions)
    assert model.version.startswith("zero-shot-")
    messages = ["refund please", "parcel late", "card gone"]
    p = model.predict(embedder.embed(messages))
    assert [q.label for q in p] == ["refund", "delivery", "lost_card"]
    assert model.predict(embedder.embed(messages), texts=messages) == p  # texts: ignored
    assert all(q.confidence > 0.99 for q in p)
    assert sum([p[0].confidence] + [s for _, s in p[0].alternatives]) == pytest.approx(1.0)
    # the version follows the descriptions
    other = ZeroShotIntentModel({**descriptions, "refund": "money back"}, embedder)
    assert other.version != model.version
    assert ZeroShotIntentModel(descriptions, embedder).version == model.version


@pytest.mark.slow
def test_zero_shot_with_the_real_embedder(tmp_path: Path) -> None:
    embedder = Container(Settings(_env_file=None, data_dir=tmp_path)).embedder  # type: ignore[call-arg]
    descriptions = {
        "lost_or_stolen_card": "lost or stolen card",
        "request_refund": "request a refund for a purchase",
        "delivery_status": "where is my parcel, delivery is late",
        "reset_password": "forgot my password, cannot log in",
    }
    model = ZeroShotIntentModel(descriptions, embedder)
    messages = [
        "Someone stole my wallet with my Visa card in it",
        "I would like my money back for the shoes I returned",
        "My package still has not arrived after two weeks",
        "I can't sign in, I don't remember my password",
    ]
    predictions = model.predict(embedder.embed(messages))
    assert [p.label for p in predictions] == list(descriptions)
    for p in predictions:
        total = p.confidence + sum(s for _, s in p.alternatives)
        assert total == pytest.approx(1.0)
        assert p.confidence > 0.5


def test_zero_shot_examples_move_the_prototype() -> None:
    """A description the embedder cannot place gets its meaning from the examples."""
    embedder = FakeEmbedder()
    descriptions = {"refund": "money matters", "delivery": "Where is my parcel"}
    plain = ZeroShotIntentModel(descriptions, embedder)
    assert plain.predict(embedder.embed(["refund please"]))[0].confidence == pytest.approx(0.5)
    model = ZeroShotIntentModel(
        descriptions, embedder, examples={"refund": ["I want a refund", "refund me"]}
    )
    (p,) = model.predict(embedder.embed(["refund please"]))
    assert p.label == "refund" and p.confidence > 0.99
    assert model.predict(embedder.embed(["parcel late"]))[0].label == "delivery"
    assert model.temperature < plain.temperature  # the examples default
    assert model.version != plain.version
    # no examples (or empty lists) is the description-only model, same version
    assert ZeroShotIntentModel(descriptions, embedder, examples={"refund": []}).version == (
        plain.version
    )
    with pytest.raises(ValueError, match="without a description"):
        ZeroShotIntentModel(descriptions, embedder, examples={"cancel": ["cancel it"]})
