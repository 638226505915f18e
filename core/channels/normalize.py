"""Channel payloads → the v1 normalized message."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from core.channels.email import ParsedEmail
from core.conversations.schemas import MessageIn
from core.errors import InvalidInput


def email_to_message(email: ParsedEmail) -> MessageIn:
    """A parsed RFC 5322 email as a v1 message: Message-ID is the external id."""
    metadata: dict[str, Any] = {"to": email.to, "html_only": email.html_only}
    if email.in_reply_to:
        metadata["in_reply_to"] = email.in_reply_to
    if email.references:
        metadata["references"] = email.references
    if email.attachments:
        metadata["attachments"] = email.attachments
    try:
        return MessageIn.model_validate(
            {
                "channel": "email",
                "external_id": email.message_id,
                "sender": {"name": email.from_name, "email": email.from_email},
                "subject": email.subject[:500] if email.subject else None,
                "text": email.text,
                "sent_at": email.sent_at,
                "metadata": metadata,
            }
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"email {field}: {err['msg']}", field=field) from exc
