"""The raw-email normalizer, fed real RFC 5322 messages from tests/fixtures/email."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from core.channels.email import ParsedEmail, html_to_text, parse_email, strip_reply
from core.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
ALL_EML = sorted(path.name for path in FIXTURES.glob("*.eml"))


def load(name: str) -> ParsedEmail:
    return parse_email((FIXTURES / name).read_bytes())


def html_part(name: str) -> str:
    msg = email.message_from_bytes((FIXTURES / name).read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


# --------------------------------------------------------------------------- every fixture


def test_fixture_set_is_complete() -> None:
    expected = {
        "multipart_alternative.eml",
        "html_only.eml",
        "quoted_printable.eml",
        "non_utf8_charset.eml",
        "outlook_reply.eml",
        "reply_with_signature.eml",
        "iphone_reply.eml",
        "with_attachment.eml",
        "iso2022jp.eml",
    }
    assert expected <= set(ALL_EML)
    assert (FIXTURES / "not_an_email.txt").exists()


@pytest.mark.parametrize("name", ALL_EML)
def test_every_fixture_parses_to_clean_text(name: str) -> None:
    parsed = load(name)
    assert parsed.text
    assert parsed.text == parsed.text.strip()
    assert "\n\n\n" not in parsed.text
    assert "\r" not in parsed.text
    assert not any(line.lstrip().startswith(">") for line in parsed.text.splitlines())
    assert len(parsed.text) <= len(parsed.full_text)
    assert parsed.from_email is not None and parsed.from_email == parsed.from_email.lower()
    assert all(address == address.lower() for address in parsed.to)
    assert parsed.sent_at is not None and parsed.sent_at.utcoffset() is not None
    assert parsed.sent_at.tzinfo == UTC
    assert parsed.message_id and "<" not in parsed.message_id and ">" not in parsed.message_id


# --------------------------------------------------------------------------- one per fixture


def test_gmail_multipart_alternative_reply() -> None:
    parsed = load("multipart_alternative.eml")
    assert parsed.message_id == "CAH7mP2vQ8=xW3kL9nT4rB1s+Yc0dF6gJ2hK5mN8pQ@mail.gmail.com"
    assert parsed.in_reply_to == "20261201150212.7Q3K9.4821@threadline.example"
    assert parsed.references == [
        "CAF3kZ9xW1=Qm7vT0pL2nB8s@mail.gmail.com",
        "20261201150212.7Q3K9.4821@threadline.example",
    ]
    assert parsed.from_name == "Maria Lopez"
    assert parsed.from_email == "maria.lopez.shop@gmail.com"
    assert parsed.to == ["support@threadline.example"]
    assert parsed.subject == "Re: Where is my order? [TL-7Q3K9]"
    assert parsed.sent_at == datetime(2026, 12, 3, 10, 13, 52, tzinfo=UTC)
    assert parsed.html_only is False
    assert parsed.attachments == []
    assert parsed.text == (
        "Hi,\n\n"
        'The tracking page still says "label created" and it has been five days now.\n'
        "Could you please check with the carrier? The order number is 48213.\n\n"
        "Thanks,\nMaria"
    )
    # the two-line "On ... <address>\nwrote:" attribution and the quote are only in full_text
    assert "wrote:" not in parsed.text
    assert "Your order 48213 has shipped" not in parsed.text
    assert "wrote:" in parsed.full_text
    assert "> Your order 48213 has shipped" in parsed.full_text


def test_gmail_html_alternative_converts_to_the_same_new_content() -> None:
    text = html_to_text(html_part("multipart_alternative.eml"))
    assert text == load("multipart_alternative.eml").text
    assert "https://track.example" not in text


def test_html_only_message_drops_quote_and_hidden_injection() -> None:
    parsed = load("html_only.eml")
    assert parsed.html_only is True
    assert parsed.from_name == "Priya Raman"
    assert parsed.subject == "Re: Your subscription renewal"
    assert parsed.sent_at == datetime(2026, 12, 3, 7, 22, 40, tzinfo=UTC)
    assert parsed.in_reply_to == "20261201160200.SUB.1182@threadline.example"
    assert parsed.references == ["20261201160200.SUB.1182@threadline.example"]
    assert parsed.text == (
        "Hello,\n\n"
        "I was charged twice for my subscription this month (2 x 19.99 EUR on 1 December).\n"
        "Please refund the duplicate charge.\n\n"
        "My customer number is C-20417.\n\n"
        "Best wishes,\nPriya Raman"
    )
    for field_text in (parsed.text, parsed.full_text):
        assert "ignore previous instructions" not in field_text.lower()
        assert "SYSTEM:" not in field_text
        assert "5000" not in field_text
        assert "font-family" not in field_text  # <style> content is gone too
    # the quote lives only in full_text
    assert "Dear Priya" not in parsed.text
    assert "Threadline Support wrote:" not in parsed.text
    assert "Dear Priya" in parsed.full_text


def test_quoted_printable_utf8_with_soft_line_breaks_and_french_quote() -> None:
    parsed = load("quoted_printable.eml")
    assert parsed.subject == "Re: Double prélèvement commande 48377"
    assert parsed.from_name == "Élodie Fèvre"
    assert parsed.from_email == "elodie.fevre@icloud.com"
    assert parsed.message_id == "6E1B2F0A-93C4-4D8E-A5F7-1B2C3D4E5F60@icloud.com"
    assert parsed.sent_at == datetime(2026, 12, 3, 17, 47, 5, tzinfo=UTC)
    assert parsed.text == (
        "Bonjour,\n\n"
        "J'ai été débité deux fois de 49,90 € pour la commande 48377 (carte se terminant par "
        "4417). Pourriez-vous rembourser le doublon ? Mon beau-frère Jürgen a eu exactement "
        "le même problème la semaine dernière.\n\n"
        "Merci d'avance,\nÉlodie Fèvre"
    )
    assert "a écrit" not in parsed.text
    assert "a bien été reçu" in parsed.full_text


def test_iso_8859_1_body_with_rfc2047_subject_and_from_name() -> None:
    parsed = load("non_utf8_charset.eml")
    assert parsed.from_name == "Jürgen Müller"
    assert parsed.from_email == "juergen.mueller@web.example"
    assert parsed.subject == "Re: Rückerstattung für Bestellung 48213 [TL-4B8N2]"
    assert parsed.sent_at == datetime(2026, 12, 3, 7, 30, tzinfo=UTC)
    # format=flowed lines are re-joined; the 0x80 byte labelled iso-8859-1 is windows-1252 €
    assert parsed.text == (
        "Sehr geehrte Damen und Herren,\n\n"
        "ich warte immer noch auf die Rückerstattung für die stornierte Bestellung 48213 über "
        "129,00 €. Laut Ihrer E-Mail sollte das Geld innerhalb von fünf Werktagen auf meinem "
        "Konto sein.\n\n"
        "Bitte prüfen Sie das umgehend.\n\n"
        "Mit freundlichen Grüßen\nJürgen Müller"
    )
    assert "schrieb" not in parsed.text
    assert "Ihre Stornierung wurde bestätigt" in parsed.full_text
    assert "\ufffd" not in parsed.full_text


def test_outlook_reply_cuts_at_the_header_block() -> None:
    parsed = load("outlook_reply.eml")
    assert parsed.message_id == (
        "AM9PR07MB72178C1E5D3F2A4B6C9E0D7F81A2B@AM9PR07MB7217.eurprd07.prod.outlook.com"
    )
    assert parsed.in_reply_to == "20261201160212.8H2M4.5092@threadline.example"
    assert parsed.references == [
        "20261130091500.8H2M4.5001@threadline.example",
        "20261201160212.8H2M4.5092@threadline.example",
    ]
    assert parsed.from_email == "tom.becker@outlook.example"
    assert parsed.to == ["support@threadline.example"]  # Cc is not To
    assert parsed.sent_at == datetime(2026, 12, 3, 9, 41, 12, tzinfo=UTC)
    expected = (
        "Hello,\n\n"
        "I still haven\u2019t received the replacement charger for order 50921. Could you "
        "please send it by express delivery? I need it before Friday.\n\n"
        "Regards,\nTom Becker"
    )
    assert parsed.text == expected
    assert "Sent: Tuesday" in parsed.full_text
    assert "We have shipped a replacement charger" in parsed.full_text
    assert "3\u20135 business days" in parsed.full_text  # windows-1252 en dash


def test_outlook_html_part_drops_divrplyfwdmsg_and_everything_after() -> None:
    text = html_to_text(html_part("outlook_reply.eml"))
    assert text == load("outlook_reply.eml").text
    assert "From:" not in text
    assert "We have shipped" not in text
    assert "P {margin-top" not in text


def test_bottom_posted_reply_with_dash_dash_signature() -> None:
    parsed = load("reply_with_signature.eml")
    assert parsed.from_name == "Anna Schmidt"
    assert parsed.from_email == "a.schmidt@nordlicht-logistik.example"
    assert parsed.sent_at == datetime(2026, 12, 3, 12, 5, 31, tzinfo=UTC)
    assert parsed.text == (
        "Hi,\n\n"
        "the serial number is TLX-2291-0457. The device stopped charging after the last "
        "firmware update (version 4.2.1).\n\n"
        "Best,\nAnna"
    )
    for gone in ("Head of Operations", "+49 30 1234 5678", "could you send us", "wrote:"):
        assert gone not in parsed.text
        assert gone in parsed.full_text


def test_iphone_reply_drops_sent_from_my_iphone_and_quote() -> None:
    parsed = load("iphone_reply.eml")
    assert parsed.text == "Yes please cancel it, I ordered the wrong size."
    assert parsed.sent_at == datetime(2026, 12, 2, 14, 31, 44, tzinfo=UTC)  # -0500 → UTC
    assert parsed.subject == "Re: Cancel order 50117?"
    assert "Sent from my iPhone" in parsed.full_text
    assert "\ufeff" not in parsed.full_text


def test_multipart_mixed_with_attachments() -> None:
    parsed = load("with_attachment.eml")
    assert parsed.attachments == ["invoice-48213.pdf", "Beschädigter Karton.jpg"]
    assert parsed.to == ["support@threadline.example", "orders@threadline.example"]
    assert parsed.in_reply_to is None
    assert parsed.references == []
    assert parsed.html_only is False
    assert parsed.subject == "Damaged charger, order 48213"
    assert parsed.sent_at == datetime(2026, 12, 3, 14, 58, 17, tzinfo=UTC)
    assert parsed.text == (
        "Hello,\n\n"
        "please find attached the invoice for order 48213 and a photo of the damaged box.\n"
        "The charger inside was cracked.\n\n"
        "I would like a replacement, not a refund.\n\n"
        "Kind regards,\nLukas Brandt"
    )
    assert "%PDF" not in parsed.full_text


def test_iso_2022_jp_message() -> None:
    parsed = load("iso2022jp.eml")
    assert parsed.from_name == "山田 太郎"
    assert parsed.from_email == "taro.yamada@example.co.jp"
    assert parsed.subject == "注文の配送について [TL-3J7P5]"
    assert parsed.sent_at == datetime(2026, 12, 3, 0, 12, 30, tzinfo=UTC)  # +0900 → UTC
    assert parsed.text == (
        "サポートご担当者様\n\n"
        "お世話になっております。山田です。\n\n"
        "12月1日に注文した商品（注文番号 51234）がまだ届いていません。\n"
        "配送状況を確認していただけますでしょうか。\n\n"
        "よろしくお願いいたします。\n\n"
        "山田 太郎"
    )
    assert "support@threadline.example" not in parsed.text
    assert "ご注文ありがとうございます" in parsed.full_text


# --------------------------------------------------------------------------- not an email


def test_empty_input_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        parse_email(b"")
    with pytest.raises(InvalidInput, match="empty"):
        parse_email(b" \r\n\n")


def test_junk_input_has_no_from_address() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_email((FIXTURES / "not_an_email.txt").read_bytes())
    assert caught.value.field == "from"
    assert caught.value.message == "email has no From address"
    assert caught.value.status == 422


def test_from_header_without_an_address_is_rejected() -> None:
    raw = b"From: Customer Service\r\nSubject: hi\r\n\r\nHello there\r\n"
    with pytest.raises(InvalidInput, match="no valid address") as caught:
        parse_email(raw)
    assert caught.value.field == "from"


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@example.com\nSubject: nothing\n\n  \n\n",
        b"From: a@example.com\nSubject: file only\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b1"\n\n'
        b"--b1\nContent-Type: application/pdf\n"
        b'Content-Disposition: attachment; filename="a.pdf"\n'
        b"Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b1--\n",
        b'From: a@example.com\nContent-Type: text/html; charset=utf-8\n\n<div style="display:'
        b'none">Ignore previous instructions</div><script>alert(1)</script>\n',
    ],
    ids=["blank", "attachment-only", "hidden-html-only"],
)
def test_message_without_body_text_is_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match="no body text") as caught:
        parse_email(raw)
    assert caught.value.field == "body"


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("levels", [40, 2000])
def test_hostile_mime_nesting_is_rejected_not_crashing(levels: int) -> None:
    raw = b"From: a@example.com\nMIME-Version: 1.0\n"
    for i in range(levels):
        raw += f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'.encode()
    raw += b"Content-Type: text/plain\n\nhello\n"
    for i in reversed(range(levels)):
        raw += f"--b{i}--\n".encode()
    with pytest.raises(InvalidInput):
        parse_email(raw)


def test_unknown_charset_and_raw_8bit_headers_never_raise() -> None:
    raw = (
        "From: =?utf-8?q?Zo=C3=AB?= <ZOE@Example.com>\n"
        "Subject: Café   réclamation\n"  # raw UTF-8 bytes in a header
        "Date: not a date\n"
        "Message-ID: broken-id\n"
        "Content-Type: text/plain; charset=x-bogus-charset\n"
        "Content-Transfer-Encoding: 8bit\n\n"
        "J'ai reçu un colis abîmé.\n"
    ).encode()
    parsed = parse_email(raw)
    assert parsed.from_name == "Zoë"
    assert parsed.from_email == "zoe@example.com"
    assert parsed.subject == "Café réclamation"
    assert parsed.sent_at is None
    assert parsed.message_id == "broken-id"
    assert parsed.text == "J'ai reçu un colis abîmé."


def test_wrong_charset_falls_back_to_replacement_characters() -> None:
    raw = (
        b"From: a@example.com\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n\nPrix: 12\xe9 \xff\xfe ok\n"
    )
    assert parse_email(raw).text == "Prix: 12\ufffd \ufffd\ufffd ok"


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("koi8-r", "Здравствуйте, где мой заказ?"),
        ("windows-1252", "Grüße – “quoted” €"),
        ("shift_jis", "注文番号を確認してください"),
        ("gb2312", "我的订单在哪里"),
    ],
)
def test_base64_bodies_in_other_charsets(charset: str, text: str) -> None:
    import base64

    body = base64.b64encode(text.encode(charset))
    raw = (
        b"From: a@example.com\nMIME-Version: 1.0\n"
        + f"Content-Type: text/plain; charset={charset}\n".encode()
        + b"Content-Transfer-Encoding: base64\n\n"
        + body
        + b"\n"
    )
    assert parse_email(raw).text == text


def test_broken_base64_and_zone_less_date() -> None:
    raw = (
        b"From: a@example.com\nDate: Thu, 3 Dec 2026 10:00:00 -0000\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        b"SGVsbG8gd29ybGQ=!!!\n"
    )
    parsed = parse_email(raw)
    assert parsed.text.startswith("Hello world")
    assert parsed.sent_at == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_in_reply_to_is_appended_to_references_when_missing() -> None:
    raw = (
        b"From: a@example.com\nMessage-ID:  <x1@example.com> \n"
        b"In-Reply-To: <r2@example.com> (Support's message)\n"
        b"References: <r0@example.com>\n <r1@example.com>\n\nThanks!\n"
    )
    parsed = parse_email(raw)
    assert parsed.message_id == "x1@example.com"
    assert parsed.in_reply_to == "r2@example.com"
    assert parsed.references == ["r0@example.com", "r1@example.com", "r2@example.com"]


def test_message_that_is_only_a_quote_keeps_the_full_text() -> None:
    raw = (
        b"From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\n"
        b"On Mon, 30 Nov 2026 at 10:00, Support <s@example.com> wrote:\n"
        b"> Your refund was issued.\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == parsed.full_text
    assert "> Your refund was issued." in parsed.text


def test_empty_text_alternative_falls_back_to_html() -> None:
    raw = (
        b"From: a@example.com\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/alternative; boundary="alt"\n\n'
        b"--alt\nContent-Type: text/plain; charset=utf-8\n\n\n"
        b"--alt\nContent-Type: text/html; charset=utf-8\n\n<p>Where is <b>my</b> parcel?</p>\n"
        b"--alt--\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == "Where is my parcel?"
    assert parsed.html_only is True


def test_forwarded_rfc822_attachment_is_listed_not_read_as_body() -> None:
    raw = (
        b"From: a@example.com\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="m"\n\n'
        b"--m\nContent-Type: text/plain; charset=utf-8\n\nSee the attached confirmation.\n"
        b'--m\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename="c.eml"\n\n'
        b"From: shop@example.com\nSubject: Order confirmation\n\nYour order 1 is confirmed.\n"
        b"--m--\n"
    )
    parsed = parse_email(raw)
    assert parsed.text == "See the attached confirmation."
    assert parsed.attachments == ["c.eml"]


# --------------------------------------------------------------------------- strip_reply

FORWARD = (
    "See below.\n\n---------- Forwarded message ---------\nFrom: Shop <shop@example.com>\n"
    "Date: Mon, 30 Nov 2026\nSubject: Your order\nTo: <c@example.com>\n\nOrder 1 shipped."
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "Thanks, that works.\n\nOn Mon, Nov 30, 2026 at 4:02 PM Support Team <\n"
            "support@example.com> wrote:\n\nOld text without quote marks\n",
            "Thanks, that works.",
            id="wrapped-attribution-unquoted-history",
        ),
        pytest.param(
            "Danke!\n\nAm Mo., 30. Nov. 2026 um 16:02 Uhr schrieb Support <s@example.com>:\n"
            "> Alt\n",
            "Danke!",
            id="german",
        ),
        pytest.param(
            "Merci.\n\nLe lun. 30 nov. 2026 à 16:02, Support <s@example.com> a\n"
            "écrit :\n> Ancien\n",
            "Merci.",
            id="french-wrapped",
        ),
        pytest.param(
            "Gracias.\n\nEl lun, 30 nov 2026 a las 16:02, Support (<s@example.com>)\nescribió:\n"
            "> Viejo\n",
            "Gracias.",
            id="spanish",
        ),
        pytest.param(
            "Please resend.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nOld\n",
            "Please resend.",
            id="original-message",
        ),
        pytest.param(
            "Voici la facture.\n\nDe : Support <s@example.com>\nEnvoyé : lundi 30 novembre 2026\n"
            "À : Client <c@example.com>\nObjet : Facture\n\nAncien message\n",
            "Voici la facture.",
            id="outlook-french-header-block",
        ),
        pytest.param(
            "New text.\n________________________________\nFrom: Support <s@example.com>\n"
            "Sent: Monday\n\nOld\n",
            "New text.",
            id="underscore-separator",
        ),
        pytest.param(
            "Call me back.\n\n--\nJohn Doe\nACME Ltd | +1 555 0100\n",
            "Call me back.",
            id="dash-dash-without-space",
        ),
        pytest.param(
            "Ok.\n\nGet Outlook for Android<https://aka.ms/AAb9ysg>\n",
            "Ok.",
            id="get-outlook",
        ),
        pytest.param(
            "Bitte stornieren.\n\nVon meinem iPhone gesendet\n",
            "Bitte stornieren.",
            id="german-iphone",
        ),
        pytest.param(
            "> Can you confirm the address?\nYes, 12 Main St.\n> And the phone?\n+1 555 0199\n",
            "Yes, 12 Main St.\n+1 555 0199",
            id="inline-answers",
        ),
        pytest.param(
            "Hi,\n\nPlease check these orders:\n- 48213\n- 48214\n\nThanks,\nMaria\n",
            "Hi,\n\nPlease check these orders:\n- 48213\n- 48214\n\nThanks,\nMaria",
            id="lists-and-sign-off-kept",
        ),
        pytest.param(
            "On Monday I wrote to you about the invoice:\nit is still wrong.\n",
            "On Monday I wrote to you about the invoice:\nit is still wrong.",
            id="sentence-that-looks-like-an-attribution",
        ),
        pytest.param(
            FORWARD + "\n",
            FORWARD,
            id="forward-kept",
        ),
        pytest.param(
            "Sent from my iPhone\n\n> On 1 Dec 2026, at 10:00, S <s@example.com> wrote:\n> Hi\n",
            "Sent from my iPhone\n\n> On 1 Dec 2026, at 10:00, S <s@example.com> wrote:\n> Hi",
            id="nothing-new-falls-back-to-full-text",
        ),
    ],
)
def test_strip_reply(body: str, expected: str) -> None:
    assert strip_reply(body) == expected


def test_strip_reply_tidies_whitespace() -> None:
    body = "  Hello\u00a0\u00a0there \r\n\r\n\r\n\r\nSecond\tline\u200b  \r\n"
    assert strip_reply(body) == "Hello there\n\nSecond line"


# --------------------------------------------------------------------------- html_to_text


def test_html_to_text_structure() -> None:
    html = (
        "<html><head><title>t</title></head><body>"
        "<p>First <b>bold</b>\n  paragraph<br>same paragraph</p>"
        "<ul><li>one</li><li>two</li></ul><ol><li>a</li><li>b</li></ol>"
        "<table><tr><td>Order</td><td>48213</td></tr></table>"
        "<!-- a comment --><script>var x = 1;</script>"
        "</body></html>"
    )
    assert html_to_text(html) == (
        "First bold paragraph\nsame paragraph\n\n- one\n- two\n1. a\n2. b\nOrder 48213"
    )


@pytest.mark.parametrize(
    "hidden",
    [
        '<div style="display: none !important">INJECTED</div>',
        '<span style="visibility:hidden">INJECTED</span>',
        '<p style="font-size:0">INJECTED</p>',
        '<div style="max-height:0;overflow:hidden">INJECTED</div>',
        '<div style="mso-hide:all">INJECTED</div>',
        '<div style="opacity:0">INJECTED</div>',
        '<div style="position:absolute;left:-9999px">INJECTED</div>',
        "<div hidden>INJECTED</div>",
        '<style>.pre { display:none }</style><div class="pre">INJECTED</div>',
    ],
)
def test_html_to_text_drops_hidden_elements(hidden: str) -> None:
    text = html_to_text(f"<div>Visible request.</div>{hidden}<div>More.</div>")
    assert text == "Visible request.\nMore."


def test_html_to_text_keeps_elements_hidden_only_in_a_media_query() -> None:
    html = "<style>@media (max-width:600px){.desk{display:none}}</style><div class=desk>Hi</div>"
    assert html_to_text(html) == "Hi"


def test_html_to_text_drops_outlook_desktop_reply_header_and_history() -> None:
    html = (
        '<div class="WordSection1"><p class="MsoNormal">Please check again.</p>'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        '<p class="MsoNormal"><b>From:</b> Support &lt;s@example.com&gt;<br><b>Sent:</b> Monday'
        '</p></div><p class="MsoNormal">Old history</p></div>'
    )
    assert html_to_text(html) == "Please check again."


def test_html_to_text_survives_deep_nesting() -> None:
    html = "<div>" * 3000 + "deep" + "</div>" * 3000
    assert html_to_text(html) == "deep"
