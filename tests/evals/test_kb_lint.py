"""`kb lint` on small KB folders: planted contradictions are found, a consistent KB is clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals.kb_lint import LintChunk, chunks_from_documents, lint, mentions, sentences
from kb_ingest.pipeline import IngestOptions, prepare_paths

ROOT = Path(__file__).resolve().parents[2]


def article(folder: Path, name: str, front: str, body: str) -> None:
    (folder / name).write_text(f"---\n{front}\n---\n{body}\n", encoding="utf-8")


def make_kb(folder: Path, faq_days: int, plan_price: str) -> Path:
    folder.mkdir()
    article(
        folder,
        "returns.md",
        "id: returns-window\ntitle: How long do I have to return an item?\ntags: [returns]",
        "# How long do I have to return an item?\n\nYou can return most items within **30 days "
        "of delivery** for a full refund, no reason needed.\n\nWe issue the refund within 5 "
        "business days after the return arrives.\n\nReturn labels are valid for 14 days.",
    )
    article(
        folder,
        "faq.md",
        "id: returns-faq\ntitle: Returns FAQ\ntags: [returns, faq]",
        "# Returns FAQ\n\n## Can I send something back?\n\nYes: you can return any item within "
        f"{faq_days} days of delivery, unused and with its tags.\n\n## Damaged items\n\n"
        "Contact us within 14 days of delivery with a photo.",
    )
    article(
        folder,
        "premium.md",
        "id: premium-support\ntitle: Premium Support\ntags: [support]",
        "# Premium Support\n\nPremium Support costs €9.99 per month and includes a phone line.",
    )
    article(
        folder,
        "plans.md",
        "id: support-plans\ntitle: Support plans\ntags: [support, pricing]",
        f"# Support plans\n\nUpgrade any time: Premium Support costs {plan_price} per month.\n\n"
        "| Plan | Price |\n|---|---|\n| Basic | £4.99 |",
    )
    return folder


def chunks(folder: Path) -> list:  # type: ignore[type-arg]
    return chunks_from_documents(prepare_paths([folder], IngestOptions()).documents)


def test_planted_contradictions_are_found(tmp_path: Path) -> None:
    findings = lint(chunks(make_kb(tmp_path / "kb", 14, "€12.99")))
    pairs = {
        (
            f.fact_kind,
            frozenset({f.a.document_id, f.b.document_id}),
            frozenset({f.a.value, f.b.value}),
        )
        for f in findings
        if f.kind == "contradiction"
    }
    assert pairs == {
        ("duration", frozenset({"returns-window", "returns-faq"}), frozenset({"30", "14"})),
        (
            "money",
            frozenset({"premium-support", "support-plans"}),
            frozenset({"EUR 9.99", "EUR 12.99"}),
        ),
    }
    returns = next(f for f in findings if f.fact_kind == "duration")
    assert {returns.a.sentence, returns.b.sentence} == {
        "You can return most items within 30 days of delivery for a full refund, no reason needed.",
        "Yes: you can return any item within 14 days of delivery, unused and with its tags.",
    }


def test_a_consistent_kb_has_no_finding(tmp_path: Path) -> None:
    # same values; "14 days" for labels and damaged items is another context, not a conflict
    assert lint(chunks(make_kb(tmp_path / "kb", 30, "€9.99"))) == []


def test_near_duplicates(tmp_path: Path) -> None:
    folder = make_kb(tmp_path / "kb", 30, "€9.99")
    text = (folder / "returns.md").read_text().replace("id: returns-window", "id: returns-copy")
    (folder / "returns-copy.md").write_text(text.replace("no reason needed", "no reason asked"))
    found = [f for f in lint(chunks(folder)) if f.kind == "near_duplicate"]
    assert [{f.a.document_id, f.b.document_id} for f in found] == [
        {"returns-window", "returns-copy"}
    ]


def test_table_rows_are_sentences() -> None:
    assert sentences("| Standard | €4.95 | 2–4 business days |") == [
        ("Standard €4.95 2–4 business days", True)
    ]


@pytest.mark.slow
def test_cli_lints_files_and_exits_1_on_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli import app

    monkeypatch.setenv("THREADLINE_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    bad = make_kb(tmp_path / "bad", 14, "€12.99")
    result = runner.invoke(app, ["kb", "lint", str(bad), "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["documents"] == 4
    assert sorted(f["fact_kind"] for f in out["findings"]) == ["duration", "money"]
    good = make_kb(tmp_path / "good", 30, "€9.99")
    result = runner.invoke(app, ["kb", "lint", str(good)])
    assert result.exit_code == 0, result.output
    assert "0 contradiction(s), 0 near-duplicate pair(s)" in result.stdout
    assert runner.invoke(app, ["kb", "lint", str(tmp_path / "nope")]).exit_code == 2
    # A copied article: text output shows the two closest passages side by side.
    text = (good / "returns.md").read_text().replace("id: returns-window", "id: returns-copy")
    (good / "returns-copy.md").write_text(text.replace("no reason needed", "no reason asked"))
    from rich.console import Console

    import api.cli_evals

    monkeypatch.setattr(api.cli_evals, "console", Console(width=240))  # writes to sys.stdout
    result = runner.invoke(app, ["kb", "lint", str(good)])
    assert result.exit_code == 1, result.output
    assert "Near-duplicates" in result.stdout and "1 near-duplicate pair(s)" in result.stdout
    row = next(x for x in result.stdout.splitlines() if "You can return most items" in x)
    assert row.count("You can return most items") == 2  # both passages on one line


def test_near_duplicates_show_their_closest_passages(tmp_path: Path) -> None:
    folder = make_kb(tmp_path / "kb", 30, "€9.99")
    faq = (folder / "faq.md").read_text()
    copy = faq.replace("id: returns-faq", "id: returns-faq-copy").replace("unused", "not used")
    (folder / "faq-copy.md").write_text(copy)
    found = [f for f in lint(chunks(folder)) if f.kind == "near_duplicate"]
    assert len(found) == 1
    dup = found[0]
    assert {dup.a.document_id, dup.b.document_id} == {"returns-faq", "returns-faq-copy"}
    # Without vectors the pair of chunks with the highest text ratio is shown: the section
    # both copies share word for word (the other one was edited).
    assert dup.a.section == dup.b.section and dup.a.section.endswith("Damaged items")
    assert dup.a.sentence == dup.b.sentence
    assert "Contact us within 14 days of delivery with a photo." in dup.a.sentence
    assert "#" not in dup.a.sentence  # markup removed


def test_text_output_shows_both_sides_of_every_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    import api.cli_evals as cli
    from evals.kb_lint import Finding, Side

    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=220, color_system=None))
    findings = [
        Finding(
            "contradiction",
            Side("returns-window", "Return window", "", "Return within 30 days.", "30", "30 days"),
            Side("returns-faq", "Returns FAQ", "Send back", "Return within 14 days.", "14", "14"),
            fact_kind="duration",
            score=0.8,
        ),
        Finding(
            "near_duplicate",
            Side(
                "warranty",
                "Warranty",
                "Cover",
                "Our [bold]warranty[/bold] lasts two years.",
                "",
                "",
            ),
            Side("warranty-old", "Warranty (old)", "Cover", "Our warranty lasts 2 years.", "", ""),
            score=0.93,
            topic_similarity=0.981,
        ),
    ]
    cli._print_findings(findings, "kb/", 4, 9)
    text = out.getvalue()
    assert "Return within 30 days." in text and "Return within 14 days." in text
    assert "Near-duplicates" in text and "passage" in text
    # Both passages side by side, markup-like text shown as written (escaped for Rich).
    line = next(x for x in text.splitlines() if "lasts two years" in x)
    assert "Our [bold]warranty[/bold] lasts two years." in line
    assert "Our warranty lasts 2 years." in line
    assert "0.981" in text and "0.93" in text
    assert "kb/: 4 articles, 9 chunks: 1 contradiction(s), 1 near-duplicate pair(s)." in text


def test_email_addresses_and_links_are_no_context() -> None:
    """The company's domain is in every address and link: as context it made the demo KB's
    "reset e-mail … within 5 minutes" and "order confirmations … within 15 minutes" look
    like one fact (they shared only "northwind", "outfitter" and "example")."""
    reset = LintChunk(
        "password-reset",
        "Resetting your password",
        "The reset e-mail comes from no-reply@northwind-outfitters.example within 5 minutes; "
        "if it doesn't arrive, check your spam folder.",
    )
    confirmation = LintChunk(
        "faq-order-confirmation",
        "I didn't receive an order confirmation e-mail.",
        "Order confirmations are sent within 15 minutes from orders@northwind-outfitters.example"
        " (see https://www.northwind-outfitters.example/help/orders).",
    )
    found = mentions([reset, confirmation])
    assert [m.written for m in found] == ["5 minutes", "15 minutes"]
    assert found[0].context == {"reset", "mail", "com"}  # "comes", light-stemmed
    assert found[1].context == {"order", "confirmation", "sent"}
    assert not found[0].context & found[1].context


def test_a_contradiction_next_to_addresses_and_links_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    article(
        folder,
        "plans.md",
        "id: plans\ntitle: Cancelling a plan\ntags: [billing]",
        "# Cancelling a plan\n\nRefunds for cancelled plans are issued within 5 business days "
        "of the cancellation (questions: billing@northwind-outfitters.example).",
    )
    article(
        folder,
        "faq.md",
        "id: billing-faq\ntitle: Billing FAQ\ntags: [billing]",
        "# Billing FAQ\n\nRefunds for cancelled plans are issued within 10 business days of the "
        "cancellation, see https://www.northwind-outfitters.example/refunds.",
    )
    found = lint(chunks(folder))
    assert len(found) == 1 and found[0].kind == "contradiction"
    assert {found[0].a.written, found[0].b.written} == {"5 business days", "10 business days"}
    assert not {"northwind", "outfitter", "example"} & set(found[0].shared_context)


@pytest.mark.slow
def test_the_demo_kb_has_no_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`threadline kb lint demo/kb` (with the embedder): the demo KB states every fact once."""
    from api.cli import app

    monkeypatch.setenv("THREADLINE_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(app, ["kb", "lint", str(ROOT / "demo" / "kb"), "--json"])
    out = json.loads(result.stdout)
    assert out["findings"] == [] and result.exit_code == 0, out["findings"]
    assert out["documents"] > 40
