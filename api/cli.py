"""The `threadline` command line (Typer)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Annotated, Any

import typer
from rich.console import Console

from adapters.container import Container, set_container
from core.config import Settings

app = typer.Typer(
    help="Threadline: one thread per customer across every channel.", no_args_is_help=True
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
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


def _serve(container: Container) -> None:
    import uvicorn

    from api.app import create_app

    s = container.settings
    uvicorn.run(create_app(container), host=s.host, port=s.port, log_level=s.log_level.lower())


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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an API key; it is printed once and stored hashed."""
    from core.auth.service import create_key
    from core.errors import DomainError

    container = _container()
    with container.session() as session:
        try:
            key, token = create_key(session, role, name, container.clock.now())
        except DomainError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(2) from exc
        session.commit()
    if as_json:
        typer.echo(json.dumps({"id": key.id, "name": key.name, "role": key.role, "key": token}))
    else:
        console.print(f"{key.role} key for {key.name!r}: {token}", highlight=False)


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
