"""The suite format: clear errors with the YAML path of the bad field, a stable hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.suite import SuiteError, load_suite, parse_suite, resolve_suite

SUITE = """
name: tiny
kb: kb
customers:
  new: {sender: {email: alex@example.com, name: Alex Doe}}
  returning:
    sender: {email: sam@example.com}
    prior: [{channel: facebook, text: "about my order", hours_ago: 20}]
clusters:
  - id: returns
    expected_articles: [returns-window]
    expected_facts: ["30 days"]
    variants:
      - {id: email, channel: email, customer: new, text: "How long can I return?"}
      - {id: sms, channel: sms, customer: returning, text: "return window?"}
"""


def error_of(text: str) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        parse_suite(text)
    return info.value


def test_a_valid_suite_and_its_relative_kb(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE)
    loaded = load_suite(path)
    assert loaded.suite.variant_count == 2
    assert loaded.kb_path == (tmp_path / "kb").resolve()
    assert len(loaded.hash) == 64


def test_the_hash_ignores_formatting_and_key_order() -> None:
    reordered = SUITE.replace(
        "{id: email, channel: email, customer: new,", "{channel: email, id: email,  customer: new,"
    )
    assert parse_suite(SUITE).hash == parse_suite(reordered + "\n# a comment\n").hash
    assert parse_suite(SUITE).hash != parse_suite(SUITE.replace("30 days", "14 days")).hash


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("customer: returning", "customer: vip"), "clusters[0].variants[1].customer", "vip"),
        (("channel: sms", "channel: pigeon"), "clusters[0].variants[1].channel", "pigeon"),
        (("hours_ago: 20", "hours_ago: -3"), "customers.returning.prior[0].hours_ago", "greater"),
        (("id: sms", "id: email"), "clusters[0]", "appears twice"),
        (("expected_facts", "expected_fact"), "clusters[0].expected_fact", "Extra inputs"),
        (("channel: sms,", "channel: sms, public: true,"), "clusters[0].variants[1]", "public"),
    ],
)
def test_errors_name_the_yaml_path(change: tuple[str, str], path: str, words: str) -> None:
    error = error_of(
        SUITE.replace(*change, 1) if change[0] != "id: sms" else SUITE.replace(*change)
    )
    assert error.path.startswith(path), str(error)
    assert words in str(error)


def test_not_yaml_or_not_a_mapping() -> None:
    assert "not valid YAML (line" in str(error_of("name: [unclosed"))
    assert "YAML mapping" in str(error_of("- just a list"))


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="cannot read"):
        load_suite(tmp_path / "missing.yaml")


def test_suites_by_name_or_inline() -> None:
    assert resolve_suite("demo").suite.name == "demo-consistency"
    assert resolve_suite(SUITE).source == "inline"
    with pytest.raises(SuiteError, match="no suite named 'nope'"):
        resolve_suite("nope")
