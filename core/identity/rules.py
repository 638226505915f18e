"""Pure normalization of customer identifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from core.errors import InvalidInput

SOCIAL_PLATFORMS = ("facebook", "instagram", "twitter", "whatsapp", "chat")
KIND_PRIORITY = ("customer_ref", "email", "phone", "handle")


@dataclass(frozen=True, order=True)
class Identifier:
    """A normalized identifier: kind is email, phone, handle or customer_ref."""

    kind: str
    value: str


def normalize_email(raw: str, field: str = "sender.email") -> str:
    """Lower-cased, syntax-checked address; raises InvalidInput naming `field`."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{field} is not a valid email address: {exc}", field=field) from exc
    return result.normalized.lower()


def normalize_phone(raw: str, region: str, field: str = "sender.phone") -> str:
    """E.164 form (+4915123456789); raises InvalidInput naming `field`."""
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"{field} is not a phone number: {raw!r}", field=field) from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidInput(f"{field} is not a possible phone number: {raw!r}", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_HANDLE_RE = re.compile(r"^[\w.@+\-]{1,200}$", re.UNICODE)


def normalize_handle(raw: str, channel: str, region: str) -> Identifier:
    """A platform-qualified handle such as `facebook:1234` or `twitter:@acme`.

    The platform comes from a `platform:` prefix in the handle or else from the channel.
    A WhatsApp handle is the sender's phone number, so it becomes a phone identifier.
    """
    text = raw.strip()
    platform, sep, rest = text.partition(":")
    if sep and platform.lower() in SOCIAL_PLATFORMS:
        platform, text = platform.lower(), rest.strip()
    elif channel in SOCIAL_PLATFORMS:
        platform = channel
    else:
        raise InvalidInput(
            f"sender.handle needs a platform prefix on channel {channel!r} "
            f"(one of {', '.join(p + ':' for p in SOCIAL_PLATFORMS)})",
            field="sender.handle",
        )
    if platform == "whatsapp":
        digits = text if text.startswith("+") else "+" + text
        return Identifier("phone", normalize_phone(digits, region, field="sender.handle"))
    if not text or not _HANDLE_RE.match(text):
        raise InvalidInput(
            f"sender.handle is not a valid {platform} handle: {raw!r}", field="sender.handle"
        )
    if platform == "twitter":
        text = "@" + text.lstrip("@").lower()
    elif platform == "instagram":
        text = text.lstrip("@").lower()
    return Identifier("handle", f"{platform}:{text}")


def normalize_customer_ref(raw: str) -> str:
    """A CRM reference, trimmed; case is kept (CRMs differ)."""
    text = raw.strip()
    if not text or len(text) > 200:
        raise InvalidInput(
            "sender.customer_ref must be 1-200 characters", field="sender.customer_ref"
        )
    return text


def account_key(name: str) -> str:
    """The matching key of a B2B account name: case and spacing folded."""
    return " ".join(name.lower().split())


def sort_by_priority(identifiers: list[Identifier]) -> list[Identifier]:
    """Strongest identifier first: customer_ref, email, phone, handle."""
    return sorted(set(identifiers), key=lambda i: (KIND_PRIORITY.index(i.kind), i.value))
