"""An eval run on the distributed engine: the API (queue=celery) sends task `evals.run`
through Redis to a real `threadline worker` subprocess over PostgreSQL, which runs the suite in
its sandbox and stores the summary and report where the API reads them."""

from __future__ import annotations

import shutil

import pytest

from tests.distributed.support import Stack, StartWorker
from tests.evals.conftest import ROOT, TINY, XSS
from tests.evals.test_evals_api import RUNS, wait_for_run
from tests.helpers import Api

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def test_a_celery_worker_runs_the_suite(
    stack: Stack, start_worker: StartWorker, celery_api: Api
) -> None:
    kb = stack.tmp_path / "kb"
    kb.mkdir()
    for name in ("returns-refunds/returns-window.md", "shipping/lost-parcel.md"):
        shutil.copy(ROOT / "demo/kb" / name, kb)
    tiny_suite_text = TINY.format(kb=kb, xss=XSS)
    worker = start_worker()
    resp = celery_api.post(
        RUNS,
        role="knowledge_manager",
        json={"suite": tiny_suite_text, "repeat": 2, "fail_under": {"team_accuracy": 1.0}},
    )
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["id"]
    run = wait_for_run(celery_api, run_id, timeout=600)
    assert run["status"] == "done", (run["error"], worker.log_text()[-4000:])
    assert run["passed"] is True and run["missed"] == []
    assert run["options"] == {"repeat": 2, "fail_under": {"team_accuracy": 1.0}}
    summary = run["summary"]["suites"][0]["summary"]
    assert summary["stability"] == 1.0  # the composer drafted every variant identically twice
    assert summary["citation_agreement"] == 0.75
    # The worker wrote the row in PostgreSQL (migration 0005) and the log names the task.
    rows = stack.rows("SELECT status, attempts FROM eval_runs WHERE id = :id", id=run_id)
    assert [tuple(r) for r in rows] == [("done", 1)]
    assert "evals.run" in worker.log_text()
    page = celery_api.get(run["report_url"], role="knowledge_manager").text
    assert "Suite tiny" in page and 'src="data:image/png;base64,' in page
