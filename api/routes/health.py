"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ContainerDep, current_key

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no authentication)."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Depends(current_key)])
def readyz(container: ContainerDep) -> JSONResponse:
    """Database, vector store and queue are reachable (and, with local workers, the model)."""
    checks: dict[str, Any] = {}
    probes = [
        ("database", container.ping_database),
        ("vector_store", lambda: container.vector_store.ping()),
        ("queue", lambda: container.queue.ping()),
    ]
    if container.settings.queue == "local":  # this process embeds: the model must work
        probes.append(("embedder", lambda: container.embedder.embed(["ready?"])))
    for name, probe in probes:
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - report, never raise, from a probe
            checks[name] = f"error: {type(exc).__name__}: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", dependencies=[Depends(current_key)])
def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
