"""/v1/suggestions: the queue of suggested replies and agents' decisions on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import JsonBody, KeyDep, UnitOfWork, UowDep, require
from core.auth.service import MINE, Role, teams_of
from core.drafting.composer import default_offers
from core.suggestions.rules import STATUSES, Status
from core.suggestions.schemas import EditIn, RejectIn, StatsOut, SuggestionOut, SuggestionPage
from core.suggestions.service import SuggestionService, suggestion_out
from core.tasks import TaskName

router = APIRouter(prefix="/v1/suggestions", tags=["suggestions"])

Reader = Depends(require(Role.AGENT, Role.KNOWLEDGE_MANAGER))
Decider = Depends(require(Role.AGENT))


@router.get("", response_model=SuggestionPage, dependencies=[Reader])
def list_suggestions(
    uow: UowDep,
    key: KeyDep,
    status: Annotated[Status | None, Query(description=f"One of {', '.join(STATUSES)}")] = None,
    team: Annotated[
        list[str] | None,
        Query(
            description="Repeat for several teams; `mine`: the teams of the calling key "
            "(every team for a key without teams)"
        ),
    ] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    priority: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SuggestionPage:
    """The queue: urgent first, then the longest-waiting."""
    teams = list(team or ())
    if MINE in teams:
        mine = teams_of(key)
        teams = [] if not mine else [t for t in teams if t != MINE] + list(mine)
    rows, total = SuggestionService(uow.session).queue(
        status, teams, channel or (), priority or (), limit, offset
    )
    return SuggestionPage(items=[suggestion_out(s) for s in rows], total=total)


@router.get("/stats", response_model=StatsOut, dependencies=[Reader])
def suggestion_stats(uow: UowDep) -> StatsOut:
    """Acceptance rate, edit rate and mean edit distance by team, intent and drafter."""
    return SuggestionService(uow.session).stats()


@router.get("/{suggestion_id}", response_model=SuggestionOut, dependencies=[Reader])
def get_suggestion(suggestion_id: str, uow: UowDep) -> SuggestionOut:
    return suggestion_out(SuggestionService(uow.session).get(suggestion_id))


def _sent(uow: UnitOfWork, suggestion: SuggestionOut) -> SuggestionOut:
    """Commit, then let the pipeline index the reply into the customer's history."""
    if suggestion.outbound_message_id:
        outbound = suggestion.outbound_message_id
        uow.after_commit(lambda: uow.container.queue.enqueue(TaskName.PROCESS_MESSAGE, [outbound]))
    uow.commit()
    return suggestion


@router.post("/{suggestion_id}/accept", response_model=SuggestionOut, dependencies=[Decider])
def accept(suggestion_id: str, uow: UowDep, key: KeyDep) -> SuggestionOut:
    """Send the draft as it is: it joins the customer's history and the approved answers."""
    service = SuggestionService(uow.session)
    done = service.accept(suggestion_id, f"api_key:{key.name}", uow.container.clock.now())
    return _sent(uow, suggestion_out(done))


@router.post(
    "/{suggestion_id}/edit", response_model=SuggestionOut, dependencies=[JsonBody, Decider]
)
def edit(suggestion_id: str, body: EditIn, uow: UowDep, key: KeyDep) -> SuggestionOut:
    """Send the agent's text instead of the draft (status `edited`, edit distance stored)."""
    service = SuggestionService(uow.session)
    done = service.edit(
        suggestion_id,
        body.text,
        f"api_key:{key.name}",
        uow.container.clock.now(),
        offers=default_offers(),
    )
    return _sent(uow, suggestion_out(done))


@router.post(
    "/{suggestion_id}/reject", response_model=SuggestionOut, dependencies=[JsonBody, Decider]
)
def reject(suggestion_id: str, body: RejectIn, uow: UowDep, key: KeyDep) -> SuggestionOut:
    """Discard the draft, with the reason (kept on the timeline)."""
    service = SuggestionService(uow.session)
    done = service.reject(
        suggestion_id, body.reason, f"api_key:{key.name}", uow.container.clock.now()
    )
    uow.commit()
    return suggestion_out(done)
