"""Channel-specific inbound endpoints that normalize into a v1 message."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api.deps import UnsupportedMediaType, UowDep, require
from api.routes.messages import MessageAccepted, MessageProcessed, ingest
from core.auth.service import Role
from core.channels.email import parse_email
from core.channels.normalize import email_to_message
from core.errors import PayloadTooLarge

router = APIRouter(prefix="/v1/channels", tags=["channels"])

RAW_EMAIL_TYPES = {"message/rfc822", "text/plain", "application/octet-stream"}


@router.post(
    "/email/inbound",
    status_code=202,
    dependencies=[Depends(require(Role.INTEGRATION))],
    response_model=MessageProcessed | MessageAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def inbound_email(
    request: Request,
    uow: UowDep,
    response: Response,
    wait: Annotated[bool, Query(description="Answer when processing is done")] = False,
) -> dict[str, Any]:
    """Ingest a raw RFC 5322 email (the body is the message itself, any MIME structure)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in RAW_EMAIL_TYPES:
        raise UnsupportedMediaType(
            "send the raw email as the body with Content-Type message/rfc822 "
            f"(got {ctype or 'none'!r})"
        )
    limit = uow.container.settings.max_email_bytes
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > limit:
            raise PayloadTooLarge(f"the email is larger than {limit} bytes", field="body")
    data = email_to_message(parse_email(bytes(raw)))
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(ingest, uow, data, response, wait)
