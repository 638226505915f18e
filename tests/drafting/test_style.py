"""Channel styles."""

from __future__ import annotations

import pytest

from core.drafting.style import SMS_MAX_CHARS, display_name, is_public_post, style_for


def test_email_is_full_and_formal() -> None:
    style = style_for("email")
    assert style.greeting.format(name="Maria") == "Hello Maria,"
    assert style.sign_off is not None and "{agent}" in style.sign_off
    assert (style.register, style.public, style.max_chars) == ("formal", False, None)


@pytest.mark.parametrize("channel", ["chat", "whatsapp", "webform", "web_form"])
def test_chat_like_channels_are_short_without_signature(channel: str) -> None:
    style = style_for(channel)
    assert style.kind == "chat"
    assert style.sign_off is None
    assert style.register == "casual"
    assert style.greeting.format(name="Maria") == "Hi Maria,"


def test_sms_is_limited_and_links() -> None:
    style = style_for("sms")
    assert style.max_chars == SMS_MAX_CHARS == 320
    assert style.link_instead_of_text


@pytest.mark.parametrize("channel", ["facebook", "instagram", "x", "twitter"])
def test_social_dm_is_chat_and_public_post_is_public(channel: str) -> None:
    assert style_for(channel).kind == "chat"
    public = style_for(channel, public=True)
    assert public.public and public.kind == "public"
    assert public.invite_dm
    assert "{name}" not in public.greeting


def test_public_x_is_short() -> None:
    assert style_for("twitter", public=True).max_chars == 280
    assert style_for("facebook", public=True).max_chars is None


def test_public_flag_is_ignored_off_social() -> None:
    assert style_for("email", public=True).kind == "email"


def test_phone_is_a_follow_up() -> None:
    style = style_for("phone")
    assert style.follow_up and "{when}" in style.follow_up
    assert style.sign_off


def test_unknown_channel_gets_the_formal_email_style() -> None:
    assert style_for("carrier_pigeon").kind == "email"


def test_public_post_metadata() -> None:
    assert is_public_post({"public": True})
    assert is_public_post({"visibility": "public"})
    assert is_public_post({"type": "comment"})
    assert not is_public_post({})
    assert not is_public_post({"type": "dm", "public": "yes"})


def test_display_names() -> None:
    assert [display_name(c) for c in ("facebook", "twitter", "whatsapp", "sms", "chat")] == [
        "Facebook",
        "X",
        "WhatsApp",
        "SMS",
        "live chat",
    ]
