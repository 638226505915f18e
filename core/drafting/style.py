"""How a reply looks on each channel: greeting, sign-off, length, register, publicity.

- email: full greeting, body and signature, formal register;
- chat, WhatsApp, web form, and DMs on Facebook/Instagram/X: short, casual, no signature;
- SMS: at most 320 characters in total, the article link instead of the article text;
- public posts/comments on Facebook/Instagram/X: no personal data, no name, invite to a DM;
- phone: a follow-up to the call: a one-sentence summary of what the customer told us (built
  from the call log by the composer), then the next steps, signed like an e-mail.

Channel names of the v1 contract ("twitter", "web_form") and of the drafting context ("x",
"webform") are both accepted. An unknown channel gets the e-mail style (formal is the safe
default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

Register = Literal["formal", "casual"]
StyleKind = Literal["email", "chat", "sms", "public", "phone"]

SMS_MAX_CHARS = 320
X_MAX_CHARS = 280

_ALIASES = {
    "twitter": "x",
    "web_form": "webform",
    "web-form": "webform",
    "live_chat": "chat",
    "livechat": "chat",
    "call": "phone",
    "mail": "email",
    "e-mail": "email",
}
SOCIAL_CHANNELS = frozenset({"facebook", "instagram", "x"})

_DISPLAY_NAMES = {
    "email": "email",
    "chat": "live chat",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "x": "X",
    "phone": "phone",
    "webform": "our web form",
}


@dataclass(frozen=True)
class ChannelStyle:
    """The shape of a reply on one channel.

    `greeting` is a template with `{name}` (the first name); `greeting_no_name` is used when
    the name is unknown or must not appear. `sign_off` is a template with `{agent}` and
    `{company}`, or None for no signature. `separator` joins the parts of the reply.
    """

    channel: str
    kind: StyleKind
    greeting: str
    greeting_no_name: str
    sign_off: str | None
    max_chars: int | None
    link_instead_of_text: bool
    public: bool
    register: Register
    separator: str = "\n\n"
    follow_up: str | None = None  # phone: the opening of the follow-up ("{when}": the day)
    summary_lead: str | None = None  # phone: announces the call summary, when there is one
    invite_dm: str | None = None  # public replies: move the conversation to a DM


def canonical_channel(channel: str) -> str:
    """The drafting name of a channel: "twitter" → "x", "web_form" → "webform"."""
    c = channel.strip().lower()
    return _ALIASES.get(c, c)


def display_name(channel: str) -> str:
    """How a reply names a channel ("Facebook", "live chat", "SMS")."""
    c = canonical_channel(channel)
    return _DISPLAY_NAMES.get(c, c)


_PUBLIC_KEYS = ("public", "is_public")
_PUBLIC_KINDS = frozenset({"post", "comment", "reply", "mention", "tweet", "feed", "public"})


def is_public_post(metadata: Mapping[str, Any]) -> bool:
    """Whether message metadata says the message is a public post or comment, not a DM.

    Accepted shapes: `{"public": true}`, `{"visibility": "public"}`, or a `type`/`kind`/
    `surface`/`source` of post, comment, reply, mention, tweet or feed.
    """
    for key in _PUBLIC_KEYS:
        if metadata.get(key) is True:
            return True
    if str(metadata.get("visibility", "")).lower() == "public":
        return True
    for key in ("type", "kind", "surface", "source"):
        value = metadata.get(key)
        if isinstance(value, str) and value.lower() in _PUBLIC_KINDS:
            return True
    return False


_EMAIL_SIGN_OFF = "Kind regards,\n{agent}\n{company}"

_EMAIL = ChannelStyle(
    channel="email",
    kind="email",
    greeting="Hello {name},",
    greeting_no_name="Hello,",
    sign_off=_EMAIL_SIGN_OFF,
    max_chars=None,
    link_instead_of_text=False,
    public=False,
    register="formal",
)
_CHAT = ChannelStyle(
    channel="chat",
    kind="chat",
    greeting="Hi {name},",
    greeting_no_name="Hi there,",
    sign_off=None,
    max_chars=None,
    link_instead_of_text=False,
    public=False,
    register="casual",
)
_SMS = ChannelStyle(
    channel="sms",
    kind="sms",
    greeting="Hi {name},",
    greeting_no_name="Hi,",
    sign_off="- {company}",
    max_chars=SMS_MAX_CHARS,
    link_instead_of_text=True,
    public=False,
    register="casual",
    separator=" ",
)
_PUBLIC = ChannelStyle(
    channel="public",
    kind="public",
    greeting="Hi there,",
    greeting_no_name="Hi there,",
    sign_off=None,
    max_chars=None,
    link_instead_of_text=False,
    public=True,
    register="casual",
    invite_dm=(
        "Please send us a direct message with your order details and we'll take it from there."
    ),
)
_PHONE = ChannelStyle(
    channel="phone",
    kind="phone",
    greeting="Hello {name},",
    greeting_no_name="Hello,",
    sign_off=_EMAIL_SIGN_OFF,
    max_chars=None,
    link_instead_of_text=False,
    public=False,
    register="formal",
    follow_up="Thank you for speaking with us {when}.",
    summary_lead="Here is a short summary and the next steps.",
)


def style_for(channel: str, public: bool = False) -> ChannelStyle:
    """The style of a reply on `channel`; `public` marks a public post/comment on social."""
    c = canonical_channel(channel)
    if c in SOCIAL_CHANNELS:
        if public:
            short = X_MAX_CHARS if c == "x" else None
            return replace(_PUBLIC, channel=c, max_chars=short, link_instead_of_text=c == "x")
        return replace(_CHAT, channel=c)
    if c in ("chat", "whatsapp", "webform"):
        return replace(_CHAT, channel=c)
    if c == "sms":
        return _SMS
    if c == "phone":
        return _PHONE
    return replace(_EMAIL, channel=c) if c != "email" else _EMAIL
