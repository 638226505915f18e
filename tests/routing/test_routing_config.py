"""Loading and validating routing files and data-set team maps."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import InvalidInput
from core.routing.config import (
    DEFAULT_ROUTING_PATH,
    Condition,
    RoutingConfig,
    TeamConfig,
    load_routing_config,
    load_teams_yaml,
)

BANKING77_TEAMS = Path("/work/shared/data/banking77/teams.yaml")

BASE = """\
version: 1
triage_team: triage
fallback_team: general
abstain_below: 0.45
default_priority: normal
teams:
  orders:
    description: Orders.
    languages: [en, de]
    intents:
      order_status: Where an order is.
      lost_parcel: A parcel that never arrived.
  security:
    description: Security.
    intents: [suspicious_activity]
  general:
    description: Everything else.
  triage:
    description: Humans decide.
rules:
  - name: security-urgent
    when: {intent: {in: [suspicious_activity]}}
    then: {team: security, priority: urgent}
    stop: true
  - name: unsupported-language
    when: {team_supports_language: {eq: false}}
    then: {team: "{fallback_team}"}
"""


def write(tmp_path: Path, text: str, name: str = "routing.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> InvalidInput:
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput) as info:
        load_routing_config(path)
    assert str(path) in info.value.message  # every message names the file
    return info.value


def test_a_valid_file_loads(tmp_path: Path) -> None:
    config = load_routing_config(write(tmp_path, BASE))
    assert config.team_names == ["orders", "security", "general", "triage"]
    assert config.intent_team() == {
        "order_status": "orders",
        "lost_parcel": "orders",
        "suspicious_activity": "security",
    }
    assert config.intent_descriptions()["lost_parcel"] == "A parcel that never arrived."
    assert config.intent_descriptions()["suspicious_activity"] == "suspicious activity"
    assert config.teams["general"].languages == []
    assert [r.name for r in config.rules] == ["security-urgent", "unsupported-language"]
    assert config.rules[0].stop and not config.rules[1].stop
    assert config.rules[1].then.team == "{fallback_team}"
    assert config.resolve_team("{fallback_team}") == "general"
    assert config.resolve_team("{triage_team}") == "triage"


def test_the_bundled_default_loads() -> None:
    config = load_routing_config(None)
    assert config == load_routing_config(DEFAULT_ROUTING_PATH)
    assert set(config.team_names) == {
        "orders_shipping",
        "returns_refunds",
        "payments_billing",
        "account_security",
        "tech_support",
        "b2b_accounts",
        "general",
        "triage",
    }
    assert config.triage_team == "triage" and config.fallback_team == "general"
    assert config.teams["triage"].intents == {}
    assert config.teams["tech_support"].languages == ["en", "de"]
    assert config.teams["b2b_accounts"].languages == ["en", "de", "fr"]
    assert config.teams["general"].languages == []
    assert config.teams["orders_shipping"].languages == ["en", "de", "fr", "es"]
    descriptions = config.intent_descriptions()
    assert 25 <= len(descriptions) <= 35
    for intent in (
        "lost_parcel",
        "order_status",
        "change_or_cancel_order",
        "return_request",
        "refund_status",
        "damaged_or_wrong_item",
        "warranty_claim",
        "payment_failed",
        "duplicate_charge",
        "invoice_request",
        "password_reset",
        "account_locked",
        "two_factor_problem",
        "suspicious_activity",
        "product_troubleshooting",
        "b2b_contract",
        "bulk_order",
        "sla_complaint",
        "compliment",
        "spam",
    ):
        assert intent in descriptions
    # descriptions are sentences a zero-shot matcher can use, not the bare name
    assert all(len(d.split()) >= 5 for d in descriptions.values())
    assert len(config.intent_team()) == len(descriptions)
    # every intent has a few example messages for the zero-shot matcher
    examples = config.intent_examples()
    assert set(examples) == set(descriptions)
    assert all(len(e) >= 3 for e in examples.values())


def test_the_bundled_default_is_a_yaml_round_trip() -> None:
    config = load_routing_config(None)
    again = RoutingConfig.model_validate(yaml.safe_load(yaml.safe_dump(config.model_dump())))
    assert again == config


@pytest.mark.skipif(not BANKING77_TEAMS.exists(), reason="banking77 teams file not present")
def test_the_banking77_teams_file_loads() -> None:
    teams = load_teams_yaml(BANKING77_TEAMS)
    assert "security" in teams
    owners = {i: t for t, cfg in teams.items() for i in cfg.intents}
    assert len(owners) == 77
    assert owners["lost_or_stolen_card"] == "security"
    # names are kept verbatim, question mark and capital letter included
    payments = teams["payments_and_disputes"].intents
    assert payments["reverted_card_payment?"] == "reverted card payment?"
    assert "Refund_not_showing_up" in payments


def test_teams_yaml_list_and_map_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        teams:
          a:
            description: A.
            intents: [one_thing, "other?"]
          b:
            description: B.
            intents: {third: The third thing., fourth:}
        """,
        "teams.yaml",
    )
    teams = load_teams_yaml(path)
    assert teams["a"].intents == {"one_thing": "one thing", "other?": "other?"}
    assert teams["b"].intents == {"third": "The third thing.", "fourth": "fourth"}


def test_teams_yaml_duplicate_intent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        teams:
          a: {description: A., intents: [x]}
          b: {description: B., intents: [y, x]}
        """,
        "teams.yaml",
    )
    with pytest.raises(InvalidInput, match=r"line 3: teams\.b\.intents\.x: intent 'x' is already"):
        load_teams_yaml(path)


# --- validation errors ----------------------------------------------------------------------


def test_unknown_team_in_a_rule(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("then: {team: security,", "then: {team: sales,"))
    assert "line 23" in err.message
    assert "rules[0] (security-urgent).then.team: unknown team 'sales'" in err.message
    assert "teams: orders, security, general, triage" in err.message
    assert err.field == "rules.0.then.team"


def test_unknown_placeholder(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace('"{fallback_team}"', '"{other_team}"'))
    assert "rules[1] (unsupported-language).then.team: unknown team '{other_team}'" in err.message


@pytest.mark.parametrize("key", ["triage_team", "fallback_team"])
def test_unknown_triage_or_fallback_team(tmp_path: Path, key: str) -> None:
    err = error_of(tmp_path, BASE.replace(f"{key}: ", f"{key}: nobody_"))
    assert f"{key}: unknown team 'nobody_" in err.message
    assert err.field == key


def test_duplicate_intent(tmp_path: Path) -> None:
    text = BASE.replace(
        "intents: [suspicious_activity]", "intents: [suspicious_activity, lost_parcel]"
    )
    err = error_of(tmp_path, text)
    assert "line 15" in err.message
    assert (
        "teams.security.intents.lost_parcel: intent 'lost_parcel' is already listed by team "
        "'orders'" in err.message
    )


def test_intent_examples(tmp_path: Path) -> None:
    text = BASE.replace(
        "      lost_parcel: A parcel that never arrived.\n",
        "      lost_parcel: A parcel that never arrived.\n"
        "    examples:\n"
        "      lost_parcel: [my parcel never came, tracking stuck for a week]\n",
    )
    config = load_routing_config(write(tmp_path, text))
    assert config.intent_examples() == {
        "lost_parcel": ["my parcel never came", "tracking stuck for a week"]
    }
    unknown = error_of(tmp_path, text.replace("      lost_parcel: [my", "      lost_card: [my"))
    assert (
        "teams.orders.examples.lost_card: examples for unknown intent 'lost_card' "
        "(this team's intents: order_status, lost_parcel)" in unknown.message
    )
    empty = error_of(tmp_path, text.replace("[my parcel never came, ", "['', "))
    assert "teams.orders.examples.lost_parcel: examples must be a list of non-empty strings" in (
        empty.message
    )


def test_duplicate_rule_name(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("name: unsupported-language", "name: security-urgent"))
    assert "line 25" in err.message
    assert (
        "rules[1] (security-urgent).name: rule name 'security-urgent' is already used by rules[0]"
        in err.message
    )


def test_bad_operator(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("{intent: {in:", "{intent: {within:"))
    assert "line 22" in err.message
    assert "rules[0] (security-urgent).when.intent.within: unknown operator 'within'" in err.message
    assert "operators: eq, ne, in, not_in" in err.message
    assert err.field == "rules.0.when.intent.within"


def test_bad_priority(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("priority: urgent", "priority: critical"))
    assert "line 23" in err.message
    assert "rules[0] (security-urgent).then.priority" in err.message
    assert "'low', 'normal', 'high' or 'urgent', got 'critical'" in err.message


def test_bad_default_priority(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("default_priority: normal", "default_priority: asap"))
    assert "line 5: default_priority: Input should be" in err.message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("description: Security.", "description: [Security."))
    assert "line 15" in err.message or "line 16" in err.message
    assert "invalid YAML" in err.message


def test_tab_indentation_is_a_yaml_error(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("  general:\n", "\tgeneral:\n"))
    assert "line 16" in err.message and "invalid YAML" in err.message


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("  triage:\n", "  general:\n"))
    assert "line 18: teams.general: duplicate key 'general'" in err.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "the top level must be a mapping"),
        (BASE + "colour: blue\n", "colour: unknown field 'colour'"),
        (BASE.replace("version: 1", "version: 2"), "version: Input should be 1"),
        (BASE.replace("abstain_below: 0.45", "abstain_below: 1.5"), "abstain_below: Input should"),
        (BASE.replace("    description: Orders.\n", ""), "teams.orders.description: required"),
        (
            BASE.replace("    stop: true\n", "    stop: true\n    unless: {}\n"),
            "unknown field 'unless'",
        ),
        (BASE.replace("then: {team: security,", "then: {teem: security,"), "then.teem: unknown"),
        (BASE.replace("teams:\n", "teams: {}\nold_teams:\n"), "teams: Dictionary should have"),
    ],
)
def test_other_shape_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text).message


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{}", "when: empty condition"),
        ("[intent]", "when: a condition is a mapping"),
        ("{intent: lost_parcel}", "when.intent: expected {operator: value}"),
        ("{intent: {}}", "when.intent: no operator given"),
        ("{intent: {in: lost_parcel}}", "when.intent.in: in needs a list, got a string"),
        ("{n: {gte: two}}", "when.n.gte: gte needs a number, got a string"),
        ("{n: {lt: true}}", "when.n.lt: lt needs a number, got a boolean"),
        ("{x: {exists: yes please}}", "when.x.exists: exists needs true or false"),
        ("{x: {matches: '(unclosed'}}", "when.x.matches: invalid regular expression"),
        ("{x: {eq: {a: 1}}}", "when.x.eq: eq needs a plain value"),
        ("{all: {x: {eq: 1}}}", "when.all: all needs a list of conditions"),
        ("{any: [{x: {eq: 1}}, {y: {oops: 1}}]}", "when.any[1].y.oops: unknown operator"),
        ("{not: {all: [{x: {gt: a}}]}}", "when.not.all[0].x.gt: gt needs a number"),
        ("{'a..b': {eq: 1}}", "when.a..b: invalid field path"),
    ],
)
def test_condition_errors(tmp_path: Path, when: str, expected: str) -> None:
    text = BASE.replace("when: {intent: {in: [suspicious_activity]}}", f"when: {when}")
    err = error_of(tmp_path, text)
    assert f"rules[0] (security-urgent).{expected}" in err.message
    assert "line 22: " in err.message  # the line of `when`


def test_several_errors_are_reported_together(tmp_path: Path) -> None:
    text = BASE.replace("{intent: {in:", "{intent: {within:").replace("urgent}", "asap}")
    err = error_of(tmp_path, text)
    assert "unknown operator 'within'" in err.message
    assert "got 'asap'" in err.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="nowhere.yaml: file not found"):
        load_routing_config(tmp_path / "nowhere.yaml")


def test_condition_validation_outside_a_file() -> None:
    with pytest.raises(ValueError, match="unknown operator 'is'"):
        Condition.model_validate({"intent": {"is": "x"}})


def test_team_config_defaults_and_language_support() -> None:
    team = TeamConfig(description="t")
    assert (team.languages, team.skills, team.intents) == ([], [], {})
    assert team.supports("ja")
    team = TeamConfig.model_validate({"description": "t", "languages": ["EN", " de "]})
    assert team.languages == ["en", "de"]
    assert team.supports("de-AT") and team.supports("en_GB") and not team.supports("fr")


def test_config_from_python(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(BASE)
    config = RoutingConfig.model_validate(data)
    assert config.supports_language("orders", "de")
    assert not config.supports_language("orders", "fr")
    assert config.supports_language("general", "fr")
    assert config.supports_language("unknown-team", "fr")
