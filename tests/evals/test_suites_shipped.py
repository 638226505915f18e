"""The suites shipped in evals/suites: structure, and that what they expect is really there.

demo.yaml: every expected article exists in demo/kb and is public, every expected fact is one
that `extract_facts` finds in each expected article, teams and intents exist in the default
routing config, personas are fresh and consistent with the demo accounts and offers.
routing.yaml: texts are real rows of ../shared/data with the label the cluster expects.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.conversations.schemas import CHANNELS
from core.drafting.facts import extract_facts

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "evals" / "suites"
DEMO = SUITES / "demo.yaml"
ROUTING = SUITES / "routing.yaml"
KB = ROOT / "demo" / "kb"
DATA = ROOT.parent / "shared" / "data"
PUBLIC_SOCIAL = {"facebook", "instagram", "twitter"}
MAX_PRIOR_HOURS = 14 * 24


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


@cache
def demo() -> dict[str, Any]:
    return _load(DEMO)


@cache
def routing_suite() -> dict[str, Any]:
    return _load(ROUTING)


@cache
def kb_articles() -> dict[str, dict[str, str]]:
    """id → {area, audience, text} for every markdown article and FAQ row of demo/kb."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(KB.rglob("*.md")):
        raw = path.read_text(encoding="utf-8")
        match = re.match(r"^---\n(.*?)\n---\n(.*)$", raw, re.S)
        assert match, f"{path}: no front matter"
        meta = yaml.safe_load(match.group(1))
        doc_id = str(meta["id"])
        assert doc_id not in out, f"duplicate KB id {doc_id}"
        out[doc_id] = {
            "area": path.relative_to(KB).parts[0],
            "audience": str(meta.get("audience", "public")),
            "text": match.group(2),
        }
    with (KB / "faq.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["id"]] = {
                "area": "faq",
                "audience": row.get("audience") or "public",
                "text": f"{row['question']}\n\n{row['answer']}",
            }
    return out


@cache
def routing_config() -> dict[str, Any]:
    return _load(ROOT / "core" / "routing" / "default_routing.yaml")


def _clusters(suite: dict[str, Any]) -> list[dict[str, Any]]:
    clusters = suite.get("clusters")
    assert isinstance(clusters, list) and clusters
    return clusters


def _variants(suite: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(c, v) for c in _clusters(suite) for v in c["variants"]]


def _facts(text: str) -> set[str]:
    return {f.value for f in extract_facts(text)}


# --- shared structure -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DEMO, ROUTING], ids=lambda p: p.name)
def test_structure(path: Path) -> None:
    suite = _load(path)
    assert suite.get("name")
    customers = suite.get("customers")
    assert isinstance(customers, dict) and customers
    ids = [c["id"] for c in _clusters(suite)]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    for cluster in _clusters(suite):
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", cluster["id"]), cluster["id"]
        variant_ids = [v["id"] for v in cluster["variants"]]
        assert len(variant_ids) == len(set(variant_ids)), cluster["id"]
        assert len(variant_ids) >= 4, f"{cluster['id']}: {len(variant_ids)} variants"
        texts = [v["text"].strip() for v in cluster["variants"]]
        assert len(texts) == len(set(texts)), f"{cluster['id']}: repeated text"
        for variant in cluster["variants"]:
            where = f"{cluster['id']}/{variant['id']}"
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", variant["id"]), where
            assert variant["channel"] in CHANNELS, where
            assert variant["customer"] in customers, where
            assert variant["text"].strip(), where
            if variant.get("public"):
                assert variant["channel"] in PUBLIC_SOCIAL, where
    for key, persona in customers.items():
        sender = persona["sender"]
        assert sender.get("email", "").count("@") == 1, key
        for prior in persona.get("prior", []):
            assert prior["channel"] in CHANNELS, key
            assert 0 < prior["hours_ago"] <= MAX_PRIOR_HOURS, key
            assert prior["text"].strip(), key


@pytest.mark.parametrize("path", [DEMO, ROUTING], ids=lambda p: p.name)
def test_loads_through_the_runner_loader(path: Path) -> None:
    suite_module = pytest.importorskip("evals.suite")
    if "routing" in _load(path) and "routing" not in suite_module.Suite.model_fields:
        # `routing: {teams: ...}` is the routing suite's addition to the format; until the
        # loader knows it, validate everything else.
        data = {k: v for k, v in _load(path).items() if k != "routing"}
        loaded = suite_module.Suite.model_validate(data)
        assert len(loaded.clusters) == len(_clusters(_load(path)))
        return
    loaded = suite_module.load_suite(path)
    assert len(loaded.suite.clusters) == len(_clusters(_load(path)))
    assert loaded.suite.variant_count == len(_variants(_load(path)))
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.hash)
    if path == DEMO:
        assert loaded.kb_path == KB.resolve()


# --- demo.yaml --------------------------------------------------------------------------------


def test_demo_size_and_kb() -> None:
    suite = demo()
    assert (DEMO.parent / suite["kb"]).resolve() == KB.resolve()
    assert len(_clusters(suite)) >= 25
    assert all(len(c["variants"]) >= 4 for c in _clusters(suite))


def test_demo_covers_every_kb_area() -> None:
    areas = {p.name for p in KB.iterdir() if p.is_dir() and p.name != "internal"}
    assert areas >= {"returns-refunds", "shipping", "orders", "payments-invoices"}
    articles = kb_articles()
    covered: Counter[str] = Counter()
    for cluster in _clusters(demo()):
        covered.update({articles[a]["area"] for a in cluster["expected_articles"] if a in articles})
    assert areas <= set(covered), sorted(areas - set(covered))


def test_demo_expected_articles_exist_and_are_public() -> None:
    articles = kb_articles()
    for cluster in _clusters(demo()):
        expected = cluster.get("expected_articles")
        assert expected, cluster["id"]
        for doc_id in expected:
            assert doc_id in articles, f"{cluster['id']}: no KB article {doc_id!r}"
            assert articles[doc_id]["audience"] == "public", f"{cluster['id']}: {doc_id}"


def test_demo_expected_facts_are_in_every_expected_article() -> None:
    articles = kb_articles()
    for cluster in _clusters(demo()):
        facts = cluster.get("expected_facts")
        assert facts and 1 <= len(facts) <= 3, cluster["id"]
        assert len(facts) == len(set(facts)), cluster["id"]
        for doc_id in cluster["expected_articles"]:
            found = _facts(articles[doc_id]["text"])
            missing = [f for f in facts if f not in found]
            assert not missing, f"{cluster['id']}: {missing} not among the facts of {doc_id}"


def test_demo_facts_are_canonical() -> None:
    """A fact written as extract_facts would write it: extracting it gives itself back."""
    for cluster in _clusters(demo()):
        for fact in cluster["expected_facts"]:
            assert fact in _facts(fact), f"{cluster['id']}: {fact!r} is not canonical"


def test_demo_teams_and_intents_exist_in_the_default_routing() -> None:
    teams = routing_config()["teams"]
    for cluster in _clusters(demo()):
        team, intent = cluster["expected_team"], cluster["expected_intent"]
        assert team in teams, f"{cluster['id']}: unknown team {team!r}"
        assert intent in (teams[team].get("intents") or {}), (
            f"{cluster['id']}: intent {intent!r} is not one of team {team!r}"
        )
        for variant in cluster["variants"]:
            assert variant.get("expected_team", team) in teams, cluster["id"]


def test_demo_personas_are_fresh() -> None:
    customers = json.loads((ROOT / "demo" / "data" / "customers.json").read_text("utf-8"))
    demo_emails = {e.lower() for c in customers for e in c["emails"]}
    emails = [p["sender"]["email"].lower() for p in demo()["customers"].values()]
    assert len(emails) == len(set(emails))
    assert not set(emails) & demo_emails


def test_demo_has_every_kind_of_variant() -> None:
    suite = demo()
    personas = suite["customers"]
    variants = _variants(suite)
    channels = {v["channel"] for _, v in variants}
    assert {"email", "chat", "sms"} <= channels
    assert any(v.get("public") for _, v in variants)
    used = {v["customer"] for _, v in variants}
    assert used == set(personas), sorted(set(personas) - used)
    assert any(personas[k].get("prior") for k in used)
    assert any(personas[k].get("account") for k in used)
    assert any((personas[k].get("attributes") or {}).get("declined_offers") for k in used)
    expected = {a for c in _clusters(suite) for a in c["expected_articles"]}
    languages = {k.rsplit("-", 1)[-1] for k in expected if k in kb_articles()}
    assert {"de", "fr"} <= languages


def test_demo_returning_customers_wrote_on_another_channel() -> None:
    personas = demo()["customers"]
    for cluster, variant in _variants(demo()):
        prior = personas[variant["customer"]].get("prior") or []
        assert variant["channel"] not in {p["channel"] for p in prior}, (
            f"{cluster['id']}/{variant['id']}: prior contact on the same channel"
        )


def test_demo_b2b_personas_match_the_demo_accounts() -> None:
    accounts = json.loads((ROOT / "demo" / "data" / "accounts.json").read_text("utf-8"))
    managers = {a["name"]: a["attributes"]["account_manager"] for a in accounts}
    personas = demo()["customers"]
    b2b = {k for k, p in personas.items() if p.get("account")}
    assert b2b
    for key in b2b:
        persona = personas[key]
        assert persona["account"] in managers, key
        account_attributes = persona.get("account_attributes") or {}
        assert account_attributes.get("account_manager") == managers[persona["account"]], key
    # The rule `b2b-account-manager` sends every B2B contact to b2b_accounts.
    for cluster, variant in _variants(demo()):
        if variant["customer"] in b2b:
            assert variant.get("expected_team", cluster["expected_team"]) == "b2b_accounts", (
                f"{cluster['id']}/{variant['id']}"
            )


def test_demo_declined_offers_are_mentioned_by_the_expected_article() -> None:
    offers = _load(ROOT / "core" / "drafting" / "default_offers.yaml")
    articles = kb_articles()
    personas = demo()["customers"]
    for cluster, variant in _variants(demo()):
        declined = (personas[variant["customer"]].get("attributes") or {}).get("declined_offers")
        if not declined:
            continue
        text = " ".join(articles[a]["text"] for a in cluster["expected_articles"]).lower()
        for offer in declined:
            assert offer in offers, offer
            assert any(phrase.lower() in text for phrase in offers[offer]), (
                f"{cluster['id']}: expected articles never mention {offer}"
            )


# --- routing.yaml -----------------------------------------------------------------------------


def test_routing_suite_is_routing_only() -> None:
    suite = routing_suite()
    assert "kb" not in suite
    for cluster in _clusters(suite):
        assert not cluster.get("expected_articles") and not cluster.get("expected_facts")
        assert cluster.get("expected_intent"), cluster["id"]


def test_routing_suite_names_sources_and_licenses() -> None:
    text = ROUTING.read_text(encoding="utf-8")
    for needle in ("Banking77", "CC BY 4.0", "Bitext", "CDLA-Sharing-1.0"):
        assert needle in text, needle


def test_routing_teams_file() -> None:
    from core.routing.config import load_teams_yaml

    teams_path = (ROUTING.parent / routing_suite()["routing"]["teams"]).resolve()
    teams = load_teams_yaml(teams_path)
    intent_team = {i: t for t, cfg in teams.items() for i in cfg.intents}
    for cluster in _clusters(routing_suite()):
        intent = cluster["expected_intent"]
        assert intent in intent_team, f"{cluster['id']}: {intent!r} not in {teams_path.name}"
        if cluster.get("expected_team"):
            assert intent_team[intent] == cluster["expected_team"], cluster["id"]


def test_routing_suite_sizes() -> None:
    ids = [c["id"] for c in _clusters(routing_suite())]
    banking = [i for i in ids if i.startswith("b77-")]
    bitext = [i for i in ids if i.startswith("bitext-")]
    assert len(banking) >= 15 and len(bitext) >= 8
    assert len(banking) + len(bitext) == len(ids)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not here")
def test_routing_texts_are_real_labelled_rows() -> None:
    with (DATA / "banking77" / "train.csv").open(encoding="utf-8", newline="") as fh:
        banking = {(r["text"].strip(), r["category"]) for r in csv.DictReader(fh)}
    with (DATA / "bitext" / "customer_service_8k.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bitext = {(r["utterance"].strip(), r["intent"]) for r in rows}
    category = {r["intent"]: r["category"] for r in rows}
    categories = json.loads((DATA / "banking77" / "categories.json").read_text("utf-8"))
    shared_teams = _load(DATA / "banking77" / "teams.yaml")["teams"]
    team_of = {i: t for t, cfg in shared_teams.items() for i in cfg["intents"]}
    for cluster in _clusters(routing_suite()):
        intent = cluster["expected_intent"]
        if cluster["id"].startswith("b77-"):
            assert intent in categories, cluster["id"]
            assert cluster["expected_team"] == team_of[intent], cluster["id"]
            labelled = banking
        else:
            assert cluster.get("expected_team") in (None, f"shop_{category[intent].lower()}")
            labelled = bitext
        for variant in cluster["variants"]:
            assert (variant["text"].strip(), intent) in labelled, (
                f"{cluster['id']}/{variant['id']}: not a {intent} row of the data set"
            )


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not here")
def test_routing_teams_keep_the_banking77_map() -> None:
    ours = _load((ROUTING.parent / routing_suite()["routing"]["teams"]).resolve())["teams"]
    for team, cfg in _load(DATA / "banking77" / "teams.yaml")["teams"].items():
        assert ours[team]["intents"] == cfg["intents"], team
