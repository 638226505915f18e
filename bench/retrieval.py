"""Retrieval quality of the KB search (dense, lexical, hybrid) and ingest throughput.

Ingests the demo KB (`demo/kb`) into a fresh embedded instance, runs the labelled queries of
`evals/datasets/retrieval/queries.jsonl` in each mode, and scores recall@1, recall@5 and MRR
at the article level. Ingest throughput (chunks/s, loaders to committed vectors) is compared
with raw `model.encode` of the same chunk texts in the same run.

    .venv/bin/python bench/retrieval.py [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/retrieval.py`
    sys.path.insert(0, str(ROOT))

from bench.common import code_version, machine, publish  # noqa: E402

QUERIES = ROOT / "evals" / "datasets" / "retrieval" / "queries.jsonl"
KB_DIR = ROOT / "demo" / "kb"
START_MARK = "<!-- bench:retrieval:start -->"
END_MARK = "<!-- bench:retrieval:end -->"
MODES = ("dense", "lexical", "hybrid")


def run(data_dir: Path) -> dict[str, object]:
    from adapters.container import Container
    from core.config import Settings
    from core.knowledge.schemas import SearchIn
    from core.knowledge.search import CANDIDATES, fuse
    from core.migrate import upgrade
    from evals.metrics import first_rank, ranking_scores
    from kb_ingest.pipeline import IngestOptions, prepare_paths
    from workers.kb import apply_prepared

    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    container = Container(settings)
    container.warm_up()

    started = time.perf_counter()
    prepared = prepare_paths([KB_DIR], IngestOptions())
    report = apply_prepared(container, prepared, source="bench")
    ingest_s = time.perf_counter() - started
    texts = [c.embedding_text for d in prepared.documents for c in d.chunks]
    model = container.embedder
    started = time.perf_counter()
    model.embed(texts)
    raw_s = time.perf_counter() - started

    queries = [json.loads(line) for line in QUERIES.read_text().splitlines() if line.strip()]
    # One dense and one lexical candidate list per query; fusion variants are computed from them.
    runs: list[tuple[dict[str, str], list[str], list[str], dict[str, str]]] = []
    latency: dict[str, list[float]] = {m: [] for m in MODES}
    with container.session(write=False) as session:
        search = container.knowledge_search(session)
        for q in queries:
            lists: dict[str, list[str]] = {}
            doc_of: dict[str, str] = {}
            for mode in MODES:
                t0 = time.perf_counter()
                out = search.search(SearchIn(query=q["query"], k=CANDIDATES, mode=mode))
                latency[mode].append((time.perf_counter() - t0) * 1000)
                lists[mode] = [h.chunk_id for h in out.hits]
                doc_of.update({h.chunk_id: h.document_id for h in out.hits})
            runs.append((q, lists["dense"], lists["lexical"], doc_of))
    container.close()

    def rank_of(ranked: list[str], doc_of: dict[str, str], expected: str) -> int | None:
        return first_rank([doc_of[c] for c in ranked], expected)

    def scores_for(subset: list[int], fused: Callable[[list[str], list[str]], list[str]]) -> Any:
        return ranking_scores(
            [
                rank_of(fused(runs[i][1], runs[i][2]), runs[i][3], runs[i][0]["article"])
                for i in subset
            ]
        )

    def hybrid(k: float, w: float) -> Callable[[list[str], list[str]], list[str]]:
        return lambda d, lx: list(fuse(d, lx, k, w))

    single = {
        "dense": lambda d, lx: d,
        "lexical": lambda d, lx: lx,
        "hybrid": hybrid(settings.kb_rrf_k, settings.kb_lexical_weight),
        "hybrid, plain RRF (k 60, weight 1)": hybrid(60, 1.0),
    }
    everything = list(range(len(runs)))
    dev = [i for i in everything if int(runs[i][0]["id"].lstrip("q")) % 2 == 1]
    test = [i for i in everything if i not in dev]
    grid = [(k, w) for k in (5, 10, 20, 60) for w in (0.2, 0.3, 0.4, 0.5, 0.7, 1.0)]
    best = max(grid, key=lambda kw: scores_for(dev, hybrid(*kw)).mrr)
    styles = sorted({q.get("style", "?") for q, *_ in runs})
    misses = []
    for q, d, lx, doc_of in runs:
        ranked = single["hybrid"](d, lx)
        rank = rank_of(ranked, doc_of, q["article"])
        if rank != 1:
            top = doc_of[ranked[0]] if ranked else None
            misses.append({"query": q["query"], "expected": q["article"], "got": top, "rank": rank})
    return {
        "documents": report.documents_added,
        "chunks": len(texts),
        "skipped": report.skipped,
        "ingest_chunks_per_s": len(texts) / ingest_s,
        "raw_chunks_per_s": len(texts) / raw_s,
        "queries": len(queries),
        "split": (len(dev), len(test)),
        "settings": (settings.kb_rrf_k, settings.kb_lexical_weight),
        "best_on_dev": best,
        "scores": {name: scores_for(everything, f) for name, f in single.items()},
        "test_scores": {name: scores_for(test, f) for name, f in single.items()},
        "styles": {
            s: {
                m: scores_for([i for i in everything if runs[i][0].get("style") == s], single[m])
                for m in MODES
            }
            for s in styles
        },
        "latency_p50": {m: sorted(latency[m])[len(latency[m]) // 2] for m in MODES},
        "misses": misses,
    }


def markdown(result: dict[str, object], command: str) -> str:
    m = machine()
    scores = result["scores"]
    assert isinstance(scores, dict)
    lines = [
        START_MARK,
        "## KB retrieval quality and ingest throughput (`bench/retrieval.py`)",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, command `{command}`, {code_version()}.",
        f"- Machine: {m['nproc']} cores, {m['cpu']}, {m['ram']} RAM; Python {m['python']}, "
        f"torch {m['torch']}, sentence-transformers {m['sentence-transformers']}. "
        f"Load average at start: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}.",
        f"- KB: `demo/kb`, {result['documents']} articles and FAQ rows, {result['chunks']} chunks "
        f"({result['skipped']} files skipped). Queries: {result['queries']} labelled by hand in "
        "`evals/datasets/retrieval/queries.jsonl`, scored at the article level (the rank of the "
        "first chunk of the expected article), top 50 chunks, public audience.",
        "",
        "| mode | recall@1 | recall@5 | MRR | MRR, held-out half | p50 latency (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    latency = result["latency_p50"]
    test_scores = result["test_scores"]
    assert isinstance(latency, dict) and isinstance(test_scores, dict)
    for mode, s in scores.items():
        lines.append(
            f"| {mode} | {s.recall_at_1:.3f} | {s.recall_at_5:.3f} | **{s.mrr:.3f}** | "
            f"{test_scores[mode].mrr:.3f} | "
            + (f"{latency[mode]:.1f}" if mode in latency else "")
            + " |"
        )
    dev_n, test_n = result["split"]  # type: ignore[misc]
    k, w = result["settings"]  # type: ignore[misc]
    best_k, best_w = result["best_on_dev"]  # type: ignore[misc]
    lines += [
        "",
        f"Hybrid = weighted reciprocal rank fusion, 1/(k + rank) for the dense list and "
        f"w/(k + rank) for BM25, with the settings' k = {k:g}, w = {w:g}. Those values were "
        f"chosen on the {dev_n} odd-numbered queries (a grid over k and w; the best there is "
        f"k = {best_k:g}, w = {best_w:g}); the held-out column scores the {test_n} even-numbered "
        "queries, which played no part in the choice. Plain RRF (k = 60, equal weights) is shown "
        "for comparison.",
    ]
    styles = result["styles"]
    assert isinstance(styles, dict)
    lines += [
        "",
        "MRR by query style:",
        "",
        "| style | n | dense | lexical | hybrid |",
        "|---|---:|---:|---:|---:|",
    ]
    for style, per_mode in styles.items():
        lines.append(
            f"| {style} | {per_mode['hybrid'].n} | "
            + " | ".join(f"{per_mode[m].mrr:.3f}" for m in MODES)
            + " |"
        )
    ingest, raw = result["ingest_chunks_per_s"], result["raw_chunks_per_s"]
    assert isinstance(ingest, float) and isinstance(raw, float)
    lines += [
        "",
        "| ingest throughput | chunks/s |",
        "|---|---:|",
        f"| `kb ingest` path (load, chunk, embed, Chroma upsert, commit) | {ingest:.1f} |",
        f"| raw `model.encode` of the same chunk texts | {raw:.1f} |",
        f"| **ratio ingest / raw** | **{ingest / raw:.2f}** |",
        "",
    ]
    misses = result["misses"]
    assert isinstance(misses, list)
    if misses:
        lines += [
            "Hybrid misses at rank 1 (first 10):",
            "",
            "| query | expected | top hit | rank |",
            "|---|---|---|---:|",
        ]
        for miss in misses[:10]:
            query = str(miss["query"]).replace("|", "/").replace("\n", " ")[:90]
            lines.append(f"| {query} | {miss['expected']} | {miss['got']} | {miss['rank']} |")
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="rewrite this file's retrieval section")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tl-retrieval-") as tmp:
        result = run(Path(tmp) / "var")
    command = "python bench/retrieval.py" + (f" --write {args.write}" if args.write else "")
    publish(markdown(result, command), args.write, START_MARK, END_MARK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
