"""Intent models over message vectors: a trained calibrated classifier and a zero-shot matcher.

Both take vectors from the `Embedder` port (unit length) and return a calibrated probability for
the top label with the next best alternatives. Training, persistence and cross-validation live
here too; nothing in this module embeds text except `ZeroShotIntentModel`, once, for its
descriptions.

The trained head is a multinomial logistic regression on the frozen sentence vectors. Its
probabilities are calibrated on out-of-fold decision values of an inner cross-validation (as
`sklearn.calibration.CalibratedClassifierCV(ensemble=False)` does) by one of:

- ``knn-lexical`` (default): the ``knn-temperature`` probabilities mixed with a *lexical view*, a
  logistic regression on TF-IDF word 1-2-grams and character 2-5-grams of the raw text:
  p = (1 - w) p_knn + w p_lexical, then temperature-scaled. The weight w (0.3 / 0.4 / 0.5)
  and the temperature are chosen by log loss on the inner cross-validation, where the lexical
  regression is refitted per inner fold too. It needs the texts, not only their vectors;
- ``knn-temperature``: the logistic probabilities averaged (0.7 / 0.3) with a soft
  5-nearest-neighbour vote over the training vectors (cosine, in a PCA projection to a
  third of the dimensions), then temperature-scaled;
- ``temperature``: softmax(logits / T), one scalar T fitted by log loss;
- ``sigmoid``: Platt scaling per label, one-vs-rest, renormalised;
- ``isotonic``: isotonic regression per label, one-vs-rest, renormalised;
- ``none``: the plain softmax of the logistic regression (the uncalibrated baseline).

`bench/routing.py` compares them by 5-fold cross-validation on Banking77 (docs/benchmarks.md):
the kNN ensemble is about 0.8 point more accurate than ``temperature`` on all data and as well
calibrated (ECE < 0.02); the lexical view adds about another point on all data (it separates
intents whose messages differ by a keyword the sentence vectors blur) but nothing with 10
examples per intent; sigmoid and isotonic are less accurate and, with 77 labels, badly
calibrated after renormalisation. The fitted parameters are plain numpy arrays and lists:
``temperature`` predicts one message in tens of microseconds, the kNN ensemble in a few
hundred (it scans the projected training vectors, 5 MB for 10k examples); the lexical view
adds the TF-IDF transform of the text and keeps its vocabulary and float32 coefficients
(about 10 MB for Banking77).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import joblib
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import ThreadpoolController

from core.classification.metrics import evaluate
from core.ports import Embedder

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
F32Array = npt.NDArray[np.float32]
Method = Literal["none", "temperature", "sigmoid", "isotonic", "knn-temperature", "knn-lexical"]
METHODS: tuple[Method, ...] = (
    "none",
    "temperature",
    "sigmoid",
    "isotonic",
    "knn-temperature",
    "knn-lexical",
)
TEXT_METHODS: tuple[Method, ...] = ("knn-lexical",)  # need the texts to train and to predict
DEFAULT_METHOD: Method = "knn-lexical"

REGULARISATION_C = 30.0  # inverse L2 strength; best of 1/10/30/100 on Banking77 (unit vectors)
INNER_FOLDS = 3  # inner cross-validation that produces the calibration set
KNN_K = 5
KNN_WEIGHT = 0.3  # share of the kNN vote in the knn-temperature ensemble
KNN_VOTE_TEMPERATURE = 0.05  # neighbours vote with weight exp(cosine / 0.05)
# Neighbours are kept PCA-projected to a third of the dimensions: 3x less memory to scan per
# message (384 -> 128 for MiniLM). For joined vectors (1152 dims, core.classification.joined)
# a third beat a fixed 128 on Banking77, all data: 128 dims 93.98 %, 256 94.01 %, 384 94.09 %.
KNN_DIMENSION_SHARE = 3
LEXICAL_C = 30.0  # inverse L2 strength of the TF-IDF logistic regression
LEXICAL_WEIGHTS = (0.3, 0.4, 0.5)  # share of the lexical view, chosen by inner-CV log loss
LEXICAL_DEFAULT_WEIGHT = 0.5  # when there is no inner cross-validation to choose it
LEXICAL_VIEWS: tuple[dict[str, Any], ...] = (  # TfidfVectorizer parameters, concatenated
    {"ngram_range": (1, 2), "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True, "min_df": 2},
)
ZERO_SHOT_TEMPERATURE = 0.06  # lowest log loss and ECE on Banking77 with the intent names
ZERO_SHOT_EXAMPLES_TEMPERATURE = 0.04  # the same, with names + 5 messages per intent
FORMAT = 2  # 2: knn-lexical heads (lexical view, knn_temperature); format 1 files still load
READABLE_FORMATS = (1, 2)
ALTERNATIVES = 3
SMALL_BATCH = 16  # up to this many vectors are predicted with one BLAS thread


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """The process's BLAS/OpenMP thread pools (introspected once: ~10 ms)."""
    return ThreadpoolController()


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float  # calibrated probability of `label`
    alternatives: list[tuple[str, float]]  # next best (label, probability), up to 3


class IntentModel(Protocol):
    version: str
    labels: list[str]

    def predict(
        self, vectors: Sequence[Sequence[float]] | Array, texts: Sequence[str] | None = None
    ) -> list[Prediction]: ...


def _matrix(vectors: Sequence[Sequence[float]] | Array, dimension: int | None = None) -> Array:
    matrix = np.asarray(vectors, dtype=np.float64)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, dimension or 0)
    if matrix.ndim != 2:
        raise ValueError("expected a sequence of vectors")
    if dimension is not None and matrix.shape[1] != dimension:
        raise ValueError(f"vectors have {matrix.shape[1]} dimensions, the model {dimension}")
    return matrix


def _unit(x: Array) -> Array:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: Array = x / np.where(norms > 0, norms, 1)
    return out


def _softmax(logits: Array) -> Array:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: Array = exp / exp.sum(axis=1, keepdims=True)
    return out


def _predictions(labels: Sequence[str], probabilities: Array) -> list[Prediction]:
    out = []
    k = min(ALTERNATIVES + 1, probabilities.shape[1])
    for row in probabilities:
        top = np.argpartition(-row, k - 1)[:k] if k < row.size else np.arange(row.size)
        top = top[np.argsort(-row[top], kind="stable")]
        out.append(
            Prediction(
                label=labels[top[0]],
                confidence=float(row[top[0]]),
                alternatives=[(labels[i], float(row[i])) for i in top[1:]],
            )
        )
    return out


def log_loss(logits: Array, targets: IntArray) -> float:
    """Mean negative log-likelihood of softmax(logits) for the target columns."""
    scaled = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    return float((log_norm - scaled[np.arange(len(targets)), targets]).mean())


def fit_temperature(logits: Array, targets: IntArray) -> float:
    """The T > 0 minimising the log loss of softmax(logits / T) (golden-section on log T)."""

    def loss(log_t: float) -> float:
        return log_loss(logits / math.exp(log_t), targets)

    lo, hi = math.log(1e-3), math.log(1e3)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return math.exp((lo + hi) / 2)


def _knn_vote(train: F32Array, train_labels: IntArray, n_labels: int, queries: F32Array) -> Array:
    """Probability per label from the k most similar training vectors (cosine, soft votes)."""
    sims = (queries @ train.T).astype(np.float64)
    k = min(KNN_K, train.shape[0])
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(sims, idx, axis=1)
    weights = np.exp((top - top.max(axis=1, keepdims=True)) / KNN_VOTE_TEMPERATURE)
    votes = np.zeros((queries.shape[0], n_labels))
    rows = np.repeat(np.arange(queries.shape[0]), k)
    np.add.at(votes, (rows, train_labels[idx].ravel()), weights.ravel())
    out: Array = votes / votes.sum(axis=1, keepdims=True)
    return out


def _fit_projection(x: Array) -> tuple[Array, Array] | None:
    """Mean and top principal axes of `x` (None when projecting would not shrink it)."""
    dims = min(x.shape[1] // KNN_DIMENSION_SHARE, x.shape[0] - 1)
    if dims >= x.shape[1] or dims < 2:
        return None
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, np.ascontiguousarray(vt[:dims])


def _project(x: Array, projection: tuple[Array, Array] | None) -> F32Array:
    """Unit vectors in the projected space (float32, the neighbour table's type)."""
    if projection is not None:
        mean, axes = projection
        x = (x - mean) @ axes.T
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: F32Array = (x / np.where(norms > 0, norms, 1)).astype(np.float32)
    return out


def _fit_logistic(
    x: Array | sp.csr_matrix, y: IntArray, seed: int, c: float = REGULARISATION_C
) -> tuple[Array, Array]:
    clf = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    clf.fit(x, y)
    n_labels = int(y.max()) + 1
    if len(clf.classes_) != n_labels:  # every label has examples: guaranteed by the caller
        raise ValueError("a label has no training example")
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # two labels: sklearn fits one logit, make it a softmax pair
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def _expit_neg(u: Array) -> Array:
    """1 / (1 + exp(u)) without overflow."""
    out: Array = np.exp(-np.logaddexp(0.0, u))
    return out


def _sigmoid_params(scores: Array, hits: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """Platt scaling of one label's decision values: P(hit) = 1 / (1 + exp(a * s + b)).

    Platt's smoothed targets keep the slope finite on separable data; damped Newton steps
    on the log loss.
    """
    positives, negatives = int(hits.sum()), int((~hits).sum())
    target = np.where(hits, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(a: float, b: float) -> float:
        u = a * scores + b
        # -[t log p + (1 - t) log(1 - p)] with p = 1 / (1 + e^u)
        return float((target * np.logaddexp(0.0, u) + (1 - target) * np.logaddexp(0.0, -u)).sum())

    a, b = 0.0, math.log((negatives + 1) / (positives + 1))
    current = loss(a, b)
    for _ in range(100):
        p = _expit_neg(a * scores + b)
        g_a, g_b = float(((target - p) * scores).sum()), float((target - p).sum())
        w = p * (1 - p)
        h_aa = float((w * scores * scores).sum()) + 1e-12
        h_ab = float((w * scores).sum())
        h_bb = float(w.sum()) + 1e-12
        det = h_aa * h_bb - h_ab * h_ab
        if det <= 0:
            break
        d_a = (h_bb * g_a - h_ab * g_b) / det
        d_b = (h_aa * g_b - h_ab * g_a) / det
        step = 1.0
        while step > 1e-8:
            new = loss(a - step * d_a, b - step * d_b)
            if new <= current:
                break
            step /= 2
        else:
            break
        a, b = a - step * d_a, b - step * d_b
        if current - new < 1e-10 * max(1.0, current):
            current = new
            break
        current = new
    return a, b


@dataclass
class _Lexical:
    """The lexical view: TF-IDF (word 1-2-grams + character 2-5-grams) → logistic regression.

    Persisted as plain data (each view's vocabulary in column order and its idf, float32
    coefficients); the sklearn vectorizers are rebuilt from them on first use, also right
    after fitting, so a loaded model predicts exactly as the fitted one.
    """

    vocabularies: list[list[str]]
    idf: list[Array]
    coef: F32Array  # (labels, features)
    intercept: Array
    weight: float = LEXICAL_DEFAULT_WEIGHT  # share of the lexical view in the mixture
    weight_log_loss: dict[str, float] = field(default_factory=dict)  # inner CV, per weight
    _vectorizers: list[TfidfVectorizer] | None = field(default=None, repr=False, compare=False)
    # (features, labels), C order: a sparse row times it reads only the rows of its terms,
    # where `coef.T` (F order) made scipy copy all of it on every call (3-4 ms per message).
    _coef_t: F32Array | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(cls, texts: Sequence[str], y: IntArray, seed: int) -> _Lexical:
        vectorizers = [TfidfVectorizer(**params) for params in LEXICAL_VIEWS]
        matrix = sp.hstack([v.fit_transform(texts) for v in vectorizers], format="csr")
        coef, intercept = _fit_logistic(matrix, y, seed, LEXICAL_C)
        vocabularies = []
        for v in vectorizers:
            terms = [""] * len(v.vocabulary_)
            for term, column in v.vocabulary_.items():
                terms[column] = term
            vocabularies.append(terms)
        return cls(
            vocabularies=vocabularies,
            idf=[np.asarray(v.idf_, dtype=np.float64) for v in vectorizers],
            coef=np.ascontiguousarray(coef, dtype=np.float32),
            intercept=intercept,
        )

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        if self._vectorizers is None:
            vectorizers = []
            for params, terms, idf in zip(LEXICAL_VIEWS, self.vocabularies, self.idf, strict=True):
                fixed = {k: v for k, v in params.items() if k != "min_df"}
                v = TfidfVectorizer(**fixed, vocabulary={t: i for i, t in enumerate(terms)})
                v.idf_ = np.asarray(idf, dtype=np.float64)
                vectorizers.append(v)
            self._vectorizers = vectorizers
        matrix: sp.csr_matrix = sp.hstack(
            [v.transform(list(texts)) for v in self._vectorizers], format="csr"
        )
        return matrix

    def probabilities(self, texts: Sequence[str]) -> Array:
        if self._coef_t is None:
            self._coef_t = np.ascontiguousarray(self.coef.T)
        z = np.asarray(self.features(texts) @ self._coef_t, dtype=np.float64) + self.intercept
        return _softmax(z)

    def to_dict(self) -> dict[str, Any]:
        return {
            "vocabularies": self.vocabularies,
            "idf": self.idf,
            "coef": self.coef,
            "intercept": self.intercept,
            "weight": self.weight,
            "weight_log_loss": self.weight_log_loss,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Lexical:
        return cls(
            vocabularies=[list(v) for v in d["vocabularies"]],
            idf=list(d["idf"]),
            coef=d["coef"],
            intercept=d["intercept"],
            weight=float(d["weight"]),
            weight_log_loss=dict(d.get("weight_log_loss") or {}),
        )


@dataclass
class _Head:
    """Fitted parameters; everything is a numpy array or a float (persisted as is)."""

    method: Method
    coef: Array
    intercept: Array
    temperature: float = 1.0
    platt: Array | None = None  # (labels, 2): a, b
    iso_x: list[Array] | None = None
    iso_y: list[Array] | None = None
    neighbours: F32Array | None = None  # float32 projected training vectors (knn-temperature)
    neighbour_labels: IntArray | None = None
    projection: tuple[Array, Array] | None = None  # PCA mean and axes of the neighbours
    knn_temperature: float = 1.0  # knn-lexical: the temperature of its knn-temperature part
    lexical: _Lexical | None = None  # knn-lexical: the TF-IDF view

    def logits(self, x: Array) -> Array:
        out: Array = x @ self.coef.T + self.intercept
        return out

    def probabilities(self, x: Array, texts: Sequence[str] | None = None) -> Array:
        z = self.logits(x)
        n_labels = self.coef.shape[0]
        if self.method in ("temperature", "none"):
            return _softmax(z / self.temperature)
        if self.method in ("knn-temperature", "knn-lexical"):
            assert self.neighbours is not None and self.neighbour_labels is not None
            queries = _project(x, self.projection)
            knn = _knn_vote(self.neighbours, self.neighbour_labels, n_labels, queries)
            mixed = (1 - KNN_WEIGHT) * _softmax(z) + KNN_WEIGHT * knn
            if self.method == "knn-temperature":
                return _softmax(np.log(mixed + 1e-12) / self.temperature)
            assert self.lexical is not None
            if texts is None:
                raise ValueError("a knn-lexical intent model needs the texts to predict")
            p_knn = _softmax(np.log(mixed + 1e-12) / self.knn_temperature)
            w = self.lexical.weight
            mixed = (1 - w) * p_knn + w * self.lexical.probabilities(texts)
            return _softmax(np.log(mixed + 1e-12) / self.temperature)
        if self.method == "sigmoid":
            assert self.platt is not None
            p = _expit_neg(z * self.platt[:, 0] + self.platt[:, 1])
        else:
            assert self.iso_x is not None and self.iso_y is not None
            p = np.column_stack(
                [np.interp(z[:, j], self.iso_x[j], self.iso_y[j]) for j in range(n_labels)]
            )
        total = p.sum(axis=1, keepdims=True)
        uniform = np.full_like(p, 1 / n_labels)
        out: Array = np.where(total > 0, p / np.where(total > 0, total, 1), uniform)
        return out


def _inner_folds(y: IntArray) -> int:
    smallest = int(np.bincount(y).min())
    return max(2, min(INNER_FOLDS if smallest >= 20 else 5, smallest))


def _fit_heads(
    x: Array,
    y: IntArray,
    methods: Sequence[Method],
    seed: int,
    texts: Sequence[str] | None = None,
) -> tuple[dict[Method, _Head], dict[Method, float]]:
    """Fit the logistic regression once and calibrate it once per method (shared OOF values).

    Returns the heads and the seconds each would have taken to fit alone.
    """
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    lexical = "knn-lexical" in methods
    if lexical and texts is None:
        raise ValueError("the knn-lexical method needs the texts of the training examples")
    started = time.perf_counter()
    n_labels = int(y.max()) + 1
    coef, intercept = _fit_logistic(x, y, seed)
    calibrated = int(np.bincount(y, minlength=n_labels).min()) >= 2
    oof = np.zeros((len(y), n_labels))
    oof_knn = np.zeros_like(oof)
    oof_lexical = np.zeros_like(oof)
    knn_seconds = lexical_seconds = 0.0
    projected = None
    projection = None
    text_list = list(texts) if texts is not None else []
    if "knn-temperature" in methods or lexical:
        knn_started = time.perf_counter()
        projection = _fit_projection(x)
        projected = _project(x, projection)
        knn_seconds += time.perf_counter() - knn_started
    if calibrated:
        folds = StratifiedKFold(_inner_folds(y), shuffle=True, random_state=seed + 1)
        for fit_idx, cal_idx in folds.split(x, y):
            c, b = _fit_logistic(x[fit_idx], y[fit_idx], seed)
            oof[cal_idx] = x[cal_idx] @ c.T + b
            if projected is not None:
                knn_started = time.perf_counter()
                oof_knn[cal_idx] = _knn_vote(
                    projected[fit_idx], y[fit_idx], n_labels, projected[cal_idx]
                )
                knn_seconds += time.perf_counter() - knn_started
            if lexical:  # refitted per inner fold: its calibration values are out-of-fold too
                lexical_started = time.perf_counter()
                view = _Lexical.fit([text_list[i] for i in fit_idx], y[fit_idx], seed)
                oof_lexical[cal_idx] = view.probabilities([text_list[i] for i in cal_idx])
                lexical_seconds += time.perf_counter() - lexical_started
    lexical_view = None
    if lexical:
        lexical_started = time.perf_counter()
        lexical_view = _Lexical.fit(text_list, y, seed)
        lexical_seconds += time.perf_counter() - lexical_started
    shared = time.perf_counter() - started - knn_seconds - lexical_seconds
    heads: dict[Method, _Head] = {}
    seconds: dict[Method, float] = {}
    for method in methods:
        started = time.perf_counter()
        head = _Head(method, coef, intercept)
        if method == "temperature" and calibrated:
            head.temperature = fit_temperature(oof, y)
        elif method in ("knn-temperature", "knn-lexical"):
            head.neighbours = projected
            head.neighbour_labels = y.copy()
            head.projection = projection
            knn_temperature = 1.0
            if calibrated:
                mixed = (1 - KNN_WEIGHT) * _softmax(oof) + KNN_WEIGHT * oof_knn
                knn_temperature = fit_temperature(np.log(mixed + 1e-12), y)
            if method == "knn-temperature":
                head.temperature = knn_temperature
            else:
                assert lexical_view is not None
                head.knn_temperature = knn_temperature
                head.lexical = _mix_lexical(
                    lexical_view, knn_temperature, oof, oof_knn, oof_lexical, y, calibrated, head
                )
        elif method == "sigmoid":
            params = [
                _sigmoid_params(oof[:, j], y == j) if calibrated else (-1.0, 0.0)
                for j in range(n_labels)
            ]
            head.platt = np.asarray(params, dtype=np.float64)
        elif method == "isotonic":
            head.iso_x, head.iso_y = [], []
            for j in range(n_labels):
                if calibrated:
                    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
                    iso.fit(oof[:, j], (y == j).astype(np.float64))
                    head.iso_x.append(np.asarray(iso.X_thresholds_, dtype=np.float64))
                    head.iso_y.append(np.asarray(iso.y_thresholds_, dtype=np.float64))
                else:
                    head.iso_x.append(np.array([-1.0, 1.0]))
                    head.iso_y.append(np.array([0.0, 1.0]))
        heads[method] = head
        own = time.perf_counter() - started
        seconds[method] = shared + own
        if method in ("knn-temperature", "knn-lexical"):
            seconds[method] += knn_seconds
        if method == "knn-lexical":
            seconds[method] += lexical_seconds
    return heads, seconds


def _mix_lexical(
    view: _Lexical,
    knn_temperature: float,
    oof: Array,
    oof_knn: Array,
    oof_lexical: Array,
    y: IntArray,
    calibrated: bool,
    head: _Head,
) -> _Lexical:
    """Choose the lexical weight and the final temperature of `head` on the inner CV values.

    Every weight of `LEXICAL_WEIGHTS` gets its own temperature; the pair with the lowest log
    loss wins (without an inner CV: `LEXICAL_DEFAULT_WEIGHT` and T = 1).
    """
    view.weight = LEXICAL_DEFAULT_WEIGHT
    view.weight_log_loss = {}
    if not calibrated:
        return view
    mixed = (1 - KNN_WEIGHT) * _softmax(oof) + KNN_WEIGHT * oof_knn
    p_knn = _softmax(np.log(mixed + 1e-12) / knn_temperature)
    best = math.inf
    for w in LEXICAL_WEIGHTS:
        logits = np.log((1 - w) * p_knn + w * oof_lexical + 1e-12)
        t = fit_temperature(logits, y)
        loss = log_loss(logits / t, y)
        view.weight_log_loss[f"{w:g}"] = round(loss, 5)
        if loss < best:
            best, view.weight, head.temperature = loss, w, t
    return view


def sample_per_label(
    labels: Sequence[str], examples_per_label: int, seed: int = 0
) -> npt.NDArray[np.int64]:
    """Indices of up to `examples_per_label` random examples of every label, in input order."""
    if examples_per_label < 1:
        raise ValueError("examples_per_label must be at least 1")
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    chosen: list[int] = []
    for label in sorted(by_label):
        pool = by_label[label]
        if len(pool) <= examples_per_label:
            chosen.extend(pool)
        else:
            chosen.extend(int(i) for i in rng.choice(pool, examples_per_label, replace=False))
    return np.asarray(sorted(chosen), dtype=np.int64)


def _json_safe(value: Any) -> Any:
    """`value` without what JSON cannot hold (e.g. the predictions of a CV result)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items() if k != "predictions"}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class TrainedIntentModel:
    """Sentence vectors + calibrated multinomial logistic regression (see the module doc)."""

    def __init__(
        self, version: str, labels: list[str], head: _Head, metadata: dict[str, Any]
    ) -> None:
        self.version = version
        self.labels = labels
        self._head = head
        self.metadata = metadata

    @property
    def method(self) -> Method:
        return self._head.method

    @property
    def dimension(self) -> int:
        return int(self._head.coef.shape[1])

    @classmethod
    def train(
        cls,
        vectors: Sequence[Sequence[float]] | Array,
        labels: Sequence[str],
        *,
        examples_per_label: int | None = None,
        seed: int = 0,
        method: Method = DEFAULT_METHOD,
        embedding_model: str | None = None,
        intent_encoder: str | None = None,
        cv: Mapping[str, Any] | None = None,
        texts: Sequence[str] | None = None,
    ) -> TrainedIntentModel:
        """Fit on labelled vectors; with `examples_per_label`, on that many per label only.

        `texts` (the messages the vectors embed, same order) are needed by ``knn-lexical``
        and ignored by the other methods. `embedding_model`, `intent_encoder` (the second
        encoder of joined vectors, see `core.classification.joined`) and `cv`
        (cross-validated figures) are kept in the metadata.
        """
        return cls.train_variants(
            vectors,
            labels,
            (method,),
            texts=texts,
            examples_per_label=examples_per_label,
            seed=seed,
            embedding_model=embedding_model,
            intent_encoder=intent_encoder,
            cv=cv,
        )[method]

    @classmethod
    def train_variants(
        cls,
        vectors: Sequence[Sequence[float]] | Array,
        labels: Sequence[str],
        methods: Sequence[Method],
        *,
        texts: Sequence[str] | None = None,
        examples_per_label: int | None = None,
        seed: int = 0,
        embedding_model: str | None = None,
        intent_encoder: str | None = None,
        cv: Mapping[str, Any] | None = None,
    ) -> dict[Method, TrainedIntentModel]:
        """`train` once per method, sharing the logistic fits (for comparisons)."""
        x = _matrix(vectors)
        if len(labels) != x.shape[0]:
            raise ValueError(f"{x.shape[0]} vectors but {len(labels)} labels")
        text_list = list(texts) if texts is not None else None
        if text_list is not None and len(text_list) != x.shape[0]:
            raise ValueError(f"{x.shape[0]} vectors but {len(text_list)} texts")
        label_list = list(labels)
        if examples_per_label is not None:
            keep = sample_per_label(label_list, examples_per_label, seed)
            x, label_list = x[keep], [label_list[i] for i in keep]
            if text_list is not None:
                text_list = [text_list[i] for i in keep]
        names = sorted(set(label_list))
        if len(names) < 2:
            raise ValueError("training needs at least two labels")
        index = {name: i for i, name in enumerate(names)}
        y = np.asarray([index[label] for label in label_list], dtype=np.int64)
        heads, seconds = _fit_heads(x, y, methods, seed, text_list)
        created = datetime.now(UTC)
        models = {}
        for method, head in heads.items():
            digest = hashlib.sha256()
            digest.update(head.coef.tobytes())
            digest.update(head.intercept.tobytes())
            digest.update(f"{method}|{head.temperature}|{created.isoformat()}".encode())
            version = f"trained-{created:%Y%m%dT%H%M%S}-{digest.hexdigest()[:6]}"
            metadata: dict[str, Any] = {
                "format": FORMAT,
                "version": version,
                "created_at": created.isoformat(),
                "method": method,
                "labels": names,
                "n": len(label_list),
                "examples_per_label": examples_per_label,
                "counts": {name: int(c) for name, c in zip(names, np.bincount(y), strict=True)},
                "dimension": int(x.shape[1]),
                "embedding_model": embedding_model,
                "intent_encoder": intent_encoder,
                "temperature": head.temperature,
                "regularisation_c": REGULARISATION_C,
                "seed": seed,
                "fit_seconds": round(seconds[method], 3),
                "cv": _json_safe(cv) if cv is not None else None,
            }
            if head.lexical is not None:
                metadata["knn_temperature"] = head.knn_temperature
                metadata["lexical_weight"] = head.lexical.weight
                metadata["lexical_weight_log_loss"] = dict(head.lexical.weight_log_loss)
                metadata["lexical_features"] = int(head.lexical.coef.shape[1])
            models[method] = cls(version, names, head, metadata)
        return models

    @property
    def needs_texts(self) -> bool:
        """Whether `predict` needs the texts besides their vectors (``knn-lexical``)."""
        return self._head.method in TEXT_METHODS

    def probabilities(
        self, vectors: Sequence[Sequence[float]] | Array, texts: Sequence[str] | None = None
    ) -> Array:
        """Calibrated probabilities, one row per vector, columns in `labels` order.

        `texts` are the messages the vectors embed (same order): required by ``knn-lexical``
        models (ValueError without them), ignored by the others.
        """
        x = _matrix(vectors, self.dimension)
        if self.needs_texts:
            if texts is None:
                raise ValueError(
                    f"intent model {self.version} ({self.method}) needs the message texts "
                    "besides their vectors: pass texts=..."
                )
            if len(texts) != x.shape[0]:
                raise ValueError(f"{x.shape[0]} vectors but {len(texts)} texts")
        if x.shape[0] == 0:
            return np.zeros((0, len(self.labels)))
        if x.shape[0] > SMALL_BATCH:
            return self._head.probabilities(x, texts)
        # A few messages (the routing path): BLAS threads cost more to wake than they save,
        # above all when the embedder's threads hold the cores (23 -> 2 ms for one message).
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self._head.probabilities(x, texts)

    def predict(
        self, vectors: Sequence[Sequence[float]] | Array, texts: Sequence[str] | None = None
    ) -> list[Prediction]:
        return _predictions(self.labels, self.probabilities(vectors, texts))

    def save(self, folder: Path) -> Path:
        """Write `intent-<version>.joblib` and its `.json` metadata; never overwrites.

        Returns the model path. Saving the same version again leaves the files as they are.
        """
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"intent-{self.version}.joblib"
        meta_path = path.with_suffix(".json")
        if path.exists():
            return path
        h = self._head
        payload = {
            "format": FORMAT,
            "version": self.version,
            "labels": self.labels,
            "metadata": self.metadata,
            "head": {
                "method": h.method,
                "coef": h.coef,
                "intercept": h.intercept,
                "temperature": h.temperature,
                "platt": h.platt,
                "iso_x": h.iso_x,
                "iso_y": h.iso_y,
                "neighbours": h.neighbours,
                "neighbour_labels": h.neighbour_labels,
                "projection": h.projection,
                "knn_temperature": h.knn_temperature,
                "lexical": h.lexical.to_dict() if h.lexical is not None else None,
            },
        }
        partial = folder / f".{path.name}.partial"
        joblib.dump(payload, partial)
        try:
            with meta_path.open("x", encoding="utf-8") as fh:
                json.dump(self.metadata, fh, indent=2, sort_keys=True)
        except FileExistsError:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(path)  # the model appears last: a listed .joblib is complete
        return path

    @classmethod
    def load(cls, path: Path) -> TrainedIntentModel:
        """Load a model written by `save` (only load files you wrote: joblib unpickles)."""
        payload = joblib.load(path)
        if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
            found = payload.get("format") if isinstance(payload, dict) else None
            raise ValueError(
                f"{path} is not an intent model this version reads (format {found}; "
                f"readable: {', '.join(map(str, READABLE_FORMATS))}): retrain it"
            )
        h = payload["head"]
        lexical = h.get("lexical")
        head = _Head(
            method=h["method"],
            coef=h["coef"],
            intercept=h["intercept"],
            temperature=float(h["temperature"]),
            platt=h["platt"],
            iso_x=h["iso_x"],
            iso_y=h["iso_y"],
            neighbours=h["neighbours"],
            neighbour_labels=h["neighbour_labels"],
            projection=h.get("projection"),
            knn_temperature=float(h.get("knn_temperature", 1.0)),
            lexical=_Lexical.from_dict(lexical) if lexical is not None else None,
        )
        return cls(str(payload["version"]), list(payload["labels"]), head, payload["metadata"])


def latest_model(folder: Path) -> Path | None:
    """The most recently created model saved in `folder` (by its recorded creation time)."""
    if not folder.is_dir():
        return None

    def created(path: Path) -> tuple[str, int, str]:
        stamp = ""
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            stamp = str(meta.get("created_at", ""))
        except (OSError, ValueError):
            pass
        return stamp, path.stat().st_mtime_ns, path.name

    models = [p for p in folder.glob("intent-*.joblib") if p.is_file()]
    return max(models, key=created) if models else None


class ZeroShotIntentModel:
    """No training data: softmax over cosine similarities to one prototype per label.

    A label's prototype is its description's vector or, when the routing file gives example
    messages for it, the normalised sum of the description's and the examples' unit vectors
    (their centroid). The temperature turns cosines (which differ by a few hundredths between
    close intents) into probabilities; both defaults were chosen by log loss on Banking77:
    intent names as descriptions, and names plus 5 training messages per intent as examples.
    """

    def __init__(
        self,
        descriptions: Mapping[str, str],
        embedder: Embedder,
        temperature: float | None = None,
        examples: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if not descriptions:
            raise ValueError("zero-shot needs at least one description")
        examples = {k: list(v) for k, v in (examples or {}).items() if v}
        unknown = sorted(set(examples) - set(descriptions))
        if unknown:
            raise ValueError(f"examples for labels without a description: {unknown}")
        if temperature is None:
            temperature = ZERO_SHOT_EXAMPLES_TEMPERATURE if examples else ZERO_SHOT_TEMPERATURE
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.labels = list(descriptions)
        self.temperature = temperature
        texts = [descriptions[label] for label in self.labels]
        owners = [i for i, label in enumerate(self.labels) for _ in examples.get(label, ())]
        texts += [t for label in self.labels for t in examples.get(label, ())]
        matrix = _unit(_matrix(embedder.embed(texts)))  # one batch: descriptions, then examples
        prototypes = matrix[: len(self.labels)].copy()
        np.add.at(prototypes, owners, matrix[len(self.labels) :])
        self._descriptions: Array = _unit(prototypes)
        identity: list[Any] = [embedder.model_name, temperature, sorted(descriptions.items())]
        if examples:  # configurations without examples keep the versions they had
            identity.append(sorted(examples.items()))
        digest = hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode())
        self.version = f"zero-shot-{digest.hexdigest()[:8]}"

    def similarities(self, vectors: Sequence[Sequence[float]] | Array) -> Array:
        out: Array = _unit(_matrix(vectors, self._descriptions.shape[1])) @ self._descriptions.T
        return out

    def probabilities(
        self, vectors: Sequence[Sequence[float]] | Array, texts: Sequence[str] | None = None
    ) -> Array:
        """Softmax over the description similarities (`texts` is accepted and ignored)."""
        return _softmax(self.similarities(vectors) / self.temperature)

    def predict(
        self, vectors: Sequence[Sequence[float]] | Array, texts: Sequence[str] | None = None
    ) -> list[Prediction]:
        return _predictions(self.labels, self.probabilities(vectors))


def cross_validate(
    vectors: Sequence[Sequence[float]] | Array,
    labels: Sequence[str],
    folds: int = 5,
    examples_per_label: int | None = None,
    seed: int = 0,
    *,
    method: Method = DEFAULT_METHOD,
    team_of: Mapping[str, str] | None = None,
    keep_predictions: bool = False,
    texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Stratified k-fold figures of `TrainedIntentModel.train` (see `compare_methods`).

    JSON-ready unless `keep_predictions` adds the out-of-fold `Prediction`s.
    """
    return compare_methods(
        vectors,
        labels,
        (method,),
        folds,
        examples_per_label,
        seed,
        texts=texts,
        team_of=team_of,
        keep_predictions=keep_predictions,
    )[method]


def compare_methods(
    vectors: Sequence[Sequence[float]] | Array,
    labels: Sequence[str],
    methods: Sequence[Method] = METHODS,
    folds: int = 5,
    examples_per_label: int | None = None,
    seed: int = 0,
    *,
    texts: Sequence[str] | None = None,
    team_of: Mapping[str, str] | None = None,
    keep_predictions: bool = False,
) -> dict[Method, dict[str, Any]]:
    """Stratified k-fold cross-validation of several calibration methods on the same folds.

    With `examples_per_label`, each training fold is subsampled to that many per label (the
    test fold is kept whole). `texts` (same order as the vectors) are required when a method
    needs them (``knn-lexical``). Per method: accuracy, macro_f1, ece and team_accuracy (with
    `team_of`) over the pooled out-of-fold predictions, their per-fold values, mean fit
    seconds per fold; with `keep_predictions`, `predictions` (out-of-fold, in input order).
    """
    x = _matrix(vectors)
    label_list = list(labels)
    if len(label_list) != x.shape[0]:
        raise ValueError(f"{x.shape[0]} vectors but {len(label_list)} labels")
    text_list = list(texts) if texts is not None else None
    if text_list is None and any(m in TEXT_METHODS for m in methods):
        raise ValueError("the knn-lexical method needs the texts of the examples")
    if text_list is not None and len(text_list) != x.shape[0]:
        raise ValueError(f"{x.shape[0]} vectors but {len(text_list)} texts")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    pooled: dict[Method, list[Prediction | None]] = {m: [None] * len(label_list) for m in methods}
    per_fold: dict[Method, list[dict[str, Any]]] = {m: [] for m in methods}
    fit_seconds: list[float] = []
    for fold, (train_idx, test_idx) in enumerate(splitter.split(x, label_list)):
        train_labels = [label_list[i] for i in train_idx]
        started = time.perf_counter()
        models = TrainedIntentModel.train_variants(
            x[train_idx],
            train_labels,
            methods,
            texts=[text_list[i] for i in train_idx] if text_list is not None else None,
            examples_per_label=examples_per_label,
            seed=seed + fold,
        )
        fit_seconds.append(time.perf_counter() - started)
        truth = [label_list[i] for i in test_idx]
        test_texts = [text_list[i] for i in test_idx] if text_list is not None else None
        for method, model in models.items():
            predictions = model.predict(x[test_idx], texts=test_texts)
            result = evaluate(truth, predictions, 0.0, team_of)
            figures: dict[str, Any] = {
                "accuracy": result.accuracy,
                "macro_f1": result.macro_f1,
                "ece": result.ece,
                "team_accuracy": result.team_accuracy,
                "fit_seconds": float(model.metadata["fit_seconds"]),
            }
            if "lexical_weight" in model.metadata:
                figures["lexical_weight"] = model.metadata["lexical_weight"]
                figures["lexical_weight_log_loss"] = model.metadata["lexical_weight_log_loss"]
            per_fold[method].append(figures)
            for i, prediction in zip(test_idx, predictions, strict=True):
                pooled[method][i] = prediction
    out: dict[Method, dict[str, Any]] = {}
    for method in methods:
        predictions = [p for p in pooled[method] if p is not None]
        result = evaluate(label_list, predictions, 0.0, team_of)
        fold_figures = per_fold[method]
        out[method] = {
            "method": method,
            "folds": folds,
            "examples_per_label": examples_per_label,
            "n": len(label_list),
            "accuracy": result.accuracy,
            "macro_f1": result.macro_f1,
            "ece": result.ece,
            "team_accuracy": result.team_accuracy,
            "accuracy_std": float(np.std([f["accuracy"] or 0.0 for f in fold_figures])),
            "fit_seconds": float(np.mean([f["fit_seconds"] or 0.0 for f in fold_figures])),
            "per_fold": fold_figures,
        }
        if keep_predictions:
            out[method]["predictions"] = predictions
    return out
