"""Intent features from two encoders: the message vector joined with a second model's vector.

The history and KB indexes keep the one message vector; only the intent model reads the
joined vector, so a stronger (slower) second encoder buys accuracy without re-indexing.
Both halves are unit vectors, scaled by 1/sqrt(2), so the joined vector is a unit vector too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from core.classification.intent_model import IntentModel, Prediction, _matrix, _unit
from core.ports import Embedder

Array = npt.NDArray[np.float64]


def join_vectors(
    first: Sequence[Sequence[float]] | Array, second: Sequence[Sequence[float]] | Array
) -> Array:
    """Row-wise [first, second], each half scaled to unit length, over sqrt(2)."""
    a, b = _unit(_matrix(first)), _unit(_matrix(second))
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{a.shape[0]} vectors but {b.shape[0]} second vectors")
    out: Array = np.hstack([a, b]) / np.sqrt(2.0)
    return out


class JoinedEncoderModel:
    """An intent model trained on joined vectors (see `join_vectors`).

    `predict` takes the message vectors, as every intent model does, embeds the texts with
    the second encoder and classifies the joined vectors; the texts are therefore required.
    """

    def __init__(self, model: IntentModel, encoder: Embedder) -> None:
        self.model = model
        self.encoder = encoder
        self.version = model.version
        self.labels = model.labels

    def predict(
        self, vectors: Sequence[Sequence[float]] | Array, texts: Sequence[str] | None = None
    ) -> list[Prediction]:
        if texts is None:
            raise ValueError(
                f"intent model {self.version} reads {self.encoder.model_name} vectors of the "
                "message texts: pass texts=..."
            )
        if len(texts) == 0:
            return []
        joined = join_vectors(vectors, self.encoder.embed(list(texts)))
        return self.model.predict(joined, texts=texts)
