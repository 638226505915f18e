"""Intent models: training, calibration, persistence, versions, sampling, zero-shot."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from adapters.container import Container
from core.classification.intent_model import (
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


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str]]:
    return synthetic()


@pytest.mark.parametrize("method", METHODS)
def test_train_predicts_calibrated_probabilities(
    data: tuple[np.ndarray, list[str]], method: Method
) -> None:
    x, y = data
    model = TrainedIntentModel.train(x, y, method=method)
    assert model.labels == sorted(LABELS)
    assert model.method == method
    probabilities = model.probabilities(x)
    assert probabilities.shape == (len(y), len(LABELS))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities >= 0).all()
    predictions = model.predict(x.tolist())  # plain lists work as well as arrays
    assert np.mean([p.label == t for p, t in zip(predictions, y, strict=True)]) > 0.9
    for p, row in zip(predictions, probabilities, strict=True):
        assert 0.0 <= p.confidence <= 1.0
        assert p.confidence == pytest.approx(row.max())
        assert len(p.alternatives) == 3
        assert p.label not in [label for label, _ in p.alternatives]
        scores = [p.confidence] + [s for _, s in p.alternatives]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0)  # 4 labels: top + 3 alternatives is all


def test_predict_handles_empty_and_checks_dimension(data: tuple[np.ndarray, list[str]]) -> None:
    x, y = data
    model = TrainedIntentModel.train(x, y)
    assert model.predict([]) == []
    with pytest.raises(ValueError, match="dimensions"):
        model.predict([[0.1] * 5])


def test_two_labels_and_bad_input() -> None:
    x, y = synthetic(per_label=10)
    keep = [i for i, label in enumerate(y) if label in ("refund", "delivery")]
    model = TrainedIntentModel.train(x[keep], [y[i] for i in keep])
    p = model.predict(x[keep])
    assert {q.label for q in p} == {"refund", "delivery"}
    assert all(len(q.alternatives) == 1 for q in p)
    assert all(q.confidence + q.alternatives[0][1] == pytest.approx(1.0) for q in p)
    with pytest.raises(ValueError, match="two labels"):
        TrainedIntentModel.train(x[:5], ["one"] * 5)
    with pytest.raises(ValueError, match="labels"):
        TrainedIntentModel.train(x[:5], ["a", "b"])


def test_save_load_same_predictions_and_metadata(
    tmp_path: Path, data: tuple[np.ndarray, list[str]]
) -> None:
    x, y = data
    model = TrainedIntentModel.train(x, y, embedding_model="test-model", cv={"accuracy": 0.9})
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
    loaded = TrainedIntentModel.load(path)
    assert loaded.version == model.version
    assert loaded.labels == model.labels
    assert np.array_equal(loaded.probabilities(x), model.probabilities(x))
    assert loaded.predict(x[:3]) == model.predict(x[:3])
    # saving the same version again changes nothing
    before = path.stat().st_mtime_ns
    assert model.save(tmp_path / "models") == path
    assert path.stat().st_mtime_ns == before
    assert not list((tmp_path / "models").glob(".*partial"))


def test_versions_differ_and_latest_model_is_the_newest(
    tmp_path: Path, data: tuple[np.ndarray, list[str]]
) -> None:
    x, y = data
    folder = tmp_path / "models"
    assert latest_model(folder) is None
    folder.mkdir()
    assert latest_model(folder) is None
    first = TrainedIntentModel.train(x, y)
    second = TrainedIntentModel.train(x, y)  # same data, a moment later
    assert first.version != second.version
    first_path, second_path = first.save(folder), second.save(folder)
    assert first_path != second_path
    assert first_path.exists() and second_path.exists()
    assert latest_model(folder) == second_path
    # the recorded creation time decides, not the file's modification time
    os.utime(first_path, (2e9, 2e9))
    assert latest_model(folder) == second_path
    third = TrainedIntentModel.train(x[:40], y[:40])
    assert latest_model(folder) == second_path  # not saved yet
    third_path = third.save(folder)
    assert latest_model(folder) == third_path


def test_sample_per_label_and_examples_per_label(data: tuple[np.ndarray, list[str]]) -> None:
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

    model = TrainedIntentModel.train(x, y, examples_per_label=3, seed=1)
    assert model.metadata["n"] == 12
    assert model.metadata["examples_per_label"] == 3
    assert model.metadata["counts"] == {label: 3 for label in sorted(LABELS)}


def test_cross_validate(data: tuple[np.ndarray, list[str]]) -> None:
    x, y = data
    teams = {"card_lost": "security", "refund": "billing", "delivery": "billing"}
    result = cross_validate(x, y, folds=4, team_of=teams, keep_predictions=True)
    assert result["n"] == len(y)
    assert len(result["per_fold"]) == 4
    assert len(result["predictions"]) == len(y)
    assert {p.label for p in result["predictions"]} <= set(LABELS)
    assert 0.8 < result["accuracy"] <= 1.0
    assert 0.0 <= result["ece"] <= 1.0
    assert result["team_accuracy"] >= result["accuracy"]
    assert result["fit_seconds"] > 0
    # each training fold (15 per label) is cut to 2 per label; the test folds stay whole
    few = cross_validate(x, y, folds=4, examples_per_label=2)
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
    p = model.predict(embedder.embed(["refund please", "parcel late", "card gone"]))
    assert [q.label for q in p] == ["refund", "delivery", "lost_card"]
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
