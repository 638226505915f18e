"""Task wrappers of routing: training and retraining the intent model."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.routing.corrections import training_examples

if TYPE_CHECKING:
    from adapters.container import Container

log = logging.getLogger(__name__)


def save_trained(
    container: Container,
    texts: Sequence[str],
    labels: Sequence[str],
    vectors: Sequence[Sequence[float]],
    team_of: Mapping[str, str] | None,
    examples_per_label: int | None,
    figures: Mapping[str, Any],
    intent_encoder: str | None = None,
) -> tuple[Path, str]:
    """Train on everything and save a new model version with its data (for retraining).

    `vectors` are what the model reads: `Container.intent_vectors` of the texts with the
    second `intent_encoder` (None: the message vectors alone), which the model records.
    """
    from adapters.container import teams_sidecar
    from core.classification.intent_model import TrainedIntentModel

    model = TrainedIntentModel.train(
        vectors,
        list(labels),
        texts=list(texts),
        examples_per_label=examples_per_label,
        embedding_model=container.embedder.model_name,
        intent_encoder=intent_encoder,
    )
    folder = container.settings.models_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = model.save(folder)
    if team_of:
        teams_sidecar(path).write_text(json.dumps(dict(team_of), indent=1))
    data_file(path).write_text(
        "\n".join(
            json.dumps({"text": t, "label": lab}) for t, lab in zip(texts, labels, strict=True)
        )
    )
    (path.with_name(path.name.split(".")[0] + ".figures.json")).write_text(
        json.dumps(figures, default=str, indent=1)
    )
    return path, model.version


def data_file(model_path: Path) -> Path:
    """The training examples saved beside a model."""
    return model_path.with_name(model_path.name.split(".")[0] + ".data.jsonl")


def retrain(container: Container) -> str | None:
    """Task `router.retrain`: the newest model's examples plus agents' corrections → a new
    version (with the same second intent encoder, if any). Returns the version, or None when
    there is no trained model to start from."""
    from adapters.container import teams_sidecar
    from core.classification.intent_model import latest_model

    base = latest_model(container.settings.models_dir)
    if base is None or not data_file(base).exists():
        log.warning("no trained model with saved examples to retrain from")
        return None
    rows = [json.loads(line) for line in data_file(base).read_text().splitlines() if line]
    with container.session(write=False) as session:
        corrections = training_examples(session)
    texts = [r["text"] for r in rows] + [t for t, _ in corrections]
    labels = [r["label"] for r in rows] + [lab for _, lab in corrections]
    # The same second encoder as the model it retrains: retraining adds examples only.
    encoder = json.loads(base.with_suffix(".json").read_text()).get("intent_encoder")
    vectors = container.intent_vectors(texts, container.embedder.embed(texts), encoder)
    teams = teams_sidecar(base)
    team_of = json.loads(teams.read_text()) if teams.exists() else None
    _, version = save_trained(
        container,
        texts,
        labels,
        vectors,
        team_of,
        None,
        {"corrections": len(corrections)},
        encoder,
    )
    log.info("retrained %s with %d corrections", version, len(corrections))
    return version


def retrain_handler(container: Container, request_ids: Sequence[str]) -> list[str]:
    """Local-queue handler: one retraining however many requests are waiting."""
    retrain(container)
    return []
