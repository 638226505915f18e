"""The FastAPI application (docs served offline)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from adapters.container import Container, get_container
from api import errors
from api.routes import channels, customers, health, messages


def create_app(container: Container | None = None, start_workers: bool = True) -> FastAPI:
    """The API. With queue=local and `start_workers`, in-process workers run beside it."""
    container = container or get_container()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_workers and container.settings.queue == "local":
            container.start_local_workers()
            # Load the model now rather than on the first message (~8 s cold).
            threading.Thread(
                target=container.embedder.embed, args=(["warm-up"],), daemon=True
            ).start()
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
    errors.install(app)
    for router in (health.router, messages.router, channels.router, customers.router):
        app.include_router(router)
    return app
