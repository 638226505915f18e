"""Channel payloads → the v1 normalized message."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from core.channels.email import ParsedEmail
from core.conversations.schemas import MessageIn
from core.drafting.injection import MAX_HIDDEN_CHARS, hidden_text_signals
from core.errors import InvalidInput


def email_to_message(email: ParsedEmail) -> MessageIn:
    """A parsed RFC 5322 email as a v1 message: Message-ID is the external id.

    Metadata: `to`, `html_only`, `in_reply_to`, `references`, `attachments`, and when the HTML
    hid text from its reader, `hidden_text` (that text) and `hidden_injection` (the
    prompt-injection signals found in it, if any).
    """
    metadata: dict[str, Any] = {"to": email.to, "html_only": email.html_only}
    if email.in_reply_to:
        metadata["in_reply_to"] = email.in_reply_to
    if email.references:
        metadata["references"] = email.references
    if email.attachments:
        metadata["attachments"] = email.attachments
    if email.hidden_text:
        # What the HTML hid from the reader: dropped from the text, kept here for the agent,
        # and checked (the drafters flag the message as a prompt injection when it is one).
        metadata["hidden_text"] = email.hidden_text[:MAX_HIDDEN_CHARS]
        signals = hidden_text_signals(email.hidden_text)
        if signals:
            metadata["hidden_injection"] = signals
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
