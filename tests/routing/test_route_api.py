"""/v1/route, the classify pipeline step, re-routing and retraining, through the API."""

from __future__ import annotations

import json
import time
from pathlib import Path

from adapters.container import Container
from tests.helpers import Api
from workers.routing import retrain, save_trained

TRAINING = {
    "lost_parcel": [
        "my parcel never arrived",
        "the package did not show up, tracking stuck for a week",
        "where is my delivery? it is lost",
        "courier says delivered but I have nothing",
    ],
    "password_reset": [
        "I forgot my password",
        "the reset link does not work, cannot log in",
        "how do I change my password",
        "password reset email never came",
    ],
    "return_request": [
        "I want to return my jacket",
        "how do I send back an item",
        "can I return the boots I bought",
        "return label please, wrong size",
    ],
}


def train_small(container: Container, intent_encoder: str | None = None) -> str:
    texts = [t for ts in TRAINING.values() for t in ts]
    labels = [lab for lab, ts in TRAINING.items() for _ in ts]
    vectors = container.intent_vectors(texts, container.embedder.embed(texts), intent_encoder)
    team_of = {
        "lost_parcel": "orders_shipping",
        "password_reset": "account_security",
        "return_request": "returns_refunds",
    }
    _, version = save_trained(container, texts, labels, vectors, team_of, None, {}, intent_encoder)
    container.settings.model_refresh_seconds = 0.001
    return version


def test_route_zero_shot_then_trained(api: Api, container: Container) -> None:
    zero = api.post(
        "/v1/route",
        role="integration",
        json={
            "channel": "chat",
            "text": "Hello, my parcel never came and the tracking has not moved for a week",
        },
    )
    assert zero.status_code == 200, zero.text
    body = zero.json()
    assert body["model_version"].startswith("zero-shot")
    assert body["team"]["name"] in container.routing_config.teams
    assert body["reasons"] and body["language"] == "en"
    version = train_small(container)
    time.sleep(0.01)
    routed = api.post(
        "/v1/route",
        role="integration",
        json={"channel": "sms", "text": "hi, I forgot my password and the link is dead"},
    ).json()
    assert routed["model_version"] == version
    assert routed["intent"]["label"] == "password_reset"
    assert routed["team"]["name"] == "account_security"
    assert 0 <= routed["intent"]["confidence"] <= 1
    assert routed["alternatives"]


def test_route_validation(api: Api) -> None:
    def post(body: object, **kw: object) -> object:
        return api.post("/v1/route", role="integration", json=body, **kw)

    assert post({"text": ""}).status_code == 422
    assert post({"text": "   "}).status_code == 422
    assert post({"text": "x" * 100_000}).status_code == 413
    assert post({"text": "hi", "channel": "fax"}).status_code == 422
    bad_utf8 = api.post(
        "/v1/route",
        role="integration",
        content=b'{"text": "caf\\xe9 \xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert bad_utf8.status_code in (400, 422)
    emoji = post({"text": "😡😡😡"})
    assert emoji.status_code == 200 and emoji.json()["language"] is None
    german = post({"text": "Mein Paket ist seit zwei Wochen nicht angekommen, das ist ärgerlich"})
    assert german.status_code == 200 and german.json()["language"] == "de"
    batch = api.post(
        "/v1/route/batch",
        role="integration",
        json={"items": [{"text": "refund please"}, {"text": "Où est mon colis ?"}]},
    )
    assert batch.status_code == 200 and len(batch.json()["items"]) == 2
    assert api.post("/v1/route/batch", json={"items": []}).status_code == 422
    assert api.post("/v1/route", role="knowledge_manager", json={"text": "x"}).status_code == 403


def test_route_knows_the_customer_and_kb(api: Api, container: Container, tmp_path: Path) -> None:
    from kb_ingest.pipeline import IngestOptions
    from workers.kb import ingest_files

    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "lost.md").write_text(
        "---\nid: lost-parcel\ntitle: Lost parcel\n---\n# Lost\n\nTrace after 7 days."
    )
    ingest_files(container, [kb], IngestOptions())
    api.message(
        channel="facebook",
        sender={"handle": "42", "email": "kim@example.com"},
        text="my tent pole broke",
        wait=True,
    )
    out = api.post(
        "/v1/route",
        role="integration",
        json={
            "channel": "email",
            "text": "the tent is still broken",
            "sender": {"email": "kim@example.com"},
        },
    ).json()
    assert out["customer_id"]
    assert out["related"] and out["related"][0]["channel"] == "facebook"
    assert out["kb"] and out["kb"][0]["document_id"] == "lost-parcel"
    plain = api.post("/v1/route", role="integration", json={"text": "the tent is still broken"})
    assert plain.json()["kb"] == [] and plain.json()["customer_id"] is None


def test_pipeline_triages_and_agents_reroute(api: Api, container: Container) -> None:
    train_small(container)
    sent = api.message(
        channel="chat",
        sender={"handle": "v1"},
        text="where is my parcel, it never arrived",
        wait=True,
    ).json()
    message = sent["message"]
    assert message["intent"] == "lost_parcel" and message["team"] == "orders_shipping"
    assert message["triage"]["model_version"] and message["priority"]
    timeline = api.get(f"/v1/customers/{sent['customer_id']}/timeline").json()["items"]
    shown = [i for i in timeline if i["type"] == "message" and i["id"] == sent["message_id"]]
    assert shown[0]["team"] == "orders_shipping"

    moved = api.post(
        f"/v1/messages/{sent['message_id']}/reroute",
        role="agent",
        json={
            "team": "returns_refunds",
            "intent": "return_request",
            "reason": "wants to return it",
        },
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["team"] == "returns_refunds"
    assert moved.json()["triage"]["team"]["name"] == "orders_shipping"  # the original decision
    events = api.get(f"/v1/customers/{sent['customer_id']}/timeline").json()["items"]
    rerouted = [e for e in events if e["type"] == "event" and e["kind"] == "rerouted"]
    assert rerouted and rerouted[0]["data"]["to_team"] == "returns_refunds"
    bad = api.post(
        f"/v1/messages/{sent['message_id']}/reroute", role="agent", json={"team": "nope"}
    )
    assert bad.status_code == 422 and "unknown team" in bad.json()["error"]["message"]
    assert (
        api.post("/v1/messages/nope/reroute", role="agent", json={"team": "general"}).status_code
        == 404
    )

    # The correction becomes a training example of the retrained model.
    version = retrain(container)
    assert version is not None
    folder = container.settings.models_dir
    data = (folder / f"intent-{version}.data.jsonl").read_text().splitlines()
    assert {"text": "where is my parcel, it never arrived", "label": "return_request"} in [
        json.loads(line) for line in data
    ]
    queued = api.post("/v1/router/retrain", role="knowledge_manager")
    assert queued.status_code == 202


def test_classify_step_is_idempotent(api: Api, container: Container) -> None:
    from workers.tasks import run_batch

    sent = api.message(channel="sms", sender={"phone": "+14155550100"}, text="refund?", wait=True)
    first = api.get(f"/v1/messages/{sent.json()['message_id']}").json()
    again = run_batch(container, [first["id"]])
    assert again.skipped == [first["id"]]
    assert api.get(f"/v1/messages/{first['id']}").json()["triage"] == first["triage"]


def test_unsupported_language_is_routed_by_rule(api: Api, container: Container) -> None:
    train_small(container)
    # Italian: password_reset belongs to account_security, which does not speak it.
    out = api.post(
        "/v1/route",
        role="integration",
        json={"text": "Ho dimenticato la mia password e il link per reimpostarla non funziona"},
    ).json()
    assert out["language"] == "it"
    assert out["team"]["name"] == container.routing_config.fallback_team
    assert "unsupported-language" in out["rules_fired"]


def test_second_intent_encoder_in_route_pipeline_and_retrain(
    api: Api, container: Container, tmp_path: Path
) -> None:
    """A model trained on joined vectors (a second encoder; here a copy of the message model's
    folder under another name, the real all-mpnet-base-v2 runs in test_cli) records its encoder;
    /v1/route, the classify step and retraining all use it, whatever the setting says."""
    import shutil

    from adapters.embeddings.sentence_transformer import default_model_path
    from core.classification.joined import JoinedEncoderModel

    second = tmp_path / "second-encoder"
    shutil.copytree(default_model_path(), second)
    version = train_small(container, str(second))
    time.sleep(0.01)
    model = container.triager().model
    assert isinstance(model, JoinedEncoderModel) and model.version == version
    routed = api.post(
        "/v1/route", role="integration", json={"text": "I forgot my password, the link is dead"}
    ).json()
    assert (routed["model_version"], routed["intent"]["label"]) == (version, "password_reset")
    sent = api.message(
        channel="chat",
        sender={"email": "ana@example.com"},
        text="my parcel never arrived",
        wait=True,
    )
    stored = api.get(f"/v1/messages/{sent.json()['message_id']}").json()
    assert stored["triage"]["model_version"] == version
    assert stored["intent"] == "lost_parcel"
    retrained = retrain(container)  # keeps the model's encoder (the setting is unset)
    assert retrained is not None and retrained != version
    time.sleep(0.01)
    assert container.triager().model.version == retrained
    assert isinstance(container.triager().model, JoinedEncoderModel)
