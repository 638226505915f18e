"""POST/GET /v1/messages: ingest one normalized message, read its state."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import JsonBody, UnitOfWork, UowDep, require
from core.auth.service import Role
from core.conversations.models import Message
from core.conversations.schemas import MessageAccepted, MessageIn, MessageOut, RelatedMessage
from core.conversations.service import ConversationService, message_out
from core.observability import MESSAGES_DUPLICATE, MESSAGES_INGESTED
from core.retrieval.related import related_messages
from core.suggestions.schemas import SuggestionOut
from core.suggestions.service import SuggestionService, suggestion_out
from core.tasks import TaskName

router = APIRouter(prefix="/v1/messages", tags=["messages"])

Ingester = Depends(require(Role.INTEGRATION))
Reader = Depends(require(Role.INTEGRATION, Role.AGENT))


class MessageProcessed(MessageAccepted):
    """`?wait=true`: the ingest answer plus the message as processing left it."""

    message: MessageOut
    suggestion: SuggestionOut | None = None


def ingest(uow: UnitOfWork, data: MessageIn, response: Response, wait: bool) -> dict[str, Any]:
    """Shared by JSON and raw-email ingest: record, commit, enqueue, optionally wait."""
    container = uow.container
    service = ConversationService(uow.session, container.threading_policy)
    result = service.ingest(data, container.clock.now())
    message_id = result.message.id
    if result.duplicate:
        MESSAGES_DUPLICATE.labels(data.channel).inc()
        response.status_code = 200
    else:
        uow.after_commit(lambda: container.queue.enqueue(TaskName.PROCESS_MESSAGE, [message_id]))
        MESSAGES_INGESTED.labels(data.channel).inc()
        response.status_code = 202
    uow.commit()
    accepted = result.accepted()
    if not wait:
        return accepted.model_dump()
    message, suggestion = _wait_for(uow, message_id, container.settings.wait_timeout_seconds)
    response.status_code = 200 if message.status in ("processed", "failed") else 202
    return MessageProcessed(
        **{**accepted.model_dump(), "status": message.status},
        message=message,
        suggestion=suggestion,
    ).model_dump()


def message_with_suggestion(session: Session, message: Message) -> MessageOut:
    """A message in its API shape, with the id of its suggested reply."""
    out = message_out(message)
    suggestion = SuggestionService(session).for_message(message.id)
    out.suggestion_id = suggestion.id if suggestion is not None else None
    return out


def _wait_for(
    uow: UnitOfWork, message_id: str, timeout: float
) -> tuple[MessageOut, SuggestionOut | None]:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        with uow.container.session(write=False) as session:
            message = ConversationService(session, uow.container.threading_policy).get_message(
                message_id
            )
            out = message_out(message)
            found = SuggestionService(session).for_message(message_id)
            suggestion = suggestion_out(found) if found is not None else None
            out.suggestion_id = found.id if found is not None else None
        if out.status in ("processed", "failed") or time.monotonic() >= deadline:
            return out, suggestion
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


@router.post(
    "",
    status_code=202,
    dependencies=[JsonBody, Ingester],
    response_model=MessageProcessed | MessageAccepted,
    responses={200: {"description": "Already known (same channel and external_id), or waited"}},
)
def post_message(
    data: MessageIn,
    uow: UowDep,
    response: Response,
    wait: Annotated[bool, Query(description="Answer when processing is done")] = False,
) -> dict[str, Any]:
    """Ingest one message from any channel; idempotent on (channel, external_id)."""
    return ingest(uow, data, response, wait)


@router.get("/{message_id}", response_model=MessageOut, dependencies=[Reader])
def get_message(message_id: str, uow: UowDep) -> MessageOut:
    """A message with its processing status."""
    service = ConversationService(uow.session, uow.container.threading_policy)
    return message_with_suggestion(uow.session, service.get_message(message_id))


class RelatedOut(BaseModel):
    message_id: str
    items: list[RelatedMessage]


@router.get("/{message_id}/related", response_model=RelatedOut, dependencies=[Reader])
def get_related(
    message_id: str,
    uow: UowDep,
    k: Annotated[int | None, Query(ge=1, le=50, description="Default THREADLINE_RELATED_K")] = None,
) -> RelatedOut:
    """The customer's earlier messages (any channel) most related to this one."""
    k = k or uow.container.settings.related_k
    items = related_messages(uow.session, uow.container.history, message_id, k)
    return RelatedOut(message_id=message_id, items=items)
