"""Every bad input gets a 4xx naming what is wrong; duplicates are recognized; auth and roles."""

from __future__ import annotations

import pytest

from tests.helpers import Api

GOOD = {"channel": "chat", "sender": {"handle": "v-1"}, "text": "hello"}


def error(resp: object) -> dict[str, object]:
    body = resp.json()  # type: ignore[attr-defined]
    assert "error" in body, body
    return body["error"]  # type: ignore[no-any-return]


def test_same_external_id_twice_returns_the_first_message(api: Api) -> None:
    first = api.message(**GOOD, external_id="ext-1")
    assert first.status_code == 202
    again = api.message(**{**GOOD, "text": "different text"}, external_id="ext-1")
    assert again.status_code == 200
    assert again.json()["message_id"] == first.json()["message_id"]
    assert again.json()["duplicate"] is True
    # Same external id on another channel is another message.
    other = api.message(
        **{**GOOD, "channel": "sms", "sender": {"phone": "+14155550100"}}, external_id="ext-1"
    )
    assert other.status_code == 202
    assert other.json()["message_id"] != first.json()["message_id"]
    timeline = api.get(f"/v1/customers/{first.json()['customer_id']}/timeline").json()["items"]
    assert len([i for i in timeline if i["type"] == "message"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({**GOOD, "text": None}, 422, "text", "text"),
        ({k: v for k, v in GOOD.items() if k != "text"}, 422, "text", "required"),
        ({**GOOD, "text": "   "}, 422, "text", "blank"),
        ({**GOOD, "channel": "pigeon"}, 422, "channel", "channel"),
        ({**GOOD, "sender": {"name": "No Ids"}}, 422, "sender", "at least one of"),
        ({**GOOD, "sender": {"email": "not-an-email"}}, 422, "sender.email", "not a valid email"),
        ({**GOOD, "sender": {"phone": "12"}}, 422, "sender.phone", "phone"),
        ({**GOOD, "sender": {"phone": "call me maybe"}}, 422, "sender.phone", "phone"),
        ({**GOOD, "channel": "email", "sender": {"handle": "x"}}, 422, "sender.handle", "platform"),
        ({**GOOD, "text": "x" * 70_000}, 413, "text", "limit"),
        ({**GOOD, "body": "typo"}, 422, "body", "not a known field"),
        ({**GOOD, "sent_at": "yesterday"}, 422, "sent_at", "datetime"),
        (
            {
                **GOOD,
                "channel": "phone",
                "sender": {"phone": "+14155550100"},
                "metadata": {"duration_s": -1},
            },
            422,
            None,
            "duration_s",
        ),
    ],
)
def test_bad_message_bodies(
    api: Api, body: dict, status: int, field: str | None, words: str
) -> None:
    resp = api.post("/v1/messages", role="integration", json=body)
    assert resp.status_code == status, resp.text
    err = error(resp)
    if field:
        assert err["field"] == field, err
    assert words in str(err["message"]), err


def test_invalid_json_and_wrong_content_type(api: Api) -> None:
    resp = api.post(
        "/v1/messages", content=b'{"channel": "chat",', headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert error(resp)["code"] == "invalid_json"
    resp = api.post("/v1/messages", content=b"channel=chat", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    assert "application/json" in str(error(resp)["message"])
    resp = api.post("/v1/messages", json=[1, 2])
    assert resp.status_code == 422


def test_nothing_is_stored_on_bad_input(api: Api) -> None:
    api.post("/v1/messages", json={**GOOD, "sender": {"handle": "v-9", "email": "bad"}})
    found = api.client.get("/v1/customers?handle=chat:v-9", headers=api.headers()).json()["items"]
    assert found == []


def test_unknown_ids_are_404(api: Api) -> None:
    for path in ("/v1/messages/nope", "/v1/customers/nope", "/v1/customers/nope/timeline"):
        resp = api.get(path)
        assert resp.status_code == 404, path
        assert "does not exist" in str(error(resp)["message"])
    resp = api.post("/v1/customers/nope/merge", json={"other_id": "x"})
    assert resp.status_code == 404
    resp = api.get("/v1/customers")
    assert resp.status_code == 422
    resp = api.get("/v1/customers?email=broken")
    assert resp.status_code == 422 and error(resp)["field"] == "email"
    resp = api.get("/v1/customers?handle=noplatform")
    assert resp.status_code == 422 and error(resp)["field"] == "handle"
    resp = api.get("/v1/nothing-here")
    assert resp.status_code == 404


def test_auth_and_roles(api: Api) -> None:
    client = api.client
    assert client.get("/healthz").status_code == 200
    for path in ("/readyz", "/metrics", "/v1/customers?email=a@example.com"):
        resp = client.get(path)
        assert resp.status_code == 401, path
        assert resp.headers["www-authenticate"] == "Bearer"
    resp = client.get("/readyz", headers={"Authorization": "Bearer tl_wrong"})
    assert resp.status_code == 401 and "unknown" in str(error(resp)["message"])
    resp = client.get("/readyz", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401
    # Agents read customers but do not ingest; knowledge managers do neither.
    resp = api.message(role="agent", **GOOD)
    assert resp.status_code == 403 and "integration" in str(error(resp)["message"])
    resp = api.get("/v1/customers?email=a@example.com", role="knowledge_manager")
    assert resp.status_code == 403
    assert api.message(role="integration", **GOOD).status_code == 202
    assert api.message(role="admin", **{**GOOD, "text": "again"}).status_code == 202
    assert api.get("/v1/customers?email=a@example.com", role="agent").status_code == 200
    _r = api.get("/readyz", role="knowledge_manager")
    assert _r.status_code == 200, _r.text


def test_metrics_docs_and_readiness(api: Api) -> None:
    api.message(**GOOD, wait=True)
    ready = api.get("/readyz").json()
    assert ready == {
        "status": "ready",
        "checks": {"database": "ok", "vector_store": "ok", "queue": "ok", "embedder": "ok"},
    }
    text = api.get("/metrics").text
    assert 'threadline_messages_ingested_total{channel="chat"}' in text
    assert "threadline_processing_latency_seconds_bucket" in text
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    assert "/static-offline-docs/" in docs.text or "swagger-ui" in docs.text
