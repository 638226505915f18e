"""The pure rules engine: operators, combinators, paths, placeholders, decisions."""

from __future__ import annotations

from typing import Any

import pytest

from core.routing.config import Condition, RoutingConfig, load_routing_config
from core.routing.rules import Decision, Facts, decide, describe, evaluate

FACTS = Facts.from_mapping(
    {
        "intent": "lost_parcel",
        "intent_confidence": 0.8,
        "team": "orders_shipping",
        "language": "de",
        "sentiment": "negative",
        "sentiment_score": -0.6,
        "channel": "sms",
        "cues": ["urgent", "refund"],
        "subject": "URGENT: Parcel NW-20477 missing",
        "customer": {
            "vip": True,
            "tier": 1,
            "account": {"account_manager": "Sofia", "sla_hours": 4, "contacts": ["c003"]},
            "nickname": None,
        },
        "repeat_contacts_24h": 2,
        "team_supports_language": False,
        "empty": "",
        "zero": 0,
        "flag": False,
    }
)


def holds(condition: dict[str, Any], facts: Facts = FACTS) -> bool:
    return evaluate(Condition.model_validate(condition), facts)


# --- operators: present, absent, wrong type -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        # eq
        ("intent", "eq", "lost_parcel", True),
        ("intent", "eq", "order_status", False),
        ("intent", "eq", "LOST_PARCEL", False),  # exact
        ("customer.vip", "eq", True, True),
        ("customer.tier", "eq", True, False),  # 1 is not true
        ("zero", "eq", False, False),  # 0 is not false
        ("flag", "eq", False, True),
        ("repeat_contacts_24h", "eq", 2.0, True),
        ("missing", "eq", "x", False),
        ("customer.nickname", "eq", None, False),  # null is absent
        # ne
        ("intent", "ne", "order_status", True),
        ("intent", "ne", "lost_parcel", False),
        ("missing", "ne", "x", False),  # absent: comparisons are false
        # in / not_in
        ("intent", "in", ["order_status", "lost_parcel"], True),
        ("intent", "in", ["order_status"], False),
        ("intent", "in", [], False),
        ("cues", "in", ["urgent"], False),  # a list fact is never "in" a list
        ("missing", "in", ["x"], False),
        ("intent", "not_in", ["order_status"], True),
        ("intent", "not_in", ["lost_parcel"], False),
        ("missing", "not_in", ["x"], False),
        ("cues", "not_in", ["x"], False),
        # contains: list facts and string facts
        ("cues", "contains", "urgent", True),
        ("cues", "contains", "vip", False),
        ("subject", "contains", "parcel", True),  # case-insensitive substring
        ("subject", "contains", "refund", False),
        ("repeat_contacts_24h", "contains", 2, False),  # number fact
        ("missing", "contains", "x", False),
        ("customer.account.contacts", "contains", "c003", True),
        # contains_any
        ("cues", "contains_any", ["vip", "urgent"], True),
        ("cues", "contains_any", ["vip", "legal"], False),
        ("cues", "contains_any", [], False),
        ("subject", "contains_any", ["missing", "late"], True),
        ("customer.vip", "contains_any", [True], False),
        ("missing", "contains_any", ["x"], False),
        # gt / gte / lt / lte: numbers only
        ("repeat_contacts_24h", "gt", 1, True),
        ("repeat_contacts_24h", "gt", 2, False),
        ("repeat_contacts_24h", "gte", 2, True),
        ("repeat_contacts_24h", "gte", 3, False),
        ("sentiment_score", "lt", -0.5, True),
        ("sentiment_score", "lt", -0.6, False),
        ("sentiment_score", "lte", -0.6, True),
        ("intent_confidence", "gte", 0.45, True),
        ("intent", "gt", 1, False),  # a string fact
        ("customer.vip", "gt", 0, False),  # a boolean is not a number
        ("cues", "lt", 10, False),
        ("missing", "lt", 10, False),
        # exists
        ("customer.account.account_manager", "exists", True, True),
        ("customer.account.account_manager", "exists", False, False),
        ("customer.account.team_lead", "exists", True, False),
        ("customer.account.team_lead", "exists", False, True),
        ("customer.nickname", "exists", False, True),  # null counts as absent
        ("empty", "exists", True, True),  # an empty string is present
        ("flag", "exists", True, True),
        ("nothing.at.all", "exists", False, True),
        # matches: case-insensitive regex search on strings
        ("subject", "matches", r"nw-2\d{4}", True),
        ("subject", "matches", r"^urgent\b", True),
        ("subject", "matches", r"^parcel", False),
        ("repeat_contacts_24h", "matches", "2", False),  # not a string
        ("cues", "matches", "urgent", False),
        ("missing", "matches", ".*", False),
    ],
)
def test_operator(field: str, op: str, value: object, expected: bool) -> None:
    assert holds({field: {op: value}}) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("customer.account.account_manager", "Sofia"),
        ("customer.account.sla_hours", 4),
        ("cues.0", "urgent"),
        ("cues.-1", "refund"),
        ("cues.5", None),
        ("cues.first", None),
        ("intent.length", None),  # walking into a string
        ("customer.account.account_manager.name", None),
        ("customer.nickname", None),
    ],
)
def test_dotted_paths(path: str, expected: object) -> None:
    assert FACTS.get(path) == expected
    assert FACTS.has(path) is (expected is not None)


def test_from_mapping_expands_dotted_keys_and_copies() -> None:
    source: dict[str, object] = {"customer": {"vip": False}}
    facts = Facts.from_mapping(source, **{"customer.account.account_manager": "Derek"})
    assert facts.get("customer.vip") is False
    assert facts.get("customer.account.account_manager") == "Derek"
    source["customer"] = {"vip": True}  # later changes of the caller's dict do not leak in
    assert facts.get("customer.vip") is False
    with pytest.raises(TypeError):
        facts.values["intent"] = "x"  # type: ignore[index]


def test_flat_dotted_key_is_found_too() -> None:
    facts = Facts(values={"customer.vip": True})
    assert holds({"customer.vip": {"eq": True}}, facts)


def test_facts_of_odd_types_never_raise() -> None:
    facts = Facts.from_mapping({"a": object(), "b": {1, 2}, "c": {"d": [None, {"e": 1}]}})
    for op, value in [("eq", 1), ("in", [1]), ("contains", 1), ("gt", 0), ("matches", "x")]:
        assert holds({"a": {op: value}}, facts) is False
    assert holds({"b": {"contains": 1}}, facts)  # a set fact behaves like a list
    assert holds({"c.d.1.e": {"eq": 1}}, facts)
    assert holds({"c.d.0": {"exists": False}}, facts)


# --- combinators ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"intent": {"eq": "lost_parcel"}, "language": {"eq": "de"}}, True),  # implicit all
        ({"intent": {"eq": "lost_parcel"}, "language": {"eq": "fr"}}, False),
        ({"repeat_contacts_24h": {"gte": 1, "lt": 3}}, True),  # two operators, one field
        ({"repeat_contacts_24h": {"gte": 1, "lt": 2}}, False),
        ({"all": [{"customer.vip": {"eq": True}}, {"sentiment": {"eq": "negative"}}]}, True),
        ({"all": [{"customer.vip": {"eq": True}}, {"sentiment": {"eq": "positive"}}]}, False),
        ({"all": []}, True),
        ({"any": [{"cues": {"contains": "legal"}}, {"repeat_contacts_24h": {"gte": 2}}]}, True),
        ({"any": [{"cues": {"contains": "legal"}}, {"channel": {"eq": "email"}}]}, False),
        ({"any": []}, False),
        ({"not": {"channel": {"eq": "email"}}}, True),
        ({"not": {"channel": {"eq": "sms"}}}, False),
        ({"not": {"missing": {"eq": 1}}}, True),  # "absent or different"
        (
            {
                "all": [
                    {"any": [{"channel": {"in": ["sms", "whatsapp"]}}, {"missing": {"gt": 0}}]},
                    {"not": {"any": [{"language": {"eq": "fr"}}, {"intent": {"eq": "spam"}}]}},
                ]
            },
            True,
        ),
        ({"intent": {"eq": "lost_parcel"}, "not": {"language": {"eq": "de"}}}, False),
        ({"intent": {"eq": "lost_parcel"}, "any": [{"language": {"eq": "de"}}]}, True),
    ],
)
def test_combinators(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition) is expected


def test_evaluate_accepts_the_yaml_shape_directly() -> None:
    assert evaluate({"intent": {"eq": "lost_parcel"}}, FACTS)


def test_condition_dump_round_trips() -> None:
    raw = {
        "intent": {"in": ["a", "b"]},
        "all": [{"x": {"gt": 1}}],
        "any": [{"y": {"exists": True}}],
        "not": {"z": {"matches": "^q"}},
    }
    condition = Condition.model_validate(raw)
    assert condition.model_dump() == raw
    assert Condition.model_validate(condition.model_dump()) == condition


@pytest.mark.parametrize(
    ("condition", "text"),
    [
        ({"intent": {"in": ["suspicious_activity"]}}, "intent is in [suspicious_activity]"),
        ({"customer.vip": {"eq": True}}, "customer.vip is true"),
        ({"x": {"exists": False}}, "x is not set"),
        ({"x": {"matches": "^a"}}, "x matches /^a/"),
        (
            {"x": {"gte": 2}, "y": {"contains_any": ["a", "b"]}},
            "x >= 2 and y contains any of [a, b]",
        ),
        (
            {"any": [{"a": {"eq": 1}}, {"all": [{"b": {"eq": 2}}, {"c": {"ne": 3}}]}]},
            "a is 1 or (b is 2 and c is not 3)",
        ),
        (
            {"a": {"eq": 1}, "any": [{"b": {"eq": 2}}, {"c": {"eq": 3}}]},
            "a is 1 and (b is 2 or c is 3)",
        ),
        ({"not": {"all": [{"a": {"eq": 1}}, {"b": {"eq": 2}}]}}, "not (a is 1 and b is 2)"),
        ({"not": {"a": {"eq": 1}}}, "not a is 1"),
        ({"all": []}, "always"),
    ],
)
def test_describe(condition: dict[str, Any], text: str) -> None:
    assert describe(Condition.model_validate(condition)) == text


# --- decisions ------------------------------------------------------------------------------


def config(rules: list[dict[str, Any]], **extra: Any) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {
            "version": 1,
            "triage_team": "triage",
            "fallback_team": "general",
            "teams": {
                "orders": {"description": "o", "languages": ["en", "de"], "intents": {"a": "A"}},
                "security": {"description": "s", "languages": ["en"]},
                "b2b": {"description": "b", "languages": ["en", "fr"]},
                "general": {"description": "g"},
                "triage": {"description": "t"},
            },
            "rules": rules,
            **extra,
        }
    )


def rule(name: str, when: dict[str, Any], stop: bool = False, **then: Any) -> dict[str, Any]:
    return {"name": name, "when": when, "then": then, "stop": stop}


ALWAYS: dict[str, Any] = {"all": []}


def test_no_rule_fires() -> None:
    cfg = config([rule("never", {"intent": {"eq": "zzz"}}, priority="urgent")])
    decision = decide(cfg, Facts.from_mapping({"intent": "a", "language": "en"}), "orders")
    assert decision == Decision(team="orders", priority="normal", fired=[], reasons=[], tags=[])


def test_every_fired_rule_is_listed_in_order_with_a_reason() -> None:
    cfg = config(
        [
            rule("security", {"intent": {"in": ["fraud"]}}, team="security", priority="urgent"),
            rule("tag-it", ALWAYS, add_tags=["seen", "x"]),
            rule("vip", {"customer.vip": {"eq": True}}, priority="high"),
        ]
    )
    facts = Facts.from_mapping({"intent": "fraud", "customer": {"vip": True}, "language": "en"})
    decision = decide(cfg, facts, "orders")
    assert decision.fired == ["security", "tag-it", "vip"]
    assert decision.team == "security"
    assert decision.priority == "urgent"
    assert decision.tags == ["seen", "x"]
    assert decision.reasons == [
        "security: intent is in [fraud] → team security, priority urgent",
        "tag-it: always → tags seen, x",
        "vip: customer.vip is true → priority high (stays urgent)",
    ]


def test_stop_ends_evaluation() -> None:
    cfg = config(
        [
            rule("first", {"intent": {"eq": "a"}}, stop=True, team="security"),
            rule("second", ALWAYS, team="b2b", priority="urgent"),
        ]
    )
    decision = decide(cfg, Facts.from_mapping({"intent": "a"}), "orders")
    assert decision.fired == ["first"]
    assert decision.team == "security"
    assert decision.priority == "normal"
    assert decision.reasons == ["first: intent is a → team security, stop"]


def test_stop_only_when_the_rule_fires() -> None:
    cfg = config(
        [
            rule("first", {"intent": {"eq": "zzz"}}, stop=True, team="security"),
            rule("second", ALWAYS, team="b2b"),
        ]
    )
    assert decide(cfg, Facts.from_mapping({}), "orders").fired == ["second"]


@pytest.mark.parametrize(
    ("start", "sets", "expected"),
    [
        (None, ["high"], "high"),
        (None, ["urgent", "high"], "urgent"),  # never goes down
        (None, ["high", "low", "urgent", "normal"], "urgent"),
        (None, ["low"], "normal"),  # not below the starting priority
        ("urgent", ["high"], "urgent"),  # urgent stays urgent
        ("low", ["normal"], "normal"),
        ("low", [], "low"),
    ],
)
def test_priority_never_decreases(start: Any, sets: list[str], expected: str) -> None:
    cfg = config([rule(f"r{n}", ALWAYS, priority=p) for n, p in enumerate(sets)])
    assert decide(cfg, Facts.from_mapping({}), "orders", start).priority == expected


def test_default_priority_comes_from_the_config() -> None:
    cfg = config([], default_priority="high")
    assert decide(cfg, Facts.from_mapping({}), "orders").priority == "high"


def test_later_rules_see_the_team_and_priority_set_by_earlier_ones() -> None:
    cfg = config(
        [
            rule("to-b2b", ALWAYS, team="b2b", priority="high"),
            rule("b2b-tag", {"team": {"eq": "b2b"}, "priority": {"eq": "high"}}, add_tags=["b"]),
            rule("orders-tag", {"team": {"eq": "orders"}}, add_tags=["o"]),
            rule("seen-tag", {"tags": {"contains": "b"}}, add_tags=["again"]),
        ]
    )
    decision = decide(cfg, Facts.from_mapping({}), "orders")
    assert decision.fired == ["to-b2b", "b2b-tag", "seen-tag"]
    assert decision.tags == ["b", "again"]


@pytest.mark.parametrize(
    ("placeholder", "team", "label"),
    [("{fallback_team}", "general", "fallback team"), ("{triage_team}", "triage", "triage team")],
)
def test_placeholders_resolve_from_the_config(placeholder: str, team: str, label: str) -> None:
    cfg = config([rule("move", ALWAYS, team=placeholder)])
    decision = decide(cfg, Facts.from_mapping({}), "orders")
    assert decision.team == team
    assert decision.reasons == [f"move: always → team {team} ({label})"]


UNSUPPORTED = rule(
    "unsupported-language", {"team_supports_language": {"eq": False}}, team="{fallback_team}"
)


@pytest.mark.parametrize(
    ("language", "team", "expected"),
    [
        ("de", "orders", "orders"),
        ("fr", "orders", "general"),
        ("DE-ch", "orders", "orders"),  # region subtags and case do not matter
        ("fr", "b2b", "b2b"),
        ("es", "general", "general"),  # general takes any language
        (None, "orders", "orders"),  # unknown language: nothing to reroute on
        ("fr", "not-configured", "not-configured"),  # e.g. a model trained on another map
    ],
)
def test_language_support_is_computed(language: str | None, team: str, expected: str) -> None:
    cfg = config([UNSUPPORTED])
    assert decide(cfg, Facts.from_mapping({"language": language}), team).team == expected


def test_caller_given_language_support_is_respected() -> None:
    cfg = config([UNSUPPORTED])
    facts = Facts.from_mapping(
        {"language": "de", "team": "orders", "team_supports_language": False}
    )
    assert decide(cfg, facts, "orders").team == "general"
    # given for another team than the one decided from: recomputed
    assert decide(cfg, facts, "b2b").team == "general"  # b2b takes en, fr
    facts = Facts.from_mapping(
        {"language": "en", "team": "orders", "team_supports_language": False}
    )
    assert decide(cfg, facts, "b2b").team == "b2b"


def test_team_change_recomputes_language_support() -> None:
    cfg = config([rule("to-security", {"intent": {"eq": "fraud"}}, team="security"), UNSUPPORTED])
    # German: orders takes it, security does not → the fallback team
    facts = Facts.from_mapping({"intent": "fraud", "language": "de"})
    decision = decide(cfg, facts, "orders")
    assert decision.fired == ["to-security", "unsupported-language"]
    assert decision.team == "general"
    # French: orders does not, b2b does → moving to b2b clears the flag
    cfg = config([rule("to-b2b", ALWAYS, team="b2b"), UNSUPPORTED])
    decision = decide(cfg, Facts.from_mapping({"language": "fr"}), "orders")
    assert decision.fired == ["to-b2b"]
    assert decision.team == "b2b"


def test_decide_is_deterministic_and_does_not_touch_the_facts() -> None:
    cfg = load_routing_config(None)
    before = dict(FACTS.values)
    first = decide(cfg, FACTS, "orders_shipping")
    assert all(decide(cfg, FACTS, "orders_shipping") == first for _ in range(5))
    assert dict(FACTS.values) == before


# --- the bundled routing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "team", "expected_team", "expected_priority", "fired"),
    [
        (
            {"intent": "order_status", "language": "en", "sentiment": "neutral"},
            "orders_shipping",
            "orders_shipping",
            "normal",
            [],
        ),
        (
            {"intent": "suspicious_activity", "language": "it", "cues": ["urgent"]},
            "account_security",
            "account_security",
            "urgent",
            ["security-urgent"],
        ),
        (
            {"intent": "fraudulent_order", "abstained": True, "language": "en"},
            "triage",
            "account_security",
            "urgent",
            ["security-urgent"],
        ),
        (
            {"intent": "lost_parcel", "language": "en", "cues": ["urgent"]},
            "orders_shipping",
            "orders_shipping",
            "high",
            ["urgent-cue-or-repeat-contact"],
        ),
        (
            {"intent": "lost_parcel", "language": "en", "repeat_contacts_24h": 2},
            "orders_shipping",
            "orders_shipping",
            "high",
            ["urgent-cue-or-repeat-contact"],
        ),
        (
            {"intent": "refund_status", "sentiment": "negative", "customer": {"vip": True}},
            "returns_refunds",
            "returns_refunds",
            "high",
            ["vip-negative"],
        ),
        (
            {
                "intent": "product_troubleshooting",
                "language": "de",
                "customer": {"account": {"name": "Alpine Schools", "account_manager": "Sofia"}},
            },
            "tech_support",
            "b2b_accounts",
            "normal",
            ["b2b-account-manager"],
        ),
        (
            {
                "intent": "bulk_order",
                "language": "es",
                "customer": {"account": {"account_manager": "Derek"}},
            },
            "b2b_accounts",
            "general",
            "normal",
            ["b2b-account-manager", "unsupported-language"],
        ),
        (
            {"intent": "device_connectivity", "language": "fr"},
            "tech_support",
            "general",
            "normal",
            ["unsupported-language"],
        ),
        (
            {"intent": "product_safety", "language": "en", "abstained": False},
            "tech_support",
            "tech_support",
            "urgent",
            ["product-safety-urgent"],
        ),
        (
            {"intent": "spam", "customer": {"flagged": "spam"}, "cues": ["urgent"]},
            "general",
            "general",
            "normal",
            ["spam-sender"],
        ),
        (
            {"intent": "lost_parcel", "abstained": True, "language": "pt"},
            "triage",
            "triage",
            "normal",
            [],
        ),
    ],
)
def test_bundled_routing(
    facts: dict[str, Any],
    team: str,
    expected_team: str,
    expected_priority: str,
    fired: list[str],
) -> None:
    decision = decide(load_routing_config(None), Facts.from_mapping(facts), team)
    assert (decision.team, decision.priority, decision.fired) == (
        expected_team,
        expected_priority,
        fired,
    )
    assert len(decision.reasons) == len(fired)
