"""/v1/route: synchronous triage for helpdesks; re-routing by agents."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from adapters.container import Container
from api.deps import ContainerDep, JsonBody, KeyDep, UowDep, require
from core.auth.service import Role
from core.conversations.schemas import MessageOut
from core.conversations.service import message_out
from core.db import new_id
from core.routing.corrections import reroute
from core.routing.schemas import RerouteIn, RouteBatchIn, RouteBatchOut, RouteIn, RouteOut
from core.routing.service import route
from core.tasks import TaskName

router = APIRouter(tags=["routing"])

Router = Depends(require(Role.INTEGRATION, Role.AGENT))


def route_with(c: Container, items: list[RouteIn]) -> list[RouteOut]:
    """Triage items with this process's models (the API and `threadline route`)."""
    with c.session(write=False) as session:
        return route(
            session,
            items,
            triager=c.triager(),
            embedder=c.embedder,
            history=c.history,
            kb=c.knowledge_search(session),
            region=c.settings.default_phone_region,
            max_text_bytes=c.settings.max_text_bytes,
            now=c.clock.now(),
        )


@router.post("/v1/route", response_model=RouteOut, dependencies=[JsonBody, Router])
async def route_one(body: RouteIn, container: ContainerDep) -> RouteOut:
    """Where does this message go? Intent, team, priority, signals, reasons — nothing stored."""
    # No unit of work: nothing is written, and `route_with` reads in its own read session
    # (which touches the database only when a sender is given). The endpoint is async and
    # sends only the model work to the thread pool, so that FastAPI checks the response on
    # the event loop instead of in a second thread-pool hop.
    return (await run_in_threadpool(route_with, container, [body]))[0]


@router.post("/v1/route/batch", response_model=RouteBatchOut, dependencies=[JsonBody, Router])
async def route_batch(body: RouteBatchIn, container: ContainerDep) -> RouteBatchOut:
    """Up to 100 messages in one call (one embedding batch)."""
    return RouteBatchOut(items=await run_in_threadpool(route_with, container, body.items))


@router.post(
    "/v1/messages/{message_id}/reroute",
    response_model=MessageOut,
    dependencies=[JsonBody, Depends(require(Role.AGENT))],
)
def reroute_message(message_id: str, body: RerouteIn, uow: UowDep, key: KeyDep) -> MessageOut:
    """An agent's correction: the message moves, the timeline shows it, training learns it."""
    message = reroute(
        uow.session,
        uow.container.routing_config,
        message_id,
        body,
        actor=f"api_key:{key.name}",
        now=uow.container.clock.now(),
    )
    uow.commit()
    return message_out(message)


@router.post(
    "/v1/router/retrain",
    status_code=202,
    dependencies=[Depends(require(Role.KNOWLEDGE_MANAGER))],
)
def request_retrain(uow: UowDep) -> dict[str, str]:
    """Queue a retraining of the intent model with agents' corrections (a worker task)."""
    request_id = new_id()
    uow.container.queue.enqueue(TaskName.RETRAIN_ROUTER, [request_id])
    return {"status": "queued", "request_id": request_id}
