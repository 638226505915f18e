"""`threadline route`, `threadline router train|eval`: routing from the command line."""

from __future__ import annotations

import csv
import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

router_app = typer.Typer(help="Train and evaluate the intent model.", no_args_is_help=True)
console = Console()

TextCol = Annotated[str, typer.Option("--text-column", help="Column with the message text.")]
LabelCol = Annotated[str, typer.Option("--label-column", help="Column with the intent label.")]
TeamsOpt = Annotated[
    Path | None, typer.Option("--teams", help="YAML mapping teams to intents (team accuracy).")
]


def read_labelled(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and labels of a CSV; exits with a clear message when columns are missing."""
    if not path.is_file():
        console.print(f"[red]{path}: no such file[/red]")
        raise typer.Exit(2)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in (text_column, label_column) if c not in columns]
        if missing:
            found = ", ".join(columns)
            console.print(f"[red]{path}: no column {', '.join(missing)}; columns: {found}[/red]")
            raise typer.Exit(2)
        rows = [
            (r[text_column], r[label_column]) for r in reader if r[text_column] and r[label_column]
        ]
    if not rows:
        console.print(f"[red]{path}: no labelled rows[/red]")
        raise typer.Exit(2)
    return [t for t, _ in rows], [lab for _, lab in rows]


def embed_all(
    container: Any, texts: list[str], quiet: bool, *, intent_encoder: str | None = None
) -> list[Any]:
    """The message vectors of `texts`, joined with the second `intent_encoder`'s if given."""
    vectors: list[Any] = []
    with Progress(disable=quiet, console=console) as bar:
        task = bar.add_task("Embedding", total=len(texts))
        for start in range(0, len(texts), 256):
            chunk = texts[start : start + 256]
            chunk_vectors = container.embedder.embed(chunk)
            if intent_encoder:
                chunk_vectors = container.intent_vectors(chunk, chunk_vectors, intent_encoder)
            vectors += list(chunk_vectors)
            bar.update(task, completed=len(vectors))
    return vectors


def teams_map(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    from core.routing.config import load_teams_yaml

    return {intent: team for team, cfg in load_teams_yaml(path).items() for intent in cfg.intents}


@router_app.command("train")
def train(
    data: Annotated[Path, typer.Argument(help="Labelled CSV.")],
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    teams: TeamsOpt = None,
    examples_per_label: Annotated[
        int | None, typer.Option(help="Train on at most N examples per label.")
    ] = None,
    include_corrections: Annotated[
        bool, typer.Option(help="Add agents' re-routes (with an intent) as examples.")
    ] = False,
    folds: Annotated[int, typer.Option(help="Cross-validation folds (0: skip).", min=0)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Train the intent model on labelled history; prints cross-validated figures."""
    from api.cli import _container, _migrate
    from workers.routing import save_trained

    container = _container()
    texts, labels = read_labelled(data, text_column, label_column)
    if include_corrections:
        from core.routing.corrections import training_examples

        _migrate(container)
        with container.session(write=False) as session:
            extra = training_examples(session)
        texts += [t for t, _ in extra]
        labels += [lab for _, lab in extra]
    encoder = container.settings.intent_encoder
    if encoder:
        from core.errors import DomainError

        try:
            container.intent_encoder(encoder)
        except DomainError as exc:
            console.print(f"[red]THREADLINE_INTENT_ENCODER: {exc.message}[/red]")
            raise typer.Exit(2) from exc
    vectors = embed_all(container, texts, as_json, intent_encoder=encoder)
    figures: dict[str, Any] = {"n": len(texts), "labels": len(set(labels))}
    if folds >= 2:
        from core.classification.intent_model import cross_validate

        figures["cross_validation"] = cross_validate(
            vectors, labels, folds=folds, examples_per_label=examples_per_label, texts=texts
        )
    path, version = save_trained(
        container, texts, labels, vectors, teams_map(teams), examples_per_label, figures, encoder
    )
    figures.update({"model_version": version, "path": str(path)})
    if as_json:
        typer.echo(json.dumps(figures, default=str))
        return
    cv = figures.get("cross_validation") or {}
    console.print(
        f"Trained {version} on {figures['n']} examples, {figures['labels']} intents: {path}"
    )
    if cv:
        console.print(
            f"{folds}-fold cross-validation: accuracy {cv.get('accuracy', 0):.3f}, "
            f"macro-F1 {cv.get('macro_f1', 0):.3f}, ECE {cv.get('ece', 0):.3f}"
        )


@router_app.command("eval")
def evaluate_cmd(
    data: Annotated[Path, typer.Argument(help="Labelled CSV.")],
    text_column: TextCol = "text",
    label_column: LabelCol = "label",
    teams: TeamsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
) -> None:
    """Score the current model (the newest trained one, else zero-shot) on a labelled file."""
    from api.cli import _container
    from core.classification.metrics import evaluate
    from core.classification.report import render_html

    container = _container()
    texts, labels = read_labelled(data, text_column, label_column)
    triager = container.triager()
    vectors = embed_all(container, texts, as_json)
    predictions = triager.model.predict(vectors, texts=texts)
    latencies = []
    for text in texts[:50]:  # one message at a time, as /v1/route sees it
        started = time.perf_counter()
        triager.model.predict(container.embedder.embed([text]), texts=[text])
        latencies.append((time.perf_counter() - started) * 1000)
    team_of = teams_map(teams)
    result = evaluate(labels, predictions, triager.config.abstain_below, team_of)
    summary = result.to_json(latency_ms_p50=statistics.median(latencies))
    if report is not None:
        report.write_text(render_html(result, f"Intent model {triager.model.version}"))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        console.print(f"{key:>24}: {value}")
    if report is not None:
        console.print(f"Report written to {report}")
