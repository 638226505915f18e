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
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/retrieval.py`
    sys.path.insert(0, str(ROOT))

from bench.common import code_version, machine, write_section  # noqa: E402

QUERIES = ROOT / "evals" / "datasets" / "retrieval" / "queries.jsonl"
KB_DIR = ROOT / "demo" / "kb"
START_MARK = "<!-- bench:retrieval:start -->"
END_MARK = "<!-- bench:retrieval:end -->"
MODES = ("dense", "lexical", "hybrid")


def run(data_dir: Path) -> dict[str, object]:
    from adapters.container import Container
    from core.config import Settings
    from core.knowledge.schemas import SearchIn
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
    ranks: dict[str, list[int | None]] = {m: [] for m in MODES}
    by_style: dict[str, dict[str, list[int | None]]] = {m: defaultdict(list) for m in MODES}
    latency: dict[str, list[float]] = {m: [] for m in MODES}
    misses: list[dict[str, object]] = []
    with container.session(write=False) as session:
        search = container.knowledge_search(session)
        for q in queries:
            for mode in MODES:
                t0 = time.perf_counter()
                out = search.search(SearchIn(query=q["query"], k=20, mode=mode))
                latency[mode].append((time.perf_counter() - t0) * 1000)
                rank = first_rank([h.document_id for h in out.hits], q["article"])
                ranks[mode].append(rank)
                by_style[mode][q.get("style", "?")].append(rank)
                if mode == "hybrid" and rank != 1:
                    top = out.hits[0].document_id if out.hits else None
                    misses.append(
                        {
                            "id": q["id"],
                            "query": q["query"],
                            "expected": q["article"],
                            "got": top,
                            "rank": rank,
                        }
                    )
    container.close()
    scores = {m: ranking_scores(ranks[m]) for m in MODES}
    styles = sorted({s for m in MODES for s in by_style[m]})
    return {
        "documents": report.documents_added,
        "chunks": len(texts),
        "skipped": report.skipped,
        "ingest_chunks_per_s": len(texts) / ingest_s,
        "raw_chunks_per_s": len(texts) / raw_s,
        "queries": len(queries),
        "scores": scores,
        "styles": {s: {m: ranking_scores(by_style[m][s]) for m in MODES} for s in styles},
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
        "first chunk of the expected article), top 20, public audience.",
        "",
        "| mode | recall@1 | recall@5 | MRR | p50 latency (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    latency = result["latency_p50"]
    assert isinstance(latency, dict)
    for mode in MODES:
        s = scores[mode]
        lines.append(
            f"| {mode} | {s.recall_at_1:.3f} | {s.recall_at_5:.3f} | **{s.mrr:.3f}** | "
            f"{latency[mode]:.1f} |"
        )
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
    section = markdown(result, command)
    print(section)
    if args.write:
        write_section(args.write, section, START_MARK, END_MARK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
