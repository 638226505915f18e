"""Intent and team accuracy with a second intent encoder joined to the message vector.

`THREADLINE_INTENT_ENCODER=all-mpnet-base-v2` (core.classification.joined): the intent model
reads [all-MiniLM-L6-v2 vector, all-mpnet-base-v2 vector] of each message. Same protocol as
`bench/routing.py` for the default head: Banking77 5-fold cross-validation on all data and on
10 per intent, team accuracy over `teams.yaml`; Bitext category and intent; what
`router train` costs on Banking77 (embedding with both models, fitting); the time to classify
one message (the second encoding plus the head).

    .venv/bin/python bench/intent_encoder.py [--write docs/benchmarks.md] [--json results.json]
        [--save-model DIR]
    .venv/bin/python bench/intent_encoder.py --from-json results.json --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/intent_encoder.py`
    sys.path.insert(0, str(ROOT))

from bench.common import code_version, machine, publish  # noqa: E402
from bench.routing import (  # noqa: E402
    BANKING,
    BITEXT,
    FEW_SHOT,
    FOLDS,
    TEAMS,
    embed_all,
    pct,
    percentile,
    rate,
    read_csv,
)

START_MARK = "<!-- bench:intent-encoder:start -->"
END_MARK = "<!-- bench:intent-encoder:end -->"
TARGETS = {"all": 0.94, str(FEW_SHOT): 0.88, "team": 0.985, "ece": 0.03}


def run(
    encoder: str, data_dir: Path, cache: Path | None, save_to: Path | None = None
) -> dict[str, Any]:
    from adapters.container import Container
    from core.classification.intent_model import (
        DEFAULT_METHOD,
        TrainedIntentModel,
        compare_methods,
    )
    from core.classification.joined import JoinedEncoderModel, join_vectors
    from core.config import Settings

    started_all = time.perf_counter()
    run_at, version = f"{datetime.now(UTC):%Y-%m-%d %H:%M}", code_version()
    load_start = os.getloadavg()
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    container = Container(settings)
    first, second = container.embedder, container.intent_encoder(encoder)
    for model in (first, second):
        model.embed(["warm-up"])

    b_texts, b_labels = read_csv(BANKING, "text", "category")
    intents = b_labels["category"]
    teams = yaml.safe_load(TEAMS.read_text(encoding="utf-8"))["teams"]
    team_of = {intent: team for team, v in teams.items() for intent in v["intents"]}
    x_text, x_labels = read_csv(BITEXT, "utterance", "category", "intent")

    b_first, b_first_s = embed_all(first, b_texts, cache, "banking")
    b_second, b_second_s = embed_all(second, b_texts, cache, f"banking-{encoder}")
    x_first, x_first_s = embed_all(first, x_text, cache, "bitext")
    x_second, x_second_s = embed_all(second, x_text, cache, f"bitext-{encoder}")
    xb, xx = join_vectors(b_first, b_second), join_vectors(x_first, x_second)

    banking: dict[str, Any] = {}
    for shots in (None, FEW_SHOT):
        t0 = time.perf_counter()
        banking[str(shots)] = compare_methods(
            xb, intents, (DEFAULT_METHOD,), FOLDS, shots, seed=0, texts=b_texts, team_of=team_of
        )[DEFAULT_METHOD]
        print(f"banking CV shots={shots}: {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    bitext: dict[str, Any] = {}
    for column in ("category", "intent"):
        bitext[column] = compare_methods(
            xx, x_labels[column], (DEFAULT_METHOD,), FOLDS, None, seed=0, texts=x_text
        )[DEFAULT_METHOD]
        bitext[column]["labels"] = len(set(x_labels[column]))

    t0 = time.perf_counter()
    trained = TrainedIntentModel.train(xb, intents, texts=b_texts, intent_encoder=encoder)
    fit_s = time.perf_counter() - t0
    if save_to is not None:  # for `bench/route_latency.py --model-dir`
        trained.save(save_to)
    joined = JoinedEncoderModel(trained, second)
    one_first, one_second, one_predict = [], [], []
    for text in b_texts[:200]:
        t0 = time.perf_counter()
        vector = first.embed([text])
        t1 = time.perf_counter()
        second.embed([text])
        t2 = time.perf_counter()
        joined.predict(vector, texts=[text])  # encodes with the second model again
        t3 = time.perf_counter()
        one_first.append((t1 - t0) * 1000)
        one_second.append((t2 - t1) * 1000)
        one_predict.append((t3 - t2) * 1000)
    return {
        "encoder": encoder,
        "first": first.model_name,
        "method": DEFAULT_METHOD,
        "banking_n": len(b_texts),
        "intents": len(set(intents)),
        "teams": len(teams),
        "bitext_n": len(x_text),
        "embed_s": {
            "banking_first": b_first_s,
            "banking_second": b_second_s,
            "bitext_first": x_first_s,
            "bitext_second": x_second_s,
        },
        "banking": banking,
        "bitext": bitext,
        "full_fit_s": fit_s,
        "one_ms": {
            "first_p50": percentile(one_first, 50),
            "second_p50": percentile(one_second, 50),
            "predict_p50": percentile(one_predict, 50),
            "predict_p99": percentile(one_predict, 99),
        },
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "total_s": time.perf_counter() - started_all,
        "run_at": run_at,
        "code_version": version,
    }


def markdown(r: dict[str, Any], command: str) -> str:
    m, e, one = machine(), r["embed_s"], r["one_ms"]
    full, few = r["banking"]["None"], r["banking"][str(FEW_SHOT)]

    def mark(value: float, target: float, high: bool = True) -> str:
        met = value >= target if high else value <= target
        return "met" if met else "missed"

    lines = [
        START_MARK,
        f"## Triage with a second intent encoder: {r['first']} + {r['encoder']} "
        "(`bench/intent_encoder.py`)",
        "",
        f"- Run: {r['run_at']} UTC, command `{command}`, {r['code_version']}; whole run "
        f"{r['total_s'] / 60:.1f} min.",
        f"- Machine: {m['nproc']} cores, {m['cpu']}, {m['ram']} RAM; torch {m['torch']}, "
        f"sentence-transformers {m['sentence-transformers']}. Load average at start "
        f"{' / '.join(f'{v:.2f}' for v in r['load_start'])}, at end "
        f"{' / '.join(f'{v:.2f}' for v in r['load_end'])}.",
        f"- `THREADLINE_INTENT_ENCODER={r['encoder']}`: the intent model reads both frozen "
        "models' vectors of a message, joined (each unit length, over √2); history and KB "
        f"search keep {r['first']}. Head: `{r['method']}` (the default), same protocol as the "
        "routing section above (5-fold stratified, seed 0, pooled out-of-fold figures).",
        f"- Embedding: Banking77 {r['banking_n']:,} texts with {r['first']} in "
        f"{rate(r['banking_n'], e['banking_first'])}, with {r['encoder']} in "
        f"{rate(r['banking_n'], e['banking_second'])}; Bitext {r['bitext_n']:,} in "
        f"{rate(r['bitext_n'], e['bitext_first'])} and "
        f"{rate(r['bitext_n'], e['bitext_second'])}.",
        "",
        "| data | training data | accuracy | macro-F1 | ECE | team accuracy | fit s / fold |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, s in (("all", full), (f"{FEW_SHOT} per intent", few)):
        lines.append(
            f"| Banking77, {r['intents']} intents | {label} | {pct(s['accuracy'])} "
            f"± {100 * s['accuracy_std']:.2f} | {pct(s['macro_f1'])} | {s['ece']:.4f} | "
            f"{pct(s['team_accuracy'])} | {s['fit_seconds']:.1f} |"
        )
    for column, s in r["bitext"].items():
        lines.append(
            f"| Bitext {column}, {s['labels']} labels | all | {pct(s['accuracy'])} "
            f"± {100 * s['accuracy_std']:.2f} | {pct(s['macro_f1'])} | {s['ece']:.4f} | | "
            f"{s['fit_seconds']:.1f} |"
        )
    lines += [
        "",
        "Issue 4's targets: accuracy ≥ 94 % on all data "
        f"({mark(full['accuracy'], TARGETS['all'])}), ≥ 88 % with {FEW_SHOT} per intent "
        f"({mark(few['accuracy'], TARGETS[str(FEW_SHOT)])}), team accuracy ≥ 98.5 % "
        f"({mark(full['team_accuracy'], TARGETS['team'])}), ECE ≤ 0.03 "
        f"({mark(max(full['ece'], few['ece']), TARGETS['ece'], high=False)}).",
        "",
        f"`router train` on all of Banking77 with this setting: embedding with both models "
        f"(above) plus {r['full_fit_s']:.0f} s of fitting. One message, p50: {r['first']} "
        f"{one['first_p50']:.1f} ms, {r['encoder']} {one['second_p50']:.1f} ms, the joined "
        f"model's predict (second encoding + head) {one['predict_p50']:.1f} ms "
        f"(p99 {one['predict_p99']:.1f} ms); `/v1/route` against raw encoding with both "
        "models is in the routing latency section.",
        END_MARK,
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="all-mpnet-base-v2")
    parser.add_argument("--write", type=Path, help="rewrite this file's section")
    parser.add_argument(
        "--cache", type=Path, help="development only: keep/reuse the vectors in this folder"
    )
    parser.add_argument("--json", type=Path, help="also save the raw results here")
    parser.add_argument("--from-json", type=Path, help="render results saved by --json")
    parser.add_argument(
        "--save-model",
        type=Path,
        help="also save the model trained on all of Banking77 in this folder (e.g. for "
        "bench/route_latency.py --model-dir)",
    )
    args = parser.parse_args()
    if args.from_json:
        result = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory(prefix="tl-intent-encoder-") as tmp:
            result = run(args.encoder, Path(tmp) / "var", args.cache, args.save_model)
        result["command"] = "python bench/intent_encoder.py" + (
            f" --write {args.write}" if args.write else ""
        )
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    publish(markdown(result, result["command"]), args.write, START_MARK, END_MARK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
