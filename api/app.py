"""The FastAPI application (docs served offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from adapters.container import Container, get_container
from api import console, errors
from api.routes import (
    channels,
    customers,
    evals,
    health,
    kb,
    messages,
    routing,
    suggestions,
)
from core.auth.cache import KeyCache


def create_app(container: Container | None = None, start_workers: bool = True) -> FastAPI:
    """The API. With queue=local and `start_workers`, in-process workers run beside it."""
    container = container or get_container()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_workers and container.settings.queue == "local":
            # Load the model and import the vector store before any worker thread starts:
            # numpy, torch and chromadb imported from two threads at once can break an import
            # for the life of the process. Costs a few seconds at start, once.
            container.warm_up()
            container.start_local_workers()
        yield
        if start_workers:
            container.close()

    app = FastAPIOffline(
        title="Threadline",
        version="1.0.0",
        description="One thread per customer across every channel. "
        "Authenticate with `Authorization: Bearer <api key>`.",
        lifespan=lifespan,
    )
    app.state.container = container
    # Verified API keys, trusted for a few seconds (a revoked key is refused within the TTL).
    app.state.key_cache = KeyCache()
    errors.install(app)
    for router in (
        health.router,
        messages.router,
        channels.router,
        customers.router,
        kb.router,
        routing.router,
        suggestions.router,
        evals.router,
    ):
        app.include_router(router)
    console.install(app)  # the agent console at /console (HTML, same app)
    return app
