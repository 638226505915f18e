"""The drafting scenario set (`evals/datasets/drafting/scenarios.jsonl`) is well formed: every
line parses, ids are unique, labels point at real public KB documents of `demo/kb`, expected
facts are facts of those documents, senders are real demo customers, and the prior-channel
expectations match the demo history."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.conversations.schemas import CHANNELS, MessageIn
from core.drafting.facts import extract_facts

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "evals" / "datasets" / "drafting" / "scenarios.jsonl"
KB_DIR = ROOT / "demo" / "kb"
DATA_DIR = ROOT / "demo" / "data"
AREAS = {
    "returns-refunds",
    "shipping",
    "orders",
    "payments-invoices",
    "account-security",
    "b2b",
    "troubleshooting",
    "none",
}
OFFERS = {"premium_support_upgrade", "extended_warranty"}
WINDOW_MINUTES = 14 * 24 * 60  # the default acknowledgement window


def _scenarios() -> list[dict[str, Any]]:
    lines = SCENARIOS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _kb_documents() -> dict[str, tuple[str, str]]:
    """Document id → (audience, text) for every article and FAQ row of the demo KB."""
    docs: dict[str, tuple[str, str]] = {}
    for path in sorted(KB_DIR.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front)
        docs[str(meta["id"])] = (str(meta.get("audience", "public")), body)
    with (KB_DIR / "faq.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            docs[row["id"]] = (row["audience"], f"{row['question']}\n{row['answer']}")
    return docs


SCENARIO_ROWS = _scenarios()
DOCUMENTS = _kb_documents()


def test_enough_unique_scenarios_over_every_channel_and_area() -> None:
    ids = [s["id"] for s in SCENARIO_ROWS]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids)
    assert {s["channel"] for s in SCENARIO_ROWS} == set(CHANNELS)
    assert {s["area"] for s in SCENARIO_ROWS} == AREAS
    assert sum(1 for s in SCENARIO_ROWS if s["expected_document"] is None) >= 3
    assert any(s["public"] for s in SCENARIO_ROWS)
    assert {s["declined_offer"] for s in SCENARIO_ROWS} >= OFFERS


@pytest.mark.parametrize("scenario", SCENARIO_ROWS, ids=lambda s: s["id"])
def test_scenario_is_a_valid_message_with_real_labels(scenario: dict[str, Any]) -> None:
    body = {k: scenario[k] for k in ("channel", "sender", "text", "metadata")}
    if "subject" in scenario:
        body["subject"] = scenario["subject"]
    MessageIn.model_validate(body)  # what POST /v1/messages accepts
    assert scenario["channel"] in CHANNELS
    assert scenario["area"] in AREAS
    assert scenario["minutes_ago"] > 0
    assert scenario["public"] is bool(scenario["metadata"].get("public"))
    if scenario["public"]:
        assert scenario["channel"] in ("facebook", "instagram", "twitter")
    assert scenario["declined_offer"] in (None, *OFFERS)

    doc = scenario["expected_document"]
    if doc is None:
        assert scenario["area"] == "none"
        assert scenario["expected_facts"] == []
        return
    assert doc in DOCUMENTS, f"{doc} is no document id of demo/kb"
    audience, text = DOCUMENTS[doc]
    assert audience == "public", f"{doc} is not a customer-facing document"
    values = {f.value for f in extract_facts(text)}
    for fact in scenario["expected_facts"]:
        assert fact in values, f"{fact!r} is not a fact of {doc}"


def _identifiers(record: dict[str, Any]) -> set[str]:
    import phonenumbers

    out = {e.lower() for e in record["emails"]}
    for phone in record["phones"]:
        number = phonenumbers.parse(phone, "US")
        out.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    out |= {h.lower() for h in record["handles"].values() if h}
    return out


def _sender_ids(sender: dict[str, Any]) -> set[str]:
    return {str(sender[k]).lower() for k in ("email", "phone", "handle") if sender.get(k)}


def test_senders_are_demo_customers_and_prior_channels_match_the_demo_history() -> None:
    customers = {c["key"]: c for c in json.loads((DATA_DIR / "customers.json").read_text("utf-8"))}
    messages = json.loads((DATA_DIR / "messages.json").read_text("utf-8"))
    for s in SCENARIO_ROWS:
        record = customers[s["customer"]]
        known = _identifiers(record)
        assert _sender_ids(s["sender"]) <= known, f"{s['id']}: sender is not {s['customer']}"
        own = [m for m in messages if m["customer"] == s["customer"]]
        assert s["minutes_ago"] < min(m["minutes_ago"] for m in own), (
            f"{s['id']} must come after the customer's demo messages"
        )
        # Earlier messages on another channel, within the window, from identifiers the CRM
        # knows (a message from an unlinked handle belongs to another customer record);
        # earlier scenarios of the same customer count too.
        history = [(m["minutes_ago"], m["channel"], m["sender"]) for m in own]
        history += [
            (o["minutes_ago"], o["channel"], o["sender"])
            for o in SCENARIO_ROWS
            if o["customer"] == s["customer"] and o["minutes_ago"] > s["minutes_ago"]
        ]
        channels = {
            channel
            for ago, channel, sender in history
            if channel != s["channel"]
            and 0 < ago - s["minutes_ago"] <= WINDOW_MINUTES
            and _sender_ids(sender) & known
        }
        if s["public"]:
            assert s["expects_prior_channel"] is None, f"{s['id']}: public replies name no contact"
        elif s["expects_prior_channel"] is None:
            assert not channels, f"{s['id']}: has {sorted(channels)} within the window"
        else:
            assert channels == {s["expects_prior_channel"]}, f"{s['id']}: window has {channels}"
