"""/console: the agents' web page (server-rendered Jinja2 + HTMX, every asset served here).

The handlers stay thin: read through `api.console.views` (the existing services) and decide
through the same functions as the JSON API (`api.routes.suggestions`, `api.routes.routing`),
so a decision in the console is exactly a decision through `/v1`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.console import views
from api.console.session import (
    AGENT_ROLES,
    CONSOLE_ROLES,
    COOKIE,
    MANAGER_ROLES,
    check_csrf,
    clear_session,
    console_key,
    csrf_token,
    key_for_token,
    set_session,
    sign_in,
    sign_out,
)
from api.deps import UowDep
from api.routes import routing as routing_api
from api.routes import suggestions as suggestions_api
from core.auth.models import ApiKey
from core.auth.service import teams_of
from core.errors import DomainError, Unauthorized
from core.routing.schemas import RerouteIn
from core.suggestions.schemas import EditIn, RejectIn
from core.suggestions.service import SuggestionService

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html

router = APIRouter(prefix="/console", include_in_schema=False)

# Only our own files: no inline script, no CDN, nothing framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CHANNEL_ICONS = {
    "email": ("✉", "Email"),
    "chat": ("CH", "Live chat"),
    "sms": ("SMS", "SMS"),
    "whatsapp": ("WA", "WhatsApp"),
    "facebook": ("f", "Facebook"),
    "instagram": ("IG", "Instagram"),
    "twitter": ("X", "X / Twitter"),
    "phone": ("☎", "Phone call"),
    "web_form": ("⌨", "Web form"),
}


class NotAllowed(Exception):
    """The signed-in key's role may not open this page."""


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A template with the console's security headers and common context."""
    token = request.cookies.get(COOKIE) or ""
    base: dict[str, Any] = {
        "csrf": csrf_token(token) if token else "",
        "channel_icons": CHANNEL_ICONS,
        "agent_roles": AGENT_ROLES,
        "manager_roles": MANAGER_ROLES,
    }
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    """303 See Other: the browser GETs the page after a POST."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


ConsoleKey = Annotated[ApiKey, Depends(console_key)]


async def agent_key(key: ConsoleKey) -> ApiKey:
    """The signed-in key, which must be an agent's (or admin's)."""
    if key.role not in AGENT_ROLES:
        raise NotAllowed("only agents work the queue; sign in with an agent key")
    return key


async def manager_key(key: ConsoleKey) -> ApiKey:
    """The signed-in key, which must be a knowledge manager's (or admin's)."""
    if key.role not in MANAGER_ROLES:
        raise NotAllowed("eval runs are for knowledge managers")
    return key


AgentKey = Annotated[ApiKey, Depends(agent_key)]
ManagerKey = Annotated[ApiKey, Depends(manager_key)]
Csrf = Depends(check_csrf)


def filters_of(
    key: AgentKey,
    team: Annotated[list[str] | None, Query(max_length=100)] = None,
    channel: Annotated[list[str] | None, Query(max_length=20)] = None,
    priority: Annotated[list[str] | None, Query(max_length=20)] = None,
    scope: Annotated[str, Query(max_length=10)] = "",
) -> views.Filters:
    """The queue filters of the query string (repeat a parameter for several values).

    Teams picked in the query win; else `scope=all` shows every team; else an agent whose
    key belongs to teams sees those teams (a key without teams sees every team).
    """
    teams = tuple(t for t in team or () if t)
    channels = tuple(c for c in channel or () if c)
    priorities = tuple(p for p in priority or () if p)
    mine = teams_of(key)
    if teams:
        return views.Filters(teams, channels, priorities, "picked")
    if scope == "all" or not mine:
        return views.Filters((), channels, priorities, "all" if mine else "picked")
    return views.Filters(mine, channels, priorities, "mine")


FiltersDep = Annotated[views.Filters, Depends(filters_of)]


def with_query(path: str, filters: views.Filters, **extra: str) -> str:
    """`path` with the filters (and extra parameters) as its query string."""
    pairs = filters.query() + [(k, v) for k, v in extra.items() if v]
    return f"{path}?{urlencode(pairs)}" if pairs else path


# --- sign in / out ----------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def home(key: ConsoleKey) -> Response:
    """Agents land on the queue, knowledge managers on the eval runs."""
    return redirect("/console/queue" if key.role in AGENT_ROLES else "/console/evals")


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    """The sign-in form."""
    return render(request, "login.html", {"error": None, "key": None})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, api_key: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Check the key; on success start a server-side session whose token the cookie keeps,
    else show why on the form."""
    token = api_key.strip()
    if not token:
        return render(
            request, "login.html", {"error": "Enter your API key.", "key": None}, status_code=422
        )
    try:
        key = await key_for_token(request, token)
        session_token = await sign_in(request, key) if key.role in CONSOLE_ROLES else ""
    except Unauthorized:
        return render(
            request,
            "login.html",
            {"error": "Unknown or revoked API key.", "key": None},
            status_code=401,
        )
    if not session_token:
        return render(
            request,
            "login.html",
            {"error": f"A key with role {key.role!r} cannot use the console.", "key": None},
            status_code=403,
        )
    response = redirect("/console")
    set_session(request, response, session_token)
    return response


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    """Sign out: revoke the session server-side and drop the cookie."""
    await sign_out(request)
    response = redirect("/console/login")
    clear_session(request, response)
    return response


# --- the queue --------------------------------------------------------------------------------


def _queue_context(uow: UowDep, filters: views.Filters) -> dict[str, Any]:
    now = uow.container.clock.now()
    rows, total = views.queue(uow.session, filters, now)
    version = views.queue_version(rows, total)
    return {
        "rows": rows,
        "total": total,
        "filters": filters,
        "version": version,
        "poll_url": with_query("/console/queue/section", filters, v=version),
        "detail_query": urlencode(filters.query()),
    }


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, uow: UowDep, key: AgentKey, filters: FiltersDep) -> Response:
    """The queue of pending suggestions, with filters; it polls for changes."""
    context = _queue_context(uow, filters)
    teams = sorted(uow.container.routing_config.teams)
    context.update(
        key=key,
        teams=teams,
        my_teams=teams_of(key),
        channels=views.CHANNELS,
        priorities=views.PRIORITIES,
        page="queue",
    )
    return render(request, "queue.html", context)


@router.get("/queue/section", response_class=HTMLResponse)
def queue_section(
    request: Request,
    uow: UowDep,
    key: AgentKey,
    filters: FiltersDep,
    v: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The queue table alone (HTMX polling); 204 when nothing changed since version `v`."""
    context = _queue_context(uow, filters)
    if v and v == context["version"]:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return render(request, "_queue.html", context)


@router.get("/next")
def next_suggestion(
    uow: UowDep,
    key: AgentKey,
    filters: FiltersDep,
    after: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Open the next pending suggestion of the queue (or the queue when it is empty)."""
    found = views.next_pending(uow.session, filters, after or None)
    if found is None:
        return redirect(with_query("/console/queue", filters))
    return redirect(with_query(f"/console/suggestions/{found}", filters))


# --- one suggestion ---------------------------------------------------------------------------


def _detail_page(
    request: Request,
    uow: UowDep,
    key: ApiKey,
    suggestion_id: str,
    filters: views.Filters,
    error: str | None = None,
    status_code: int = 200,
    edit_text: str | None = None,
) -> HTMLResponse:
    try:
        data = views.detail(uow.session, uow.container, suggestion_id)
    except DomainError as exc:
        return render(
            request,
            "error.html",
            {"key": key, "status": exc.status, "message": exc.message},
            status_code=exc.status,
        )
    return render(
        request,
        "suggestion.html",
        {
            "key": key,
            "d": data,
            "s": data.suggestion,
            "filters": filters,
            "query": urlencode(filters.query()),
            "error": error,
            "edit_text": edit_text if edit_text is not None else data.suggestion.draft_text,
            "done": request.query_params.get("done"),
            "now": uow.container.clock.now(),
            "page": "queue",
        },
        status_code=status_code,
    )


@router.get("/suggestions/{suggestion_id}", response_class=HTMLResponse)
def suggestion_page(
    request: Request, suggestion_id: str, uow: UowDep, key: AgentKey, filters: FiltersDep
) -> Response:
    """One suggestion: the customer's timeline, identities, triage, draft and citations."""
    return _detail_page(request, uow, key, suggestion_id[:64], filters)


def _after(suggestion_id: str, filters: views.Filters, done: str) -> Response:
    return redirect(with_query(f"/console/suggestions/{suggestion_id}", filters, done=done))


def _failed(
    request: Request,
    uow: UowDep,
    key: ApiKey,
    suggestion_id: str,
    filters: views.Filters,
    message: str,
    status: int,
    edit_text: str | None = None,
) -> Response:
    uow.session.rollback()
    return _detail_page(request, uow, key, suggestion_id, filters, message, status, edit_text)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


@router.post("/suggestions/{suggestion_id}/accept", dependencies=[Csrf])
def accept(
    request: Request, suggestion_id: str, uow: UowDep, key: AgentKey, filters: FiltersDep
) -> Response:
    """Send the draft as it is (POST /v1/suggestions/{id}/accept)."""
    decide = lambda: suggestions_api.accept(suggestion_id, uow, key)  # noqa: E731
    return _decide(request, uow, key, suggestion_id, filters, "accepted", decide)


@router.post("/suggestions/{suggestion_id}/edit", dependencies=[Csrf])
def edit(
    request: Request,
    suggestion_id: str,
    uow: UowDep,
    key: AgentKey,
    filters: FiltersDep,
    text: Annotated[str, Form(max_length=40000)] = "",
) -> Response:
    """Send the agent's edited text (POST /v1/suggestions/{id}/edit)."""
    decide = lambda: suggestions_api.edit(suggestion_id, EditIn(text=text), uow, key)  # noqa: E731
    return _decide(request, uow, key, suggestion_id, filters, "edited", decide, "reply", text)


@router.post("/suggestions/{suggestion_id}/reject", dependencies=[Csrf])
def reject(
    request: Request,
    suggestion_id: str,
    uow: UowDep,
    key: AgentKey,
    filters: FiltersDep,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Discard the draft with a reason (POST /v1/suggestions/{id}/reject)."""
    decide = lambda: suggestions_api.reject(suggestion_id, RejectIn(reason=reason), uow, key)  # noqa: E731
    return _decide(request, uow, key, suggestion_id, filters, "rejected", decide, "reason")


def _decide(
    request: Request,
    uow: UowDep,
    key: ApiKey,
    suggestion_id: str,
    filters: views.Filters,
    done: str,
    decide: Callable[[], object],
    field: str = "",
    edit_text: str | None = None,
) -> Response:
    """Run one decision; on bad input or a refused transition, the page again with the reason
    (and the agent's text, so nothing typed is lost)."""
    try:
        decide()
    except ValidationError as exc:
        name = "text" if field == "reply" else field
        message = f"The {field} " + _validation_message(exc).removeprefix(f"{name}: ")
        return _failed(request, uow, key, suggestion_id, filters, message, 422, edit_text)
    except DomainError as exc:
        return _failed(
            request, uow, key, suggestion_id, filters, exc.message, exc.status, edit_text
        )
    return _after(suggestion_id, filters, done)


@router.post("/suggestions/{suggestion_id}/reroute", dependencies=[Csrf])
def reroute(
    request: Request,
    suggestion_id: str,
    uow: UowDep,
    key: AgentKey,
    filters: FiltersDep,
    team: Annotated[str, Form(max_length=200)] = "",
    intent: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Move the suggestion's message to another team/intent (POST /v1/messages/{id}/reroute)."""
    try:
        message_id = SuggestionService(uow.session).get(suggestion_id).message_id
        body = RerouteIn(team=team, intent=intent or None, reason=reason.strip() or None)
        routing_api.reroute_message(message_id, body, uow, key)
    except ValidationError as exc:
        message = "Re-route: " + _validation_message(exc)
        return _failed(request, uow, key, suggestion_id, filters, message, 422)
    except DomainError as exc:
        return _failed(request, uow, key, suggestion_id, filters, exc.message, exc.status)
    return _after(suggestion_id, filters, "rerouted")


# --- eval runs (knowledge managers) -----------------------------------------------------------


@router.get("/evals", response_class=HTMLResponse)
def evals_page(request: Request, uow: UowDep, key: ManagerKey) -> Response:
    """Eval runs, newest first, with status, scores and a link to each report."""
    from core.evaluation.service import list_runs  # issue 6's package, read only

    runs, total = list_runs(uow.session, 100, 0)
    return render(
        request, "evals.html", {"key": key, "runs": runs, "total": total, "page": "evals"}
    )


@router.get("/evals/{run_id}/report", response_class=HTMLResponse)
def eval_report(request: Request, run_id: str, uow: UowDep, key: ManagerKey) -> Response:
    """A run's HTML report, sandboxed (no scripts, no access to the console's origin)."""
    from core.evaluation.service import get_run

    try:
        run = get_run(uow.session, run_id[:64])
    except DomainError as exc:
        return render(
            request,
            "error.html",
            {"key": key, "status": exc.status, "message": exc.message},
            exc.status,
        )
    if not run.report_html:
        message = f"eval run {run.id} has no report yet (status {run.status})"
        return render(request, "error.html", {"key": key, "status": 404, "message": message}, 404)
    return HTMLResponse(
        run.report_html,
        headers={
            "Content-Security-Policy": "sandbox; default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )
