"""`threadline evals run`: exit codes (0 pass, 1 a missed bar, 2 bad input), JSON, report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.evals.conftest import XSS

runner = CliRunner()


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("THREADLINE_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def without_data_uris(page: str) -> str:
    """The page without its inline images (base64 may spell anything, e.g. 'cdn')."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", page)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-under", "facts=0.9"], "unknown metric 'facts'"),
        (["--fail-under", "fact_agreement"], "metric=value"),
        (["--compare", "/nonexistent.json"], "--compare"),
        (["--kb", "/nonexistent-kb"], "no such file"),
    ],
)
def test_exit_2_for_bad_options(
    data_dir: Path, tiny_suite: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["evals", "run", str(tiny_suite), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_fail_under_help_says_needs_human_rate_is_a_maximum(data_dir: Path) -> None:
    result = runner.invoke(app, ["evals", "run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert "exit 1 when a suite scores below the bar (above it for needs_human_rate" in text
    assert "whose bar is a maximum" in text and "an unknown metric exits 2" in text
    assert "a metric the suite cannot measure shows n/a and passes" in text


def test_exit_2_for_a_bad_or_unreadable_suite(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evals", "run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "cannot read" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\ncustomers: {}\nclusters:\n  - id: a\n    variants:\n"
        "      - {id: v, channel: email, customer: ghost, text: hi}\n"
    )
    result = runner.invoke(app, ["evals", "run", str(bad)])
    assert result.exit_code == 2
    assert "clusters[0].variants[0].customer" in result.output


@pytest.mark.slow
def test_a_real_run_writes_json_and_report(
    tiny_suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pipeline in a sandbox: the inconsistent cluster fails, the bar is missed."""
    monkeypatch.setenv("THREADLINE_DATA_DIR", str(tmp_path / "var"))
    out, report = tmp_path / "run.json", tmp_path / "run.html"
    result = runner.invoke(
        app,
        [
            "evals",
            "run",
            str(tiny_suite),
            "--json",
            str(out),
            "--report",
            str(report),
            "--repeat",
            "2",
            "--fail-under",
            "citation_agreement=1.0",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "tiny: citation_agreement 0.750 < 1.000" in result.output
    doc = json.loads(out.read_text())
    suite = doc["suites"][0]
    clusters = {c["id"]: c["scores"] for c in suite["clusters"]}
    assert clusters["return-window"]["citation_agreement"] == 1.0
    assert clusters["return-window"]["fact_recall"] == 1.0  # both state the 30 days
    assert clusters["mixed-up"]["consistent"] is False
    assert clusters["mixed-up"]["citation_agreement"] == 0.5
    assert clusters["mixed-up"]["fact_agreement"] == 0.0
    assert suite["summary"]["stability"] == 1.0  # the composer drafts identically twice
    assert suite["summary"]["stability_fact_agreement"] == 1.0
    assert suite["summary"]["stability_semantic_agreement"] == 1.0
    assert clusters["mixed-up"]["stability_fact_agreement"] == 1.0
    assert suite["summary"]["faithfulness"] == 1.0
    assert suite["run"]["kb_version"] == 1 and suite["run"]["drafter"] == "composer"
    assert len(suite["suite"]["hash"]) == 64 and suite["run"]["kb_fingerprint"]
    assert not (tmp_path / "var" / "threadline.db").exists()  # the sandbox is elsewhere
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<details" in page and "<mark>" in page
    # The charts (confusion matrices, reliability diagram) are inline PNG images.
    assert "Team confusion matrix" in page and "Intent confusion matrix" in page
    assert "Reliability of the routing confidence" in page
    assert page.count('src="data:image/png;base64,') >= 3
    text = without_data_uris(page).lower()
    assert "<script" not in text and "cdn" not in text and 'src="http' not in text
    assert "<link" not in text  # no external stylesheet either

    # The same suite again, compared with the first run, with a bar it meets: exit 0.
    again = runner.invoke(
        app,
        [
            "evals",
            "run",
            str(tiny_suite),
            "--json",
            "-",
            "--compare",
            str(out),
            "--fail-under",
            "team_accuracy=1.0",
            "--fail-under",
            "citation_agreement=0.75",
        ],
    )
    assert again.exit_code == 0, again.output
    compared = json.loads(again.stdout)["suites"][0]["compare"]
    assert compared["same_suite"] is True and compared["baseline"] == str(out)
    assert compared["previous_generated_at"] == doc["generated_at"]
    assert compared["metrics"]["fact_agreement"]["trend"] == "same"
    # Same suite, same KB, same composer: no cluster got better or worse.
    assert compared["clusters"]["changed"] == [] and compared["clusters"]["unchanged"] == 2
    assert compared["clusters"]["added"] == [] and compared["clusters"]["removed"] == []
