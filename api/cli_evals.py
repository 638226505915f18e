"""`threadline evals run`, `threadline kb lint`: answer-consistency evals and the KB lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

evals_app = typer.Typer(
    help="Answer-consistency evals (suites of questions).", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(2)


@evals_app.command("run")
def run(
    suites: Annotated[list[Path], typer.Argument(help="Suite YAML files.")],
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every number as JSON here ('-': stdout).")
    ] = None,
    repeat: Annotated[
        int, typer.Option(help="Run every variant N times (stability).", min=1, max=20)
    ] = 1,
    compare: Annotated[
        Path | None, typer.Option(help="An earlier --json file: report what changed.")
    ] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            help="metric=value: exit 1 when a suite scores below the bar (above it for "
            "needs_human_rate, whose bar is a maximum); a metric the suite cannot measure "
            "shows n/a and passes; an unknown metric exits 2. Repeatable.",
        ),
    ] = None,
    kb: Annotated[
        Path | None, typer.Option(help="Ingest this KB folder/file instead of the suite's.")
    ] = None,
) -> None:
    """Run suites through the real pipeline in a sandbox; exit 1 when a --fail-under bar is
    missed, 2 for bad input."""
    from evals.metrics import parse_bars
    from evals.suite import SuiteError, load_suite

    try:
        bars = parse_bars(fail_under or [])
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    loaded = []
    for path in suites:
        try:
            loaded.append(load_suite(path))
        except SuiteError as exc:
            raise _fail(str(exc)) from exc
    previous: dict[str, Any] | None = None
    if compare is not None:
        try:
            previous = json.loads(compare.read_text(encoding="utf-8"))
            assert isinstance(previous, dict) and isinstance(previous.get("suites"), list)
        except (OSError, ValueError, AssertionError) as exc:
            raise _fail(f"--compare {compare}: not a JSON file of `evals run --json`") from exc
    if kb is not None and not kb.exists():
        raise _fail(f"--kb {kb}: no such file or folder")

    from api.cli import _container
    from evals.report import render_report
    from evals.runner import EvalRunError, RunOptions, comparisons, run_suites

    container = _container()
    quiet = json_out is not None and str(json_out) == "-"
    options = RunOptions(repeat=repeat, kb=kb, bars=bars)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(suite: str, stage: str, done: int, total: int) -> None:
            key = f"{suite}: {stage}"
            if key not in tasks:
                tasks[key] = bar.add_task(key, total=total)
            bar.update(tasks[key], completed=done, total=total)

        try:
            doc = run_suites(
                container,
                loaded,
                options,
                progress,
                previous,
                baseline=str(compare) if compare is not None else None,
            )
        except EvalRunError as exc:
            raise _fail(str(exc)) from exc
    if report is not None:
        report.write_text(render_report(doc["suites"], comparisons(doc)), encoding="utf-8")
    text = json.dumps(doc, indent=1, default=str)
    if quiet:
        typer.echo(text)
    elif json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")
    if not quiet:
        _print_summary(doc)
        if report is not None:
            console.print(f"Report written to {report}")
        if json_out is not None:
            console.print(f"JSON written to {json_out}")
    if doc["missed"]:
        for line in doc["missed"]:
            err.print(f"[red]below the bar: {line}[/red]", highlight=False)
        raise typer.Exit(1)


def _print_summary(doc: dict[str, Any]) -> None:
    from evals.report import fmt

    for result in doc["suites"]:
        suite, run_info = result["suite"], result["run"]
        table = Table(
            "metric",
            "value",
            "bar",
            "",
            title=f"{suite['name']}: {suite['clusters']} clusters, {suite['variants']} variants "
            f"({run_info['drafter']}, KB v{run_info['kb_version']}, {run_info['duration_s']} s)",
        )
        deltas = (result.get("compare") or {}).get("metrics") or {}
        if deltas:
            table.add_column("change")
        for name, value in result["summary"].items():
            bar = (result.get("bars") or {}).get(name)
            verdict = ""
            if bar:
                verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]"}.get(
                    bar["passed"], "n/a"
                )
            row = [name, fmt(value), fmt(bar["bar"]) if bar else "", verdict]
            if deltas:
                d = deltas.get(name) or {}
                row.append("" if d.get("delta") is None else f"{d['delta']:+.3f} {d['trend']}")
            table.add_row(*row)
        console.print(table)
        compared = result.get("compare") or {}
        if compared and not compared.get("same_suite", True):
            console.print(
                f"The suite changed since {compared.get('baseline') or 'the previous run'} "
                "(another suite hash): clusters are compared by id.",
                highlight=False,
            )
        changes = compared.get("clusters")
        if changes:
            listed = {
                "better": changes.get("better"),
                "worse": changes.get("worse"),
                "new": changes.get("added"),
                "removed": changes.get("removed"),
            }
            console.print(
                "Clusters since the previous run: "
                + "; ".join(f"{k}: {', '.join(v) if v else 'none'}" for k, v in listed.items()),
                highlight=False,
            )
        failing = [c["id"] for c in result["clusters"] if c["scores"].get("consistent") is False]
        if failing:
            console.print(f"Clusters not consistent ({len(failing)}): {', '.join(failing)}")


def kb_lint(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="KB files or folders (default: the configured KB in the database)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    internal: Annotated[
        bool, typer.Option(help="Also lint internal (agent-only) articles.")
    ] = True,
) -> None:
    """Contradictions (same kind of fact, same context, different values) and near-duplicate
    articles in the KB; exit 1 when there is a finding."""
    from api.cli import _container, _migrate
    from evals.kb_lint import chunks_from_documents, lint

    container = _container()
    if paths:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise _fail(f"no such file or folder: {', '.join(missing)}")
        from kb_ingest.pipeline import IngestOptions, prepare_paths

        prepared = prepare_paths(
            paths, IngestOptions(max_bytes=container.settings.kb_max_file_bytes)
        )
        documents: list[Any] = prepared.documents
        source = ", ".join(str(p) for p in paths)
        chunks = chunks_from_documents(documents)
    else:
        from sqlalchemy import select
        from sqlalchemy.orm import selectinload

        from core.knowledge.models import KbDocument

        _migrate(container)
        with container.session(write=False) as session:
            documents = list(
                session.scalars(select(KbDocument).options(selectinload(KbDocument.chunks)))
            )
            chunks = chunks_from_documents(documents)
        source = "configured KB"
    if not internal:
        chunks = [c for c in chunks if c.audience != "internal"]
    with Progress(console=err, disable=as_json, transient=True) as bar:
        bar.add_task(f"Embedding {len(chunks)} chunks", total=None)
        findings = lint(chunks, container.embedder if chunks else None)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "source": source,
                    "documents": len({c.document_id for c in chunks}),
                    "chunks": len(chunks),
                    "findings": [f.to_json() for f in findings],
                }
            )
        )
    else:
        _print_findings(findings, source, len({c.document_id for c in chunks}), len(chunks))
    if findings:
        raise typer.Exit(1)


def _article(side: Any) -> str:
    """Title, id and section of one side of a finding (Rich markup, text escaped)."""
    section = f"\n[dim]{escape(side.section)}[/dim]" if side.section else ""
    return f"{escape(side.title)}\n[dim]{escape(side.document_id)}[/dim]{section}"


def _print_findings(findings: list[Any], source: str, documents: int, chunks: int) -> None:
    contradictions = [f for f in findings if f.kind == "contradiction"]
    duplicates = [f for f in findings if f.kind == "near_duplicate"]
    if contradictions:
        table = Table("kind", "article A", "says", "article B", "says", title="Contradictions")
        for f in contradictions:
            table.add_row(
                f.fact_kind or "",
                _article(f.a),
                escape(f.a.sentence),
                _article(f.b),
                escape(f.b.sentence),
            )
        console.print(table)
    if duplicates:
        table = Table(
            "article A",
            "passage",
            "article B",
            "passage",
            "cosine",
            "text ratio",
            title="Near-duplicates (the most similar passages side by side)",
        )
        for f in duplicates:
            table.add_row(
                _article(f.a),
                escape(f.a.sentence),
                _article(f.b),
                escape(f.b.sentence),
                "n/a" if f.topic_similarity is None else f"{f.topic_similarity:.3f}",
                f"{f.score:.2f}",
            )
        console.print(table)
    console.print(
        f"{source}: {documents} articles, {chunks} chunks: {len(contradictions)} "
        f"contradiction(s), {len(duplicates)} near-duplicate pair(s)."
    )
