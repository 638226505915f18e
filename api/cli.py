"""The `threadline` command line (Typer)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from adapters.container import Container, set_container
from api.cli_evals import evals_app, kb_lint
from api.cli_routing import router_app
from core.config import Settings

app = typer.Typer(
    help="Threadline: one thread per customer across every channel.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
kb_app = typer.Typer(help="The knowledge base: ingest, search, lint.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(router_app, name="router")
app.add_typer(evals_app, name="evals")
kb_app.command("lint")(kb_lint)
console = Console()

HostOpt = Annotated[str | None, typer.Option(help="Listen address (default THREADLINE_HOST).")]
PortOpt = Annotated[int | None, typer.Option(help="Listen port (default THREADLINE_PORT).")]


def _container(**overrides: Any) -> Container:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    container = Container(settings)
    set_container(container)
    return container


def _migrate(container: Container) -> None:
    from core.migrate import upgrade

    container.settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(container.settings.resolved_database_url)


def server_config(app: Any, settings: Settings, **overrides: Any) -> Any:
    """The uvicorn config of `threadline run/api`: our host, port and log level, and the
    proxy headers (X-Forwarded-Proto/-For) of THREADLINE_FORWARDED_ALLOW_IPS trusted, so that
    behind a TLS-terminating proxy the app sees https (and the console's cookie is Secure)."""
    import uvicorn

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
    return uvicorn.Config(app, **(options | overrides))


def _serve(container: Container) -> None:
    import uvicorn

    from api.app import create_app

    server = uvicorn.Server(server_config(create_app(container), container.settings))
    try:
        server.run()
    except KeyboardInterrupt:  # as uvicorn.run does
        pass
    if not server.started:  # e.g. the port is taken: uvicorn logged why
        raise typer.Exit(3)


@app.command()
def run(host: HostOpt = None, port: PortOpt = None) -> None:
    """Embedded all-in-one: migrate, make an admin key if none exists, serve API + workers."""
    from core.auth.service import create_key, has_admin_key

    container = _container(host=host, port=port, queue="local")
    _migrate(container)
    with container.session() as session:
        if not has_admin_key(session):
            _, token = create_key(session, "admin", "local admin", container.clock.now())
            session.commit()
            console.print(
                "[bold]Admin API key (shown once, keep it):[/bold] " + token, highlight=False
            )
    console.print(f"Data in {container.settings.data_dir.resolve()}")
    _serve(container)


@app.command()
def api(host: HostOpt = None, port: PortOpt = None) -> None:
    """Serve the HTTP API (with in-process workers when THREADLINE_QUEUE=local)."""
    _serve(_container(host=host, port=port))


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Celery worker processes (prefork if > 1).")] = 1,
    beat: Annotated[bool, typer.Option(help="Also run the sweeper schedule (Celery beat).")] = True,
) -> None:
    """Run a worker: a Celery worker (queue=celery) or in-process threads draining the DB."""
    container = _container()
    s = container.settings
    if s.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(s.worker_metrics_port, addr=s.host)
    if s.queue == "celery":
        from workers.celery_app import app as celery_app
        from workers.celery_app import warm_up

        if concurrency == 1:
            warm_up()  # the solo pool runs tasks in this process

        from adapters.queue.celery_queue import QUEUE, SWEEP_QUEUE

        argv = ["worker", "--loglevel", s.log_level.upper(), "-Q", f"{QUEUE},{SWEEP_QUEUE}"]
        argv += [
            "--pool",
            "prefork" if concurrency > 1 else "solo",
            "--concurrency",
            str(concurrency),
        ]
        if beat:
            argv += ["--beat", "--schedule", str(s.data_dir / "celerybeat-schedule")]
            s.data_dir.mkdir(parents=True, exist_ok=True)
        celery_app.worker_main(argv)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    container.start_local_workers()
    console.print("Local worker running (Ctrl-C to stop).")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        container.close()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    container = _container()
    _migrate(container)
    console.print("Database is up to date.")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, integration, agent or knowledge_manager")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "cli",
    team: Annotated[
        list[str] | None,
        typer.Option(
            help="A routing team the agent belongs to (repeat for several); the console's "
            "queue shows these teams by default. None: every team."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an API key; it is printed once and stored hashed."""
    from core.auth.service import create_key
    from core.errors import DomainError

    container = _container()
    with container.session() as session:
        try:
            key, token = create_key(
                session,
                role,
                name,
                container.clock.now(),
                teams=team or (),
                known_teams=container.routing_config.team_names if team else None,
            )
        except DomainError as exc:
            console.print(f"[red]{exc.message}[/red]", highlight=False)
            raise typer.Exit(2) from exc
        session.commit()
    if as_json:
        out = {"id": key.id, "name": key.name, "role": key.role, "teams": key.teams, "key": token}
        typer.echo(json.dumps(out))
    else:
        teams = f" (teams: {', '.join(key.teams)})" if key.teams else ""
        console.print(f"{key.role} key for {key.name!r}{teams}: {token}", highlight=False)


@kb_app.command("ingest")
def kb_ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    prune: Annotated[
        bool, typer.Option(help="Remove articles whose files are gone from these folders.")
    ] = False,
    tags: Annotated[str, typer.Option(help="Comma-separated tags added to every article.")] = "",
    audience: Annotated[
        str | None, typer.Option(help="Force the audience: public or internal.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest Markdown, HTML, text, PDF and FAQ CSV/JSON files (unchanged files cost nothing)."""
    if audience not in (None, "public", "internal"):
        console.print("[red]--audience must be public or internal[/red]")
        raise typer.Exit(2)
    container = _container()
    _migrate(container)
    report = ingest_paths(
        container,
        paths,
        prune=prune,
        tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
        audience=audience,
        progress=not as_json,
    )
    if as_json:
        typer.echo(report.model_dump_json())
        return
    _print_report(report)


def ingest_paths(
    container: Container,
    paths: list[Path],
    prune: bool = False,
    tags: tuple[str, ...] = (),
    audience: str | None = None,
    progress: bool = True,
) -> Any:
    """Load, embed and apply files with Rich progress bars; returns the IngestReport."""
    from rich.progress import Progress

    from kb_ingest.loaders import discover
    from kb_ingest.pipeline import IngestOptions
    from workers.kb import ingest_files

    options = IngestOptions(tags, audience, container.settings.kb_max_file_bytes)
    with Progress(disable=not progress, console=console) as bar:
        reading = bar.add_task(
            "Reading files", total=len(discover([p for p in paths if p.exists()]))
        )
        embedding = bar.add_task("Embedding new chunks", total=None)
        return ingest_files(
            container,
            paths,
            options,
            prune=prune,
            on_file=lambda _: bar.advance(reading),
            on_embedded=lambda done, total: bar.update(embedding, completed=done, total=total),
        )


def _print_report(report: Any) -> None:
    from rich.table import Table

    table = Table("file", "status", "documents", "+chunks", "-chunks", "reason")
    for f in report.files:
        table.add_row(
            f.source,
            f.status,
            str(len(f.documents)),
            str(f.chunks_added),
            str(f.chunks_removed),
            f.reason or "",
        )
    console.print(table)
    state = f"KB version {report.kb_version}" + ("" if report.changed else " (nothing changed)")
    console.print(
        f"{state}: {report.documents_added} added, {report.documents_updated} updated, "
        f"{report.documents_unchanged} unchanged, {report.documents_removed} removed, "
        f"{report.skipped} skipped; {report.chunks_embedded} chunks embedded."
    )


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="What a customer would write.")],
    k: Annotated[int, typer.Option(help="How many chunks.", min=1, max=50)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    internal: Annotated[bool, typer.Option(help="Include internal (agent-only) articles.")] = False,
    tag: Annotated[list[str] | None, typer.Option(help="Only articles with this tag.")] = None,
    language: Annotated[str | None, typer.Option(help="Only articles in this language.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the knowledge base the way the drafter does."""
    from pydantic import ValidationError

    from core.knowledge.schemas import SearchIn

    container = _container()
    _migrate(container)
    try:
        request = SearchIn.model_validate(
            {
                "query": query,
                "k": k,
                "mode": mode,
                "filters": {
                    "tags": tag or [],
                    "audience": "all" if internal else "public",
                    "language": language,
                },
            }
        )
    except ValidationError as exc:
        console.print(f"[red]{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}[/red]")
        raise typer.Exit(2) from exc
    with container.session(write=False) as session:
        result = container.knowledge_search(session).search(request)
    if as_json:
        typer.echo(result.model_dump_json())
        return
    from rich.table import Table

    table = Table(
        "#", "score", "article", "section", "text", title=f"KB version {result.kb_version}"
    )
    for rank, hit in enumerate(result.hits, 1):
        snippet = " ".join(hit.text.split())[:160]
        table.add_row(
            str(rank),
            f"{hit.score:.4f}",
            f"{hit.title}\n[dim]{hit.document_id}[/dim]",
            " > ".join(hit.heading_path),
            snippet,
        )
    console.print(table)


@app.command()
def route(
    text: Annotated[str, typer.Argument(help="The message.")],
    channel: Annotated[str, typer.Option(help="Channel it came from.")] = "email",
    subject: Annotated[str | None, typer.Option(help="Email subject.")] = None,
    email: Annotated[str | None, typer.Option(help="Sender email (to find the customer).")] = None,
    phone: Annotated[str | None, typer.Option(help="Sender phone.")] = None,
    handle: Annotated[str | None, typer.Option(help="Sender handle, e.g. facebook:123.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where would this message go? The same triage as POST /v1/route."""
    from pydantic import ValidationError

    from api.routes.routing import route_with
    from core.errors import DomainError
    from core.routing.schemas import RouteIn

    container = _container()
    _migrate(container)
    sender = {k: v for k, v in {"email": email, "phone": phone, "handle": handle}.items() if v}
    try:
        item = RouteIn.model_validate(
            {"channel": channel, "text": text, "subject": subject, "sender": sender or None}
        )
        result = route_with(container, [item])[0]
    except ValidationError as exc:
        console.print(f"[red]{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}[/red]")
        raise typer.Exit(2) from exc
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(result.model_dump_json())
        return
    console.print(
        f"[bold]{result.team.name}[/bold] ({result.team.confidence:.2f}), priority "
        f"{result.priority}; intent {result.intent.label} ({result.intent.confidence:.2f})"
        + (" — abstained" if result.abstained else "")
    )
    console.print(f"language {result.language}, sentiment {result.sentiment}, cues {result.cues}")
    for reason in result.reasons:
        console.print(f"  - {reason}")
    for hit in result.kb:
        console.print(f"  KB: {hit.title} ({hit.document_id})")


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Load the sample company (customers, accounts, messages over every channel)."""
    from demo.loader import load_demo

    container = _container()
    _migrate(container)
    summary = load_demo(container, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        console.print(summary)


if __name__ == "__main__":
    app()
