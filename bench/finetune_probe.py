"""Experiment: fine-tune only the LAST transformer layer of all-MiniLM-L6-v2 on Banking77.

At serving time the first 5 layers stay shared with the normal (frozen) embedding; only layer 6
would run twice. This probe caches, for every Banking77 text, the hidden states that go INTO the
last layer (one forward pass), then per cross-validation fold trains a copy of the last
`BertLayer` plus a cosine linear head (384 → 77) with cross-entropy, and scores the test fold:

- ``linear``: the trained head, softmax with a temperature fitted on an inner holdout of the
  training fold;
- ``temperature`` / ``knn-lexical``: `TrainedIntentModel` heads trained on the fine-tuned
  embeddings of the training fold;
- the same heads on the frozen embeddings (same folds, same run) as the baseline.

Folds and 10-per-intent sampling are those of `bench/routing.py` (`compare_methods`): 5-fold
stratified CV with seed 0, `sample_per_label(train, 10, seed=fold)`. Hyperparameters are chosen
among the configurations below by accuracy on an inner holdout of the training fold (10 % of it
for all data, 2 of the 10 examples per intent for 10-shot); the chosen one is then refitted on
the whole training fold and keeps the holdout's temperature. Not product code.

    .venv/bin/python bench/finetune_probe.py --folds 0 > /tmp/finetune_probe.log 2>&1
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from torch import nn
from torch.nn import functional as F  # noqa: N812

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/finetune_probe.py`
    sys.path.insert(0, str(ROOT))

from adapters.embeddings.sentence_transformer import default_model_path, load_model  # noqa: E402
from core.classification.intent_model import (  # noqa: E402
    Method,
    Prediction,
    TrainedIntentModel,
    fit_temperature,
    log_loss,
    sample_per_label,
)
from core.classification.metrics import evaluate  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "banking77"
BANKING = DATA / "train.csv"
TEAMS = DATA / "teams.yaml"
FOLDS = 5
FEW_SHOT = 10
THREADS = 2
ENCODE_BATCH = 64
HEAD_METHODS: tuple[Method, ...] = ("temperature", "knn-lexical")


@dataclass(frozen=True)
class Config:
    name: str
    layer_lr: float
    head_lr: float
    epochs: int
    scale: float = 20.0  # logits = scale * cosine(embedding, class weight)
    batch: int = 32
    weight_decay: float = 0.01
    warmup: float = 0.1  # share of the steps with a linear warm-up, then linear decay
    label_smoothing: float = 0.0


# layer_lr = 0: the cosine head alone on the frozen layer, a reference (never chosen).
CONFIGS: dict[str, list[Config]] = {
    "all": [
        Config("all-head-only-e4", 0.0, 5e-3, 4),
        Config("all-lr5e-5-e4", 5e-5, 5e-3, 4),
        Config("all-lr1e-4-e4", 1e-4, 5e-3, 4),
        Config("all-lr1e-4-e6", 1e-4, 5e-3, 6),
        Config("all-lr3e-4-e8", 3e-4, 5e-3, 8),  # second round: more aggressive
    ],
    "10": [
        Config("10-head-only-e30", 0.0, 1e-2, 30),
        Config("10-lr5e-5-e30", 5e-5, 1e-2, 30),
        Config("10-lr1e-4-e30", 1e-4, 1e-2, 30),
        Config("10-lr1e-4-e15", 1e-4, 1e-2, 15),
        Config("10-lr3e-4-e30-ls", 3e-4, 1e-2, 30, label_smoothing=0.1),  # second round
    ],
}
LENGTH_CHUNK = 50  # batches are formed inside chunks of 50 batches sorted by length


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def read_banking() -> tuple[list[str], list[str], dict[str, str]]:
    with BANKING.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    teams = yaml.safe_load(TEAMS.read_text(encoding="utf-8"))["teams"]
    team_of = {intent: team for team, v in teams.items() for intent in v["intents"]}
    return [r["text"] for r in rows], [r["category"] for r in rows], team_of


def additive_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) 0/1 mask → (B, 1, 1, L) additive float mask (eager and sdpa both accept it)."""
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def run_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = layer(hidden, attention_mask=additive_mask(mask))
    result: torch.Tensor = out[0] if isinstance(out, tuple) else out
    return result


def pad(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(s.shape[0] for s in states)
    hidden = torch.zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length)
    for i, s in enumerate(states):
        hidden[i, : s.shape[0]] = s.float()
        mask[i, : s.shape[0]] = 1
    return hidden, mask


def encode_cache(model: Any, texts: list[str], path: Path | None) -> tuple[list[torch.Tensor], Any]:
    """Per text the (tokens, 384) input of the last layer, and the frozen sentence vectors."""
    if path is not None and path.exists():
        cached = torch.load(path)
        if len(cached["states"]) == len(texts):
            log(f"cache read from {path}")
            return cached["states"], cached["frozen"].numpy()
    auto = model[0].auto_model
    auto.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    states: list[torch.Tensor | None] = [None] * len(texts)
    frozen = torch.zeros(len(texts), auto.config.hidden_size)
    started = time.perf_counter()
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    with torch.no_grad():
        for start in range(0, len(order), ENCODE_BATCH):
            idx = order[start : start + ENCODE_BATCH]
            features = preprocess([texts[i] for i in idx])
            out = auto(
                input_ids=features["input_ids"],
                attention_mask=features["attention_mask"],
                token_type_ids=features.get("token_type_ids"),
                output_hidden_states=True,
            )
            mask = features["attention_mask"]
            pooled = F.normalize(mean_pool(out.hidden_states[-1], mask), dim=-1)
            before = out.hidden_states[-2]
            for row, i in enumerate(idx):
                n = int(mask[row].sum())
                states[i] = before[row, :n].clone()
                frozen[i] = pooled[row]
            if start // ENCODE_BATCH % 40 == 0:
                log(f"  encoded {start + len(idx)}/{len(texts)}")
    log(f"encoded {len(texts)} texts in {time.perf_counter() - started:.0f} s")
    done = [s for s in states if s is not None]
    if path is not None:
        torch.save({"states": done, "frozen": frozen}, path)
    return done, frozen.numpy()


def check_cache(model: Any, texts: list[str], states: list[torch.Tensor], frozen: Any) -> None:
    """The last layer on the cached states must give `model.encode`'s vectors."""
    layer = model[0].auto_model.encoder.layer[-1].eval()
    sample = [0, 1, 500, 5000, len(texts) - 1]
    reference = model.encode([texts[i] for i in sample], normalize_embeddings=True)
    with torch.no_grad():
        hidden, mask = pad([states[i] for i in sample])
        again = F.normalize(mean_pool(run_layer(layer, hidden, mask), mask), dim=-1).numpy()
    log(
        f"check: |frozen - encode| max {np.abs(frozen[sample] - reference).max():.2e}, "
        f"|layer(cached) - encode| max {np.abs(again - reference).max():.2e}"
    )


class Probe(nn.Module):
    """A copy of the last layer + cosine classifier over its mean-pooled, normalised output."""

    def __init__(self, layer: nn.Module, centroids: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.layer = copy.deepcopy(layer)
        for p in self.layer.parameters():  # the shared base layer is frozen; this copy trains
            p.requires_grad_(True)
        self.weight = nn.Parameter(centroids.clone())
        self.scale = scale

    def embed(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(mean_pool(run_layer(self.layer, hidden, mask), mask), dim=-1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = self.embed(hidden, mask)
        return self.scale * e @ F.normalize(self.weight, dim=-1).T


def centroids_of(frozen: Any, y: Any, n_labels: int) -> torch.Tensor:
    c = np.zeros((n_labels, frozen.shape[1]))
    np.add.at(c, y, frozen)
    return F.normalize(torch.tensor(c, dtype=torch.float32), dim=-1)


def train_probe(
    base: nn.Module,
    states: list[torch.Tensor],
    frozen: Any,
    idx: Any,
    y: Any,
    n_labels: int,
    config: Config,
    seed: int,
) -> tuple[Probe, float]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    probe = Probe(base, centroids_of(frozen[idx], y, n_labels), config.scale)
    groups: list[dict[str, Any]] = [
        {"params": [probe.weight], "lr": config.head_lr, "weight_decay": 0.0}
    ]
    if config.layer_lr > 0:
        groups.append({"params": list(probe.layer.parameters()), "lr": config.layer_lr})
    else:
        for p in probe.layer.parameters():
            p.requires_grad_(False)
    optimiser = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    per_epoch = math.ceil(len(idx) / config.batch)
    total = per_epoch * config.epochs
    warm = max(1, int(config.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    targets = torch.tensor(y, dtype=torch.long)
    started = time.perf_counter()
    probe.train()
    if config.layer_lr == 0:
        probe.layer.eval()  # no dropout in the frozen layer
    lengths = np.asarray([states[i].shape[0] for i in idx])
    for epoch in range(config.epochs):
        losses = []
        for batch in length_batches(lengths, config.batch, rng):
            hidden, mask = pad([states[idx[b]] for b in batch])
            logits = probe(hidden, mask)
            loss = F.cross_entropy(logits, targets[batch], label_smoothing=config.label_smoothing)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        if config.epochs <= 10 or (epoch + 1) % 10 == 0:
            log(f"    epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.4f}")
    probe.eval()
    return probe, time.perf_counter() - started


def length_batches(lengths: Any, size: int, rng: np.random.Generator) -> list[Any]:
    """Shuffled batches of similar length (less padding): sort within random chunks."""
    order = rng.permutation(len(lengths))
    batches = []
    chunk = size * LENGTH_CHUNK
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + size] for i in range(0, len(part), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def embed_with(probe: Probe, states: list[torch.Tensor], idx: Any) -> tuple[Any, Any]:
    """Fine-tuned unit vectors and head logits of `idx` (length-sorted batches)."""
    order = sorted(range(len(idx)), key=lambda k: states[idx[k]].shape[0])
    vectors = np.zeros((len(idx), probe.weight.shape[1]))
    logits = np.zeros((len(idx), probe.weight.shape[0]))
    with torch.no_grad():
        w = F.normalize(probe.weight, dim=-1)
        for start in range(0, len(order), 256):
            rows = order[start : start + 256]
            hidden, mask = pad([states[idx[r]] for r in rows])
            e = probe.embed(hidden, mask)
            vectors[rows] = e.numpy()
            logits[rows] = (probe.scale * e @ w.T).numpy()
    return vectors, logits


def score(
    labels: list[str], probs: Any, truth: list[str], team_of: dict[str, str]
) -> dict[str, float]:
    top = probs.argmax(axis=1)
    predictions = [
        Prediction(label=labels[j], confidence=float(row[j]), alternatives=[])
        for j, row in zip(top, probs, strict=True)
    ]
    r = evaluate(truth, predictions, 0.0, team_of)
    assert r.team_accuracy is not None
    return {
        "accuracy": r.accuracy,
        "macro_f1": r.macro_f1,
        "team_accuracy": r.team_accuracy,
        "ece": r.ece,
    }


def softmax(z: Any) -> Any:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fmt(s: dict[str, float]) -> str:
    return (
        f"acc {100 * s['accuracy']:.2f} F1 {100 * s['macro_f1']:.2f} "
        f"team {100 * s['team_accuracy']:.2f} ECE {s['ece']:.4f}"
    )


def head_scores(
    x_train: Any,
    train_labels: list[str],
    train_texts: list[str],
    x_test: Any,
    test_texts: list[str],
    truth: list[str],
    team_of: dict[str, str],
    seed: int,
    methods: Sequence[Method],
) -> dict[str, dict[str, float]]:
    started = time.perf_counter()
    models = TrainedIntentModel.train_variants(
        x_train,
        train_labels,
        methods,
        texts=train_texts,
        seed=seed,
    )
    log(f"    heads {','.join(methods)} fitted in {time.perf_counter() - started:.0f} s")
    out: dict[str, dict[str, float]] = {}
    for method, model in models.items():
        probs = model.probabilities(x_test, texts=test_texts)
        out[method] = {
            **score(model.labels, probs, truth, team_of),
            "fit_seconds": float(model.metadata["fit_seconds"]),
        }
    return out


def run_fold(
    fold: int,
    train_idx: Any,
    test_idx: Any,
    shots: int | None,
    base: nn.Module,
    states: list[torch.Tensor],
    frozen: Any,
    texts: list[str],
    intents: list[str],
    team_of: dict[str, str],
    configs: list[Config],
    methods: Sequence[Method],
) -> dict[str, Any]:
    names = sorted(set(intents))
    y_all = np.asarray([names.index(i) for i in intents])
    if shots is not None:  # as compare_methods: sample the training fold, test fold whole
        keep = sample_per_label([intents[i] for i in train_idx], shots, seed=fold)
        train_idx = train_idx[keep]
    truth = [intents[i] for i in test_idx]
    tag = "all" if shots is None else f"{shots}-shot"
    result: dict[str, Any] = {"fold": fold, "shots": shots, "n_train": len(train_idx)}

    # Baseline: frozen vectors, same fold.
    log(f"fold {fold} {tag}: frozen baseline ({len(train_idx)} training texts)")
    result["frozen"] = head_scores(
        frozen[train_idx],
        [intents[i] for i in train_idx],
        [texts[i] for i in train_idx],
        frozen[test_idx],
        [texts[i] for i in test_idx],
        truth,
        team_of,
        fold,
        methods,
    )
    for m, s in result["frozen"].items():
        log(f"  frozen {m}: {fmt(s)}")

    # Inner holdout of the training fold: selects the configuration and fits T.
    holdout_size = 0.1 if shots is None else 2 * len(names)
    split = StratifiedShuffleSplit(1, test_size=holdout_size, random_state=fold)
    inner, hold = next(split.split(train_idx, y_all[train_idx]))
    inner_idx, hold_idx = train_idx[inner], train_idx[hold]
    frozen_probe = Probe(base, centroids_of(frozen[inner_idx], y_all[inner_idx], len(names)), 20.0)
    _, z = embed_with(frozen_probe, states, hold_idx)
    log(f"  frozen centroid cosine on holdout: acc {(z.argmax(1) == y_all[hold_idx]).mean():.4f}")
    trials = []
    for config in configs:
        log(f"  inner {config.name}: train {len(inner_idx)}, holdout {len(hold_idx)}")
        probe, seconds = train_probe(
            base, states, frozen, inner_idx, y_all[inner_idx], len(names), config, fold
        )
        _, z_hold = embed_with(probe, states, hold_idx)
        t = fit_temperature(z_hold, y_all[hold_idx])
        hold_acc = float((z_hold.argmax(1) == y_all[hold_idx]).mean())
        hold_nll = log_loss(z_hold / t, y_all[hold_idx])
        _, z_test = embed_with(probe, states, test_idx)
        test = score(names, softmax(z_test / t), truth, team_of)
        trial: dict[str, Any] = {
            "config": asdict(config),
            "train_seconds": seconds,
            "holdout_accuracy": hold_acc,
            "holdout_nll": hold_nll,
            "temperature": t,
            "test_linear_inner_model": test,
        }
        trials.append(trial)
        log(
            f"  inner {config.name}: {seconds:.0f} s, holdout acc {hold_acc:.4f} nll "
            f"{hold_nll:.4f} T {t:.3f}; test (90% model, info only) {fmt(test)}"
        )
    result["trials"] = trials
    selectable = [r for r in trials if r["config"]["layer_lr"] > 0]
    best = max(selectable, key=lambda r: (r["holdout_accuracy"], -r["holdout_nll"]))
    chosen = Config(**best["config"])
    result["chosen"] = chosen.name
    log(f"  chosen on holdout: {chosen.name} (T {best['temperature']:.3f}); refit on the fold")

    probe, seconds = train_probe(
        base, states, frozen, train_idx, y_all[train_idx], len(names), chosen, fold
    )
    result["refit_seconds"] = seconds
    x_train, _ = embed_with(probe, states, train_idx)
    x_test, z_test = embed_with(probe, states, test_idx)
    result["linear"] = score(names, softmax(z_test / best["temperature"]), truth, team_of)
    log(f"  fine-tuned linear (refit {seconds:.0f} s): {fmt(result['linear'])}")
    result["tuned_heads"] = head_scores(
        x_train,
        [intents[i] for i in train_idx],
        [texts[i] for i in train_idx],
        x_test,
        [texts[i] for i in test_idx],
        truth,
        team_of,
        fold,
        methods,
    )
    for m, s in result["tuned_heads"].items():
        log(f"  fine-tuned + {m}: {fmt(s)}")
    return result


def pooled(results: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Mean over folds (folds are near-equal in size, so ≈ pooled accuracy)."""
    values: dict[str, float] = {}
    for metric in ("accuracy", "macro_f1", "team_accuracy", "ece"):
        found = []
        for r in results:
            node: Any = r
            for k in key.split("/"):
                node = node[k]
            found.append(node[metric])
        values[metric] = float(np.mean(found))
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", default="0", help="comma-separated fold numbers (0-4)")
    parser.add_argument("--shots", default="all,10", help="'all', '10' or both")
    parser.add_argument("--configs", default="", help="comma-separated config names (default all)")
    parser.add_argument("--methods", default=",".join(HEAD_METHODS))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/finetune_probe_states.pt"))
    parser.add_argument("--json", type=Path, default=Path("/tmp/finetune_probe.json"))
    args = parser.parse_args()

    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    texts, intents, team_of = read_banking()
    model = load_model(default_model_path(), THREADS)
    states, frozen = encode_cache(model, texts, args.cache)
    frozen = np.asarray(frozen, dtype=np.float64)
    check_cache(model, texts, states, frozen)
    base = model[0].auto_model.encoder.layer[-1]
    for p in base.parameters():
        p.requires_grad_(False)

    methods = [m for m in HEAD_METHODS if m in args.methods.split(",")]
    wanted = {c for c in args.configs.split(",") if c}
    splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    splits = list(splitter.split(np.zeros(len(intents)), intents))
    out: dict[str, list[dict[str, Any]]] = {}
    for shot_name in args.shots.split(","):
        shots = None if shot_name == "all" else int(shot_name)
        configs = [c for c in CONFIGS[shot_name] if not wanted or c.name in wanted]
        for fold in (int(f) for f in args.folds.split(",")):
            train_idx, test_idx = splits[fold]
            r = run_fold(
                fold,
                train_idx,
                test_idx,
                shots,
                base,
                states,
                frozen,
                texts,
                intents,
                team_of,
                configs,
                methods,
            )
            out.setdefault(shot_name, []).append(r)
            args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    for shot_name, results in out.items():
        log(f"summary {shot_name} over folds {[r['fold'] for r in results]} (mean of folds):")
        for m in methods:
            log(f"  frozen {m}: {fmt(pooled(results, f'frozen/{m}'))}")
        log(f"  fine-tuned linear: {fmt(pooled(results, 'linear'))}")
        for m in methods:
            log(f"  fine-tuned + {m}: {fmt(pooled(results, f'tuned_heads/{m}'))}")
    log(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
