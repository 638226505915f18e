"""`POST /v1/evals/runs`, `GET /v1/evals/runs/{id}`, `.../report` and `.../result` on SQLite
and PostgreSQL: bad input is refused with a clear 4xx, and a run goes through the in-process
worker queue, the real pipeline and back (eval_runs table from migration 0005 on both
databases)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.helpers import Api

RUNS = "/v1/evals/runs"


def error(resp: Any) -> dict[str, Any]:
    body = resp.json()
    assert "error" in body, body
    return dict(body["error"])


def test_unknown_suite_name_is_422_with_the_known_ones(api: Api) -> None:
    resp = api.post(RUNS, role="knowledge_manager", json={"suite": "no-such-suite"})
    assert resp.status_code == 422, resp.text
    err = error(resp)
    assert err["field"] == "suite"
    assert "no suite named 'no-such-suite'" in err["message"]
    assert "demo" in err["message"] and "routing" in err["message"]


def test_yaml_syntax_error_names_line_and_column(api: Api) -> None:
    bad = "name: broken\nclusters:\n  - id: a\n    variants: [\n"
    resp = api.post(RUNS, role="knowledge_manager", json={"suite": bad})
    assert resp.status_code == 422, resp.text
    assert "not valid YAML (line" in error(resp)["message"]


def test_bad_suite_field_names_its_yaml_path(api: Api) -> None:
    bad = (
        "name: x\ncustomers: {}\nclusters:\n  - id: a\n    variants:\n"
        "      - {id: v, channel: email, customer: ghost, text: hi}\n"
    )
    resp = api.post(RUNS, role="knowledge_manager", json={"suite": bad})
    assert resp.status_code == 422, resp.text
    assert "clusters[0].variants[0].customer" in error(resp)["message"]


def test_unknown_bar_and_bad_repeat_are_refused(api: Api) -> None:
    resp = api.post(
        RUNS, role="knowledge_manager", json={"suite": "demo", "fail_under": {"facts": 0.5}}
    )
    assert resp.status_code == 422, resp.text
    assert error(resp)["field"] == "fail_under" and "facts" in error(resp)["message"]
    resp = api.post(RUNS, role="knowledge_manager", json={"suite": "demo", "repeat": 0})
    assert resp.status_code in (400, 422), resp.text


def test_unknown_run_is_404(api: Api) -> None:
    for path in (f"{RUNS}/nope", f"{RUNS}/nope/report", f"{RUNS}/nope/result"):
        resp = api.get(path, role="knowledge_manager")
        assert resp.status_code == 404, resp.text
        assert error(resp)["code"] == "not_found"


def test_agents_may_not_run_evals(api: Api) -> None:
    assert api.post(RUNS, role="agent", json={"suite": "demo"}).status_code == 403
    assert api.get(RUNS, role="agent").status_code == 403
    assert api.client.get(RUNS).status_code == 401


def wait_for_run(api: Api, run_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.get(f"{RUNS}/{run_id}", role="knowledge_manager").json()
        if body["status"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, f"run still {body['status']}"
        time.sleep(0.5)


@pytest.mark.slow
def test_a_run_goes_through_the_worker_and_back(api: Api, tiny_suite_text: str) -> None:
    resp = api.post(
        RUNS,
        role="knowledge_manager",
        json={
            "suite": tiny_suite_text,
            "fail_under": {"citation_agreement": 1.0, "team_accuracy": 1.0},
        },
    )
    assert resp.status_code == 202, resp.text
    queued = resp.json()
    run_id = queued["id"]
    assert resp.headers["Location"] == f"{RUNS}/{run_id}"
    assert queued["status"] in ("queued", "running") and queued["suite_name"] == "tiny"
    assert queued["suite_source"] == "inline" and len(queued["suite_hash"]) == 64
    assert queued["report_url"] is None

    # No report before the run is done.
    early = api.get(f"{RUNS}/{run_id}/report", role="knowledge_manager")
    assert early.status_code in (200, 404)

    run = wait_for_run(api, run_id)
    assert run["status"] == "done", run["error"]
    assert run["attempts"] == 1 and run["finished_at"] is not None
    # The inconsistent cluster misses the citation bar; the team bar is met.
    assert run["passed"] is False
    assert run["missed"] == ["tiny: citation_agreement 0.750 < 1.000"]
    suite = run["summary"]["suites"][0]
    assert suite["name"] == "tiny" and suite["hash"] == queued["suite_hash"]
    assert suite["clusters"] == 2 and suite["variants"] == 4
    assert suite["summary"]["team_accuracy"] == 1.0
    assert suite["bars"]["team_accuracy"]["passed"] is True
    assert suite["run"]["drafter"] == "composer" and suite["run"]["kb_version"] == 1

    report = api.get(run["report_url"], role="knowledge_manager")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    page = report.text
    assert page.startswith("<!DOCTYPE html>") and "Suite tiny" in page
    assert 'src="data:image/png;base64,' in page and "confusion matrix" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page

    listed = api.get(RUNS, role="knowledge_manager").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == run_id

    # The full JSON (what `evals run --json` writes), every cluster and variant included.
    full = api.get(run["result_url"], role="knowledge_manager")
    assert full.status_code == 200, full.text
    doc = full.json()
    assert doc["passed"] is False and doc["missed"] == run["missed"]
    result = doc["suites"][0]
    assert result["suite"]["hash"] == queued["suite_hash"]
    assert result["summary"] == suite["summary"]
    assert {c["id"] for c in result["clusters"]} == {"return-window", "mixed-up"}
    assert all(len(c["variants"]) == 2 for c in result["clusters"])
    assert set(result["per_intent"]) == {"return_request", "(none)"}


@pytest.mark.slow
def test_compare_to_an_earlier_run_puts_the_comparison_in_result_and_report(
    api: Api, tiny_suite_text: str
) -> None:
    """`compare_to`: the API's `threadline evals run --compare previous.json`. The second
    run asks the mixed-up cluster's parcel question as a returns question (another suite
    hash, same suite name: allowed, and said so)."""
    first = api.post(RUNS, role="knowledge_manager", json={"suite": tiny_suite_text})
    assert first.status_code == 202, first.text
    # Not finished yet: 409 (unless the worker was very quick).
    early = api.post(
        RUNS,
        role="knowledge_manager",
        json={"suite": tiny_suite_text, "compare_to": first.json()["id"]},
    )
    if early.status_code != 202:
        assert early.status_code == 409, early.text
        assert error(early)["code"] == "baseline_not_finished"
        assert error(early)["field"] == "compare_to"
    baseline = wait_for_run(api, first.json()["id"])
    assert baseline["status"] == "done", baseline["error"]
    if early.status_code == 202:
        wait_for_run(api, early.json()["id"])

    changed = tiny_suite_text.replace(
        "My parcel never arrived and tracking is stuck",
        "How many days do I have to return an item I bought?",
    )
    resp = api.post(
        RUNS,
        role="knowledge_manager",
        json={"suite": changed, "compare_to": baseline["id"]},
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["options"]["compare_to"] == baseline["id"]
    assert resp.json()["suite_hash"] != baseline["suite_hash"]
    run = wait_for_run(api, resp.json()["id"])
    assert run["status"] == "done", run["error"]

    # The status: the baseline and a short form of the comparison.
    assert run["summary"]["compare_to"] == baseline["id"]
    short = run["summary"]["suites"][0]["compare"]
    assert short["baseline"] == f"eval run {baseline['id']}"
    assert short["same_suite"] is False and short["previous_hash"] == baseline["suite_hash"]
    assert short["metrics"]["citation_agreement"]["previous"] == 0.75
    assert "mixed-up" in short["clusters"]["better"] and short["clusters"]["worse"] == []

    # The result: the same `compare` the CLI writes with --compare.
    doc = api.get(run["result_url"], role="knowledge_manager").json()
    assert doc["compare_to"] == baseline["id"]
    compared = doc["suites"][0]["compare"]
    old = api.get(baseline["result_url"], role="knowledge_manager").json()
    assert compared["previous_run"] == old["suites"][0]["run"]
    assert compared["previous_generated_at"] == old["generated_at"]
    assert compared["metrics"]["citation_agreement"]["current"] == 1.0
    assert compared["metrics"]["citation_agreement"]["trend"] == "better"
    mixed = next(c for c in compared["clusters"]["changed"] if c["id"] == "mixed-up")
    assert mixed["changes"]["citation_agreement"] == {
        "previous": 0.5,
        "current": 1.0,
        "delta": 0.5,
        "trend": "better",
    }
    assert compared["clusters"]["unchanged"] == 1  # return-window

    # The report: the baseline, the changed suite, the previous values and the clusters.
    page = api.get(run["report_url"], role="knowledge_manager").text
    assert f"Compared with eval run {baseline['id']}" in page
    assert "The suite changed since then (another suite hash)" in page
    assert "<th>previous</th><th>change</th>" in page
    assert "Clusters since the previous run" in page and "citation agreement 0.500" in page


def test_compare_to_must_name_a_finished_run_of_the_same_suite(
    api: Api, container: Any, tiny_suite_text: str
) -> None:
    """404 for an unknown run, 409 for one not done or failed, 422 for another suite."""
    from core.evaluation.service import claim_run, create_run, finish_run

    def post(compare_to: str) -> Any:
        body = {"suite": tiny_suite_text, "compare_to": compare_to}
        return api.post(RUNS, role="knowledge_manager", json=body)

    missing = post("no-such-run")
    assert missing.status_code == 404, missing.text
    assert error(missing)["field"] == "compare_to" and "no-such-run" in error(missing)["message"]

    now = container.clock.now()
    ids = {}
    with container.session() as session:
        for name in ("queued", "running", "failed", "other"):
            ids[name] = create_run(
                session,
                suite_name="tiny" if name != "other" else "demo-consistency",
                suite_hash="0" * 64,
                suite_source="inline",
                suite_yaml="name: tiny",
                options={},
                now=now,
            ).id
        session.commit()
    with container.session() as session:
        for name in ("running", "failed", "other"):
            assert claim_run(session, ids[name], now) is not None
        assert finish_run(session, ids["failed"], 1, now, error="EvalRunError: the KB is gone")
        other = {"suites": [{"suite": {"name": "demo-consistency"}, "summary": {}}]}
        assert finish_run(session, ids["other"], 1, now, summary={"passed": True}, result=other)
        session.commit()

    for name in ("queued", "running"):
        resp = post(ids[name])
        assert resp.status_code == 409, resp.text
        assert error(resp)["code"] == "baseline_not_finished"
        assert f"is {name}" in error(resp)["message"]
    failed = post(ids["failed"])
    assert failed.status_code == 409 and error(failed)["code"] == "baseline_failed"
    assert "the KB is gone" in error(failed)["message"]
    other_suite = post(ids["other"])
    assert other_suite.status_code == 422, other_suite.text
    assert error(other_suite)["code"] == "baseline_other_suite"
    assert "ran suite 'demo-consistency', not 'tiny'" in error(other_suite)["message"]
    # None of them was queued.
    assert api.get(RUNS, role="knowledge_manager").json()["total"] == 4


def test_a_run_the_worker_cannot_finish_is_failed_with_the_reason(
    api: Api, tiny_suite_text: str, tmp_path: Any
) -> None:
    """A suite whose KB folder is gone by the time the worker runs it."""
    text = tiny_suite_text.replace("kb: ", f"kb: {tmp_path}/gone-", 1)
    resp = api.post(RUNS, role="knowledge_manager", json={"suite": text})
    assert resp.status_code == 202, resp.text
    run = wait_for_run(api, resp.json()["id"], timeout=300)
    assert run["status"] == "failed" and run["passed"] is None
    assert "gone-" in run["error"]
    assert api.get(f"{RUNS}/{run['id']}/report", role="knowledge_manager").status_code == 404


def test_result_is_404_for_unknown_409_until_done_then_the_json(api: Api, container: Any) -> None:
    """GET .../result: the stored document of `evals run --json`, only once the run is done."""
    from core.evaluation.service import claim_run, create_run, finish_run

    now = container.clock.now()
    with container.session() as session:
        run = create_run(
            session,
            suite_name="tiny",
            suite_hash="0" * 64,
            suite_source="inline",
            suite_yaml="name: tiny",
            options={"repeat": 1, "fail_under": {}},
            now=now,
        )
        failed = create_run(
            session,
            suite_name="tiny",
            suite_hash="0" * 64,
            suite_source="inline",
            suite_yaml="name: tiny",
            options={},
            now=now,
        )
        session.commit()
        run_id, failed_id = run.id, failed.id

    missing = api.get(f"{RUNS}/nope/result", role="knowledge_manager")
    assert missing.status_code == 404 and error(missing)["code"] == "not_found"
    assert api.get(f"{RUNS}/{run_id}/result", role="agent").status_code == 403
    assert api.client.get(f"{RUNS}/{run_id}/result").status_code == 401

    queued = api.get(f"{RUNS}/{run_id}/result", role="knowledge_manager")
    assert queued.status_code == 409, queued.text
    assert error(queued)["code"] == "run_not_finished"
    assert (
        "is queued" in error(queued)["message"]
        and "when the status is done" in (error(queued)["message"])
    )

    with container.session() as session:
        assert claim_run(session, run_id, now) is not None
        assert claim_run(session, failed_id, now) is not None
        session.commit()
    running = api.get(f"{RUNS}/{run_id}/result", role="knowledge_manager")
    assert running.status_code == 409 and "is running" in error(running)["message"]
    assert api.get(f"{RUNS}/{run_id}", role="knowledge_manager").json()["result_url"] is None

    doc = {
        "version": 1,
        "generated_at": now.isoformat(),
        "suites": [{"suite": {"name": "tiny"}, "summary": {"fact_agreement": 0.5}}],
        "passed": True,
        "missed": [],
    }
    with container.session() as session:
        assert finish_run(session, run_id, 1, now, summary={"passed": True}, result=doc)
        assert finish_run(session, failed_id, 1, now, error="EvalRunError: the KB is gone")
        session.commit()
    status = api.get(f"{RUNS}/{run_id}", role="knowledge_manager").json()
    assert status["status"] == "done" and status["result_url"] == f"{RUNS}/{run_id}/result"
    done = api.get(status["result_url"], role="knowledge_manager")
    assert done.status_code == 200 and done.headers["content-type"] == "application/json"
    assert done.json() == doc

    gone = api.get(f"{RUNS}/{failed_id}/result", role="knowledge_manager")
    assert gone.status_code == 409 and error(gone)["code"] == "run_failed"
    assert "the KB is gone" in error(gone)["message"]
