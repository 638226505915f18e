"""Answer-consistency evals of the shipped suites: overall scores and the per-cluster table.

Runs `evals/suites/demo.yaml` (the demo company, Northwind Outfitters: every KB area, each
question asked in 4-6 ways across channels, languages and customers) with `--repeat 2`, and
`evals/suites/routing.yaml` (Banking77 and Bitext messages, routing only), through the real
pipeline exactly as `threadline evals run` does: a sandbox per suite (its own SQLite database
and Chroma store, the suite's KB ingested, a fixed clock), default settings (grounded
composer, no LLM), in a temporary data dir, so the configured instance is never touched.

    .venv/bin/python bench/evals.py [--write docs/benchmarks.md] [--json out.json]
        [--report out.html]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/evals.py`
    sys.path.insert(0, str(ROOT))

from bench.common import code_version, machine, publish  # noqa: E402

DEMO = ROOT / "evals" / "suites" / "demo.yaml"
ROUTING = ROOT / "evals" / "suites" / "routing.yaml"
START_MARK = "<!-- bench:evals:start -->"
END_MARK = "<!-- bench:evals:end -->"
REPEAT = 2

# Summary rows, in this order (the rest of METRICS is in the JSON).
ANSWER_METRICS = (
    "consistent_clusters",
    "fact_agreement",
    "fact_consistency",
    "fact_recall",
    "citation_agreement",
    "citation_accuracy",
    "semantic_agreement",
    "semantic_agreement_min",
    "faithfulness",
    "personalization",
    "public_privacy",
    "declined_offers",
    "stability",
    "recall_at_k",
    "mrr",
    "team_accuracy",
    "intent_accuracy",
    "needs_human_rate",
)
ROUTING_METRICS = ("team_accuracy", "intent_accuracy", "needs_human_rate")


def run(data_dir: Path) -> dict[str, Any]:
    """Both suites through `evals.runner.run_suites`, timed."""
    os.environ.pop("THREADLINE_LLM_BASE_URL", None)  # the default drafter: the composer
    from adapters.container import Container
    from core.config import Settings
    from evals.runner import RunOptions, run_suites
    from evals.suite import load_suite

    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    container = Container(settings)
    out: dict[str, Any] = {}
    try:
        for key, path, repeat in (("demo", DEMO, REPEAT), ("routing", ROUTING, 1)):
            started = time.perf_counter()
            doc = run_suites(container, [load_suite(path)], RunOptions(repeat=repeat))
            out[key] = {
                "doc": doc,
                "seconds": time.perf_counter() - started,
                "repeat": repeat,
                "path": str(path.relative_to(ROOT)),
            }
    finally:
        container.close()
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _share(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def summary_table(summaries: Sequence[tuple[str, Mapping[str, Any]]], keys: Sequence[str]) -> str:
    from evals.metrics import METRICS

    head = "| metric | " + " | ".join(name for name, _ in summaries) + " | what it measures |"
    rows = [head, "|---|" + "---:|" * len(summaries) + "---|"]
    for key in keys:
        cells = " | ".join(_fmt(s.get(key)) for _, s in summaries)
        rows.append(f"| `{key}` | {cells} | {METRICS.get(key, '')} |")
    return "\n".join(rows)


def cluster_rows(result: Mapping[str, Any]) -> list[str]:
    rows = [
        "| cluster | n | consistent | citation agreement | fact agreement | fact recall | "
        "semantic (mean / min) | personalization | team / intent | differing facts |",
        "|---|---:|:-:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in result["clusters"]:
        s = c["scores"]
        semantic = (
            "n/a"
            if s.get("semantic_agreement") is None
            else f"{s['semantic_agreement']:.2f} / {s['semantic_agreement_min']:.2f}"
        )
        differing = ", ".join(s.get("facts_differing") or []) or "-"
        if len(differing) > 80:
            differing = differing[:77] + "..."
        rows.append(
            f"| {c['id']} | {s['n']} | {_fmt(s.get('consistent'))} | "
            f"{_share(s.get('citation_agreement'))} | {_share(s.get('fact_agreement'))} | "
            f"{_share(s.get('fact_recall'))} | {semantic} | {_share(s.get('personalization'))} | "
            f"{_share(s.get('team_accuracy'))} / {_share(s.get('intent_accuracy'))} | "
            f"{differing} |"
        )
    return rows


def routing_rows(result: Mapping[str, Any]) -> list[str]:
    rows = [
        "| intent | clusters | variants | team accuracy | intent accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for intent, s in sorted(result["per_intent"].items()):
        rows.append(
            f"| {intent} | {s['clusters']} | {s['variants']} | {_share(s.get('team_accuracy'))} "
            f"| {_share(s.get('intent_accuracy'))} |"
        )
    return rows


def markdown(results: Mapping[str, Any], command: str, load: tuple[float, float, float]) -> str:
    demo = results["demo"]["doc"]["suites"][0]
    routing = results["routing"]["doc"]["suites"][0]
    m = machine()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    end_load = os.getloadavg()
    consistent = [c for c in demo["clusters"] if c["scores"].get("consistent")]
    answer_clusters = [c for c in demo["clusters"] if c["scores"].get("consistent") is not None]
    run_info = demo["run"]
    lines = [
        START_MARK,
        "## Answer-consistency evals (`bench/evals.py`)",
        "",
        f"- Run: {now}, command `{command}`, {code_version()}.",
        f"- Machine: {m['nproc']} cores, {m['cpu']}, {m['ram']} RAM; Python {m['python']}, "
        f"torch {m['torch']}, "
        f"sentence-transformers {m['sentence-transformers']}. Load average at start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, at end {end_load[0]:.2f} / "
        f"{end_load[1]:.2f} / {end_load[2]:.2f}.",
        f"- Setup: what `threadline evals run` does, in a fresh temporary data dir with default "
        f"settings: drafter `{run_info['drafter']}`, embeddings `{run_info['embedding_model']}`, "
        f"intent model `{run_info['intent_model']}`, {run_info['draft_kb_k']} KB passages per "
        f"draft, fixed clock {run_info['clock']}. Demo suite `{results['demo']['path']}` "
        f"(hash `{demo['suite']['hash'][:12]}`, {demo['suite']['clusters']} clusters, "
        f"{demo['suite']['variants']} variants, KB `demo/kb`: {run_info['kb_documents']} "
        f"documents, fingerprint `{run_info['kb_fingerprint']}`) with `--repeat {REPEAT}` in "
        f"{results['demo']['seconds']:.0f} s; routing suite `{results['routing']['path']}` "
        f"({routing['suite']['clusters']} clusters, {routing['suite']['variants']} variants) "
        f"in {results['routing']['seconds']:.0f} s.",
        "",
        f"**Demo suite: {len(consistent)}/{len(answer_clusters)} clusters consistent** (every "
        "variant cites the same article and states the same facts, with every expected one).",
        "",
        summary_table([("demo", demo["summary"]), ("routing", routing["summary"])], ANSWER_METRICS),
        "",
        "Definitions: `evals/metrics.py`. Facts are the canonical values of "
        "`core.drafting.facts` in the answer part of each draft (greeting, acknowledgement, "
        "call follow-up, DM invitation, the link line to the cited article and sign-off "
        "removed); the cited article itself is compared by the citation metrics. When a "
        "cluster's expected articles are all in different languages (an article and its "
        "translations), citing any of them is the same answer; any other article counts apart.",
        "",
        "Per cluster (demo suite):",
        "",
        *cluster_rows(demo),
        "",
        "Routing suite per intent:",
        "",
        *routing_rows(routing),
        END_MARK,
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="rewrite this file's evals section")
    parser.add_argument("--json", type=Path, help="also save both suites' JSON documents here")
    parser.add_argument("--report", type=Path, help="also write the demo suite's HTML report")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tl-evals-") as tmp:
        results = run(Path(tmp) / "var")
    command = "python bench/evals.py" + (f" --write {args.write}" if args.write else "")
    if args.json:
        docs = {k: v["doc"] for k, v in results.items()}
        args.json.write_text(json.dumps(docs, indent=1, default=str), encoding="utf-8")
    if args.report:
        from evals.report import render_report
        from evals.runner import comparisons

        doc = results["demo"]["doc"]
        args.report.write_text(render_report(doc["suites"], comparisons(doc)), encoding="utf-8")
    publish(markdown(results, command, load), args.write, START_MARK, END_MARK)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
