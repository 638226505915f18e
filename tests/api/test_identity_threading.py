"""Cross-channel identity, threading, merge and the timeline, through the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import Api

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def test_switching_channels_keeps_one_customer_and_thread(api: Api) -> None:
    fb = api.message(
        channel="facebook",
        external_id="fb-1",
        sender={"name": "Maria Lopez", "handle": "100012345678"},
        text="Hi, my order NW-20417 still hasn't arrived",
        sent_at=at(0),
    ).json()
    # The helpdesk's chat widget asked for her email: handle + email links the two.
    chat = api.message(
        channel="chat",
        external_id="chat-1",
        sender={"handle": "facebook:100012345678", "email": "Maria.Lopez@Example.com"},
        text="same problem as on facebook, order NW-20417",
        sent_at=at(20),
    ).json()
    call = api.message(
        channel="phone",
        external_id="call-1",
        sender={"phone": "+34 612 345 678", "email": "maria.lopez@example.com"},
        text="Customer called about late parcel NW-20417; promised an email update.",
        sent_at=at(30),
        metadata={"duration_s": 312, "direction": "inbound"},
    ).json()
    email = api.message(
        channel="email",
        external_id="<abc@mail.example.com>",
        sender={"email": "maria.lopez@example.com"},
        subject="Order NW-20417",
        text="Following up on my call yesterday.",
        sent_at=at(50),
        wait=True,
    ).json()
    ids = {fb["customer_id"], chat["customer_id"], call["customer_id"], email["customer_id"]}
    assert len(ids) == 1
    assert {fb["reference"], chat["reference"], call["reference"], email["reference"]} == {
        fb["reference"]
    }
    assert fb["reference"].startswith("TL-") and len(fb["reference"]) == 8

    customer = api.get(f"/v1/customers/{fb['customer_id']}", role="agent").json()
    assert customer["name"] == "Maria Lopez"
    assert {(i["kind"], i["value"]) for i in customer["identities"]} == {
        ("handle", "facebook:100012345678"),
        ("email", "maria.lopez@example.com"),
        ("phone", "+34612345678"),
    }
    for query in (
        "email=MARIA.lopez@example.com",
        "phone=%2B34612345678",
        "handle=facebook:100012345678",
    ):
        found = api.get(f"/v1/customers?{query}", role="agent").json()["items"]
        assert [c["id"] for c in found] == [fb["customer_id"]], query

    timeline = api.get(f"/v1/customers/{fb['customer_id']}/timeline", role="agent").json()
    messages = [i for i in timeline["items"] if i["type"] == "message"]
    assert [m["channel"] for m in messages] == ["email", "phone", "chat", "facebook"]
    assert all(m["reference"] == fb["reference"] for m in messages)
    kinds = [i["kind"] for i in timeline["items"] if i["type"] == "event"]
    assert "identities_linked" in kinds


def test_window_reference_and_email_threading(api: Api) -> None:
    first = api.message(
        channel="sms", sender={"phone": "(415) 555-0132"}, text="where is my refund", sent_at=at(0)
    ).json()
    # 100 h later: outside the 72 h window → a new conversation.
    later = api.message(
        channel="sms", sender={"phone": "+1 415 555 0132"}, text="new question", sent_at=at(100)
    ).json()
    assert later["customer_id"] == first["customer_id"]
    assert later["reference"] != first["reference"]
    # Quoting the old reference in the text brings the message back to that thread.
    quoted = api.message(
        channel="whatsapp",
        sender={"handle": "+14155550132"},
        text=f"about {first['reference'].lower()} again",
        sent_at=at(101),
    ).json()
    assert quoted["customer_id"] == first["customer_id"]
    assert quoted["reference"] == first["reference"]
    # thread_ref naming our reference.
    by_ref = api.message(
        channel="sms",
        sender={"phone": "+14155550132"},
        text="ok",
        thread_ref=later["reference"],
        sent_at=at(102),
    ).json()
    assert by_ref["reference"] == later["reference"]
    # An external helpdesk key as thread_ref keeps its own conversation.
    zd1 = api.message(
        channel="web_form",
        sender={"email": "a@example.com"},
        text="ticket",
        thread_ref="zd-48213",
        sent_at=at(0),
    ).json()
    zd2 = api.message(
        channel="email",
        sender={"email": "a@example.com"},
        text="ticket again",
        thread_ref="zd-48213",
        sent_at=at(200),
    ).json()
    assert zd1["reference"] == zd2["reference"]
    # Email In-Reply-To joins the thread of the message it answers, even after the window.
    api.message(
        channel="email",
        external_id="orig@mail.example.com",
        sender={"email": "b@example.com"},
        subject="Invoice",
        text="Please send the invoice",
        sent_at=at(0),
    )
    other = api.message(
        channel="email", sender={"email": "b@example.com"}, text="other topic", sent_at=at(150)
    ).json()
    reply = api.message(
        channel="email",
        external_id="reply@mail.example.com",
        sender={"email": "b@example.com"},
        subject="Re: Invoice",
        text="Any news?",
        sent_at=at(151),
        metadata={"in_reply_to": "<orig@mail.example.com>"},
    ).json()
    assert reply["reference"] != other["reference"]
    assert (
        reply["conversation_id"]
        == api.get(f"/v1/messages/{reply['message_id']}").json()["conversation_id"]
    )


def test_reference_of_another_customer_is_not_joined(api: Api) -> None:
    alice = api.message(channel="chat", sender={"handle": "alice"}, text="hi", sent_at=at(0)).json()
    bob = api.message(
        channel="chat",
        sender={"handle": "bob"},
        text=f"I saw reference {alice['reference']} somewhere",
        sent_at=at(1),
    ).json()
    assert bob["customer_id"] != alice["customer_id"]
    assert bob["reference"] != alice["reference"]


def test_conflicting_identifiers_suggest_a_merge_then_merge_moves_everything(api: Api) -> None:
    a = api.message(
        channel="email", sender={"email": "anna@example.com"}, text="hello", sent_at=at(0)
    ).json()
    b = api.message(
        channel="sms", sender={"phone": "+4915123456789"}, text="hallo", sent_at=at(1)
    ).json()
    assert a["customer_id"] != b["customer_id"]
    both = api.message(
        channel="web_form",
        sender={"email": "anna@example.com", "phone": "+49 151 23456789"},
        text="it's me on both",
        sent_at=at(2),
        wait=True,
    ).json()
    assert both["customer_id"] == a["customer_id"]  # the stronger identifier (email) wins
    cust_a = api.get(f"/v1/customers/{a['customer_id']}").json()
    cust_b = api.get(f"/v1/customers/{b['customer_id']}").json()
    assert len(cust_a["merge_suggestions"]) == 1
    assert cust_a["merge_suggestions"] == cust_b["merge_suggestions"]
    assert ("phone", "+4915123456789") not in {
        (i["kind"], i["value"]) for i in cust_a["identities"]
    }
    for cid in (a["customer_id"], b["customer_id"]):
        events = api.get(f"/v1/customers/{cid}/timeline").json()["items"]
        assert any(e["type"] == "event" and e["kind"] == "merge_suggested" for e in events)

    merged = api.post(
        f"/v1/customers/{a['customer_id']}/merge", role="agent", json={"other_id": b["customer_id"]}
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert ("phone", "+4915123456789") in {(i["kind"], i["value"]) for i in body["identities"]}
    assert body["merge_suggestions"] == []
    timeline = api.get(f"/v1/customers/{a['customer_id']}/timeline").json()["items"]
    assert {i["channel"] for i in timeline if i["type"] == "message"} == {
        "email",
        "sms",
        "web_form",
    }
    merged_event = next(i for i in timeline if i["type"] == "event" and i["kind"] == "merged")
    assert merged_event["data"]["merged_customer_id"] == b["customer_id"]
    old = api.get(f"/v1/customers/{b['customer_id']}").json()
    assert old["merged_into_id"] == a["customer_id"]
    assert old["identities"] == []
    found = api.get("/v1/customers?phone=%2B4915123456789").json()["items"]
    assert [c["id"] for c in found] == [a["customer_id"]]
    # The history index follows: the moved SMS is now related history of customer A.
    related = api.get(f"/v1/messages/{both['message_id']}/related").json()["items"]
    assert {r["channel"] for r in related} == {"email", "sms"}
    again = api.post(f"/v1/customers/{a['customer_id']}/merge", json={"other_id": b["customer_id"]})
    assert again.status_code == 409
    self_merge = api.post(
        f"/v1/customers/{a['customer_id']}/merge", json={"other_id": a["customer_id"]}
    )
    assert self_merge.status_code == 409


def test_b2b_account_links_contacts(api: Api) -> None:
    one = api.message(
        channel="email",
        sender={"email": "j.weber@alpine-schools.example", "account": "Alpine Schools GmbH"},
        text="Renewal of our contract",
    ).json()
    two = api.message(
        channel="email",
        sender={"email": "it@alpine-schools.example", "account": "alpine  schools gmbh"},
        text="Bulk order of 40 headlamps",
    ).json()
    c1 = api.get(f"/v1/customers/{one['customer_id']}").json()
    c2 = api.get(f"/v1/customers/{two['customer_id']}").json()
    assert c1["id"] != c2["id"]
    assert c1["account"]["id"] == c2["account"]["id"]
    assert c1["account"]["name"] == "Alpine Schools GmbH"


def test_related_history_comes_from_other_channels(api: Api) -> None:
    sender_ids = [
        (
            "facebook",
            {"handle": "777", "email": "tom@example.com"},
            "My tent pole snapped on the first night",
        ),
        ("email", {"email": "tom@example.com"}, "Can I change the delivery address of my invoice?"),
        ("sms", {"phone": "+14155550199", "email": "tom@example.com"}, "thx for the invoice"),
    ]
    for hours, (channel, sender, text) in enumerate(sender_ids):
        api.message(channel=channel, sender=sender, text=text, sent_at=at(hours * 80))
    last = api.message(
        channel="phone",
        sender={"phone": "+14155550199"},
        text="Caller says the tent is broken, a pole cracked; wants a replacement",
        sent_at=at(400),
        wait=True,
    ).json()
    assert last["status"] == "processed"
    related = api.get(f"/v1/messages/{last['message_id']}/related?k=2").json()["items"]
    assert related[0]["channel"] == "facebook"
    assert "tent" in related[0]["text"]
    assert all(r["message_id"] != last["message_id"] for r in related)
