"""The agent console at /console: queue, conversation, decisions, eval runs."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from api.console.routes import NotAllowed, redirect, render, router
from api.console.session import CsrfFailed, LoginRequired

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the console's pages and static files on the app."""

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.headers.get("hx-request"):  # HTMX: navigate the whole page, not a fragment
            return Response(status_code=204, headers={"HX-Redirect": "/console/login"})
        return redirect("/console/login")

    async def forbidden(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", {"key": None, "status": 403, "message": str(exc)}, 403)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfFailed, forbidden)
    app.add_exception_handler(NotAllowed, forbidden)
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
