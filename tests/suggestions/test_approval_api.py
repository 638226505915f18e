"""The approval workflow over HTTP, on SQLite and PostgreSQL, with the real pipeline:
every processed message gets a suggestion; agents accept, edit or reject it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from adapters.container import Container
from tests.helpers import Api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kb(container: Container) -> None:
    """Two demo-company articles, ingested for real (chunk, embed, Chroma)."""
    from kb_ingest.pipeline import IngestOptions
    from workers.kb import ingest_files

    ingest_files(
        container,
        [
            ROOT / "demo/kb/returns-refunds/returns-window.md",
            ROOT / "demo/kb/shipping/lost-parcel.md",
        ],
        IngestOptions(),
    )


def ask(api: Api, text: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "email",
        "sender": {"email": "maria.lopez@example.com", "name": "Maria Lopez"},
        "subject": "Question",
        "text": text,
    }
    body.update(extra)
    response = api.message(wait=True, **body)
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    assert out["status"] == "processed", out
    return out


def expected_rows(
    decided: list[tuple[dict[str, Any], str, int | None]], field: str | None
) -> dict[str | None, dict[str, Any]]:
    """The stats rows `GET /v1/suggestions/stats` must give, grouped by `field` of each
    suggestion (None: by drafter), computed here from the outcomes."""
    groups: dict[str | None, list[tuple[str, int | None]]] = {}
    for suggestion, outcome, distance in decided:
        key = suggestion[field] if field else suggestion["drafter"]
        groups.setdefault(key, []).append((outcome, distance))
    rows: dict[str | None, dict[str, Any]] = {}
    for key, outcomes in groups.items():
        n = {o: sum(1 for x, _ in outcomes if x == o) for o in STATUSES}
        made = n["accepted"] + n["edited"] + n["rejected"]
        approved = n["accepted"] + n["edited"]
        distances = [d for o, d in outcomes if o in ("accepted", "edited") and d is not None]
        rows[key] = {
            "key": key,
            "total": len(outcomes),
            **n,
            "acceptance_rate": round(approved / made, 4) if made else None,
            "edit_rate": round(n["edited"] / made, 4) if made else None,
            "rejection_rate": round(n["rejected"] / made, 4) if made else None,
            "mean_edit_distance": round(sum(distances) / approved, 2) if approved else None,
        }
    return rows


STATUSES = ("pending", "accepted", "edited", "rejected")


def test_processed_message_gets_a_pending_suggestion(api: Api, kb: None) -> None:
    out = ask(api, "How many days do I have to return my jacket?")
    suggestion = out["suggestion"]
    assert suggestion["status"] == "pending" and suggestion["drafter"] == "composer"
    assert suggestion["draft_text"].strip()
    assert suggestion["cited_chunks"], "a KB-grounded draft cites its passages"
    assert suggestion["kb_version"] == 1
    assert out["message"]["suggestion_id"] == suggestion["id"]
    again = api.get(f"/v1/messages/{out['message_id']}", role="agent").json()
    assert again["suggestion_id"] == suggestion["id"]
    assert api.get(f"/v1/suggestions/{suggestion['id']}", role="agent").json() == suggestion


def test_accept_records_the_reply_in_history(api: Api, kb: None, container: Container) -> None:
    out = ask(api, "How many days do I have to return my jacket?")
    sid = out["suggestion"]["id"]
    accepted = api.post(f"/v1/suggestions/{sid}/accept", role="agent")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted" and body["edit_distance"] == 0
    assert body["final_text"] == body["draft_text"] and body["decided_by"]
    outbound_id = body["outbound_message_id"]
    outbound = api.get(f"/v1/messages/{outbound_id}", role="agent").json()
    assert outbound["direction"] == "outbound"
    assert outbound["conversation_id"] == out["conversation_id"]
    assert outbound["text"] == body["final_text"]
    timeline = api.get(f"/v1/customers/{out['customer_id']}/timeline", role="agent").json()
    kinds = [i.get("kind") for i in timeline["items"] if i["type"] == "event"]
    assert "suggestion.accepted" in kinds and "suggestion.created" in kinds
    assert outbound_id in [i["id"] for i in timeline["items"] if i["type"] == "message"]
    # The reply is processed like any message (indexed into history), but gets no triage or draft.
    for _ in range(100):
        outbound = api.get(f"/v1/messages/{outbound_id}", role="agent").json()
        if outbound["status"] == "processed":
            break
        time.sleep(0.1)
    assert outbound["status"] == "processed"
    assert outbound["triage"] is None and outbound["suggestion_id"] is None


def test_invalid_transitions_are_clear_4xx(api: Api, kb: None) -> None:
    first = ask(api, "How many days do I have to return my jacket?")["suggestion"]["id"]
    assert api.post(f"/v1/suggestions/{first}/accept", role="agent").status_code == 200
    double = api.post(f"/v1/suggestions/{first}/accept", role="agent")
    assert double.status_code == 409
    assert "already accepted" in double.json()["error"]["message"]
    second = ask(api, "My parcel never arrived, what now?", external_id="m-2")["suggestion"]["id"]
    assert (
        api.post(f"/v1/suggestions/{second}/reject", role="agent", json={"reason": "wrong topic"})
    ).status_code == 200
    after_reject = api.post(f"/v1/suggestions/{second}/accept", role="agent")
    assert after_reject.status_code == 409 and "already rejected" in after_reject.text
    third = ask(api, "Can I still return shoes after 20 days?", external_id="m-3")
    sid = third["suggestion"]["id"]
    for bad in ({"text": ""}, {"text": "   \n "}, {}, {"text": "ok", "extra": 1}):
        response = api.post(f"/v1/suggestions/{sid}/edit", role="agent", json=bad)
        assert response.status_code == 422, (bad, response.text)
    assert (
        api.post(f"/v1/suggestions/{sid}/reject", role="agent", json={"reason": ""}).status_code
        == 422
    )
    assert api.post("/v1/suggestions/nope/accept", role="agent").status_code == 404
    assert api.post(f"/v1/suggestions/{sid}/accept", role="integration").status_code == 403
    assert api.get(f"/v1/suggestions/{sid}", role="agent").json()["status"] == "pending"


def test_edit_stores_distance_and_stats(api: Api, kb: None) -> None:
    one = ask(api, "How many days do I have to return my jacket?")["suggestion"]
    two = ask(api, "My parcel never arrived, what now?", external_id="m-2")["suggestion"]
    three = ask(api, "Do you ship to Norway?", external_id="m-3")["suggestion"]
    new_text = one["draft_text"] + "\n\nP.S. Free return labels are in your account."
    edited = api.post(f"/v1/suggestions/{one['id']}/edit", role="agent", json={"text": new_text})
    assert edited.status_code == 200
    assert edited.json()["status"] == "edited"
    assert edited.json()["edit_distance"] == len(new_text) - len(one["draft_text"])
    # the edit is a timeline event of the customer: which suggestion, the reply sent, the distance
    timeline = api.get(f"/v1/customers/{edited.json()['customer_id']}/timeline", role="agent")
    kinds = [i.get("kind") for i in timeline.json()["items"] if i["type"] == "event"]
    assert kinds.count("suggestion.edited") == 1 and "suggestion.accepted" not in kinds
    (event,) = [i for i in timeline.json()["items"] if i.get("kind") == "suggestion.edited"]
    assert event["data"] == {
        "suggestion_id": one["id"],
        "message_id": one["message_id"],
        "outbound_message_id": edited.json()["outbound_message_id"],
        "edit_distance": edited.json()["edit_distance"],
    }
    outbound = api.get(f"/v1/messages/{edited.json()['outbound_message_id']}", role="agent")
    assert outbound.json()["text"] == new_text  # the agent's text is what was sent
    rejected = api.post(
        f"/v1/suggestions/{two['id']}/reject", role="agent", json={"reason": "  not needed "}
    )
    assert rejected.status_code == 200 and rejected.json()["reject_reason"] == "not needed"
    # the rejection is a timeline event of the customer, with the reason
    timeline = api.get(f"/v1/customers/{rejected.json()['customer_id']}/timeline", role="agent")
    events = [i for i in timeline.json()["items"] if i.get("kind") == "suggestion.rejected"]
    assert len(events) == 1
    assert events[0]["data"]["suggestion_id"] == two["id"]
    assert events[0]["data"]["message_id"] == two["message_id"]
    assert events[0]["data"]["reason"] == "not needed"
    stats = api.get("/v1/suggestions/stats", role="agent").json()
    overall = stats["overall"]
    assert (overall["total"], overall["pending"], overall["edited"], overall["rejected"]) == (
        3,
        1,
        1,
        1,
    )
    assert overall["acceptance_rate"] == 0.5 and overall["edit_rate"] == 0.5
    assert overall["mean_edit_distance"] == edited.json()["edit_distance"]
    # every dimension: each suggestion counted under its own key, with its own outcome, and
    # the rates and mean edit distance of exactly those suggestions
    distance = edited.json()["edit_distance"]
    decided = [(one, "edited", distance), (two, "rejected", None), (three, "pending", None)]
    for dimension, field in (("by_team", "team"), ("by_intent", "intent"), ("by_drafter", None)):
        want = expected_rows(decided, field)
        got = {r["key"]: r for r in stats[dimension]}
        assert got == want, dimension
    assert stats["by_drafter"] == [
        {
            "key": "composer",
            "total": 3,
            "pending": 1,
            "accepted": 0,
            "edited": 1,
            "rejected": 1,
            "acceptance_rate": 0.5,
            "edit_rate": 0.5,
            "rejection_rate": 0.5,
            "mean_edit_distance": distance,
        }
    ]
    assert [r["key"] for r in stats["by_team"]] == sorted(
        {s["team"] for s in (one, two, three)}, key=lambda k: k or ""
    )
    pending = api.get("/v1/suggestions", role="agent", params={"status": "pending"}).json()
    assert pending["total"] == 1 and pending["items"][0]["status"] == "pending"
    assert api.get("/v1/suggestions", role="agent", params={"status": "bogus"}).status_code == 422


def test_queue_orders_by_priority_then_waiting_time(api: Api, kb: None) -> None:
    ask(api, "Do you ship to Norway?")
    ask(
        api,
        "URGENT: someone stole my card and is using my account, lock it now!",
        external_id="m-urgent",
        channel="chat",
        sender={"handle": "x1", "name": "Sam"},
    )
    items = api.get("/v1/suggestions", role="agent").json()["items"]
    ranks = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
    order = [ranks.get(i["priority"], 4) for i in items]
    assert order == sorted(order)
    team = items[0]["team"]
    only = api.get("/v1/suggestions", role="agent", params={"team": team}).json()["items"]
    assert only and all(i["team"] == team for i in only)
    # same priority: the customer who wrote first waits longest, whenever the draft was made
    late = ask(api, "Do you ship to Iceland?", external_id="m-late")["message_id"]
    early = ask(
        api,
        "Do you ship to Malta?",
        external_id="m-early",
        sent_at="2026-01-05T09:00:00Z",
    )["message_id"]
    normal = [
        i["message_id"]
        for i in api.get("/v1/suggestions", role="agent", params={"priority": "normal"}).json()[
            "items"
        ]
    ]
    assert normal.index(early) < normal.index(late)


def test_approved_answer_is_reused_for_the_same_question(api: Api, kb: None) -> None:
    question = "How many days do I have to return my jacket?"
    first = ask(api, question)["suggestion"]
    edited_text = "Hello Maria,\n\nYou have 30 days from delivery to return it.\n\nBest regards"
    api.post(f"/v1/suggestions/{first['id']}/edit", role="agent", json={"text": edited_text})
    second = ask(
        api,
        question,
        external_id="other-customer",
        channel="chat",
        sender={"handle": "c-77", "name": "Jonas Weber"},
    )["suggestion"]
    assert second["approved_answer_id"]
    assert "You have 30 days from delivery to return it." in second["draft_text"]
    assert "Maria" not in second["draft_text"]


def test_removing_an_offer_in_an_edit_records_it_as_declined(
    api: Api, kb: None, container: Container
) -> None:
    from core.identity.models import Customer
    from core.suggestions.models import Suggestion

    out = ask(api, "How many days do I have to return my jacket?")
    sid = out["suggestion"]["id"]
    with container.session() as session:  # a draft that offers an upgrade
        row = session.get(Suggestion, sid)
        assert row is not None
        row.draft_text += "\n\nYou can also add Premium Support for 4-hour responses."
        session.commit()
    final = "Hello Maria,\n\nYou have 30 days from delivery to return it."
    assert api.post(f"/v1/suggestions/{sid}/edit", role="agent", json={"text": final}).is_success
    with container.session(write=False) as session:
        customer = session.get(Customer, out["customer_id"])
        assert customer is not None
        assert customer.attributes["declined_offers"] == ["premium_support_upgrade"]
    timeline = api.get(f"/v1/customers/{out['customer_id']}/timeline", role="agent").json()
    declined = [i for i in timeline["items"] if i.get("kind") == "offer.declined"]
    assert declined and declined[0]["data"]["offers"] == ["premium_support_upgrade"]


def test_a_merge_moves_the_other_customers_suggestions(api: Api, kb: None) -> None:
    first = ask(api, "How many days do I have to return my jacket?")
    second = ask(
        api,
        "My parcel never arrived",
        channel="sms",
        sender={"phone": "+34 612 345 678", "name": "Maria Lopez"},
    )
    assert first["customer_id"] != second["customer_id"]
    merged = api.post(
        f"/v1/customers/{first['customer_id']}/merge", json={"other_id": second["customer_id"]}
    )
    assert merged.status_code == 200, merged.text
    moved = api.get(f"/v1/suggestions/{second['suggestion']['id']}", role="agent").json()
    assert moved["customer_id"] == first["customer_id"]
    accepted = api.post(f"/v1/suggestions/{moved['id']}/accept", role="agent")
    assert accepted.status_code == 200, accepted.text
    timeline = api.get(f"/v1/customers/{first['customer_id']}/timeline?limit=50").json()
    kinds = [i.get("kind") for i in timeline["items"] if i["type"] == "event"]
    assert "suggestion.accepted" in kinds
