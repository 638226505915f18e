"""Task wrappers of eval runs (`evals.run`): they own the transactions around
core.evaluation and call the suite runner (evals/) outside any transaction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.evaluation.service import (
    claim_run,
    comparison_baseline,
    finish_run,
    renew_lease,
    sweep_runs,
)

if TYPE_CHECKING:
    from adapters.container import Container

log = logging.getLogger(__name__)
RENEW_EVERY_S = 30.0
# One eval at a time per process: a run embeds hundreds of texts and keeps the cores busy.
_one_at_a_time = threading.Semaphore(1)
_pending: set[str] = set()  # runs with a thread in this process (the sweeper re-sends them)
_pending_lock = threading.Lock()


def compare_summary(compared: dict[str, Any] | None) -> dict[str, Any] | None:
    """The short form of a suite's `compare` (the full one is in the result): baseline,
    whether the suite is the same, per-metric deltas, the clusters that got better/worse."""
    if not compared:
        return None
    clusters = compared.get("clusters") or {}
    return {
        "baseline": compared.get("baseline"),
        "same_suite": compared.get("same_suite"),
        "previous_hash": compared.get("previous_hash"),
        "metrics": compared.get("metrics") or {},
        "clusters": {
            key: clusters.get(key) or [] for key in ("better", "worse", "added", "removed")
        },
    }


def summary_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What GET /v1/evals/runs/{id} shows: per suite its name, hash and scores; the bars;
    with `compare_to`, the baseline run and what changed since."""
    out: dict[str, Any] = {
        "passed": doc["passed"],
        "missed": doc["missed"],
        "suites": [
            {
                "name": r["suite"]["name"],
                "hash": r["suite"]["hash"],
                "clusters": r["suite"]["clusters"],
                "variants": r["suite"]["variants"],
                "summary": r["summary"],
                "bars": r.get("bars", {}),
                "run": r.get("run", {}),
                **({"compare": compare_summary(r["compare"])} if r.get("compare") else {}),
            }
            for r in doc["suites"]
        ],
    }
    if doc.get("compare_to"):
        out["compare_to"] = doc["compare_to"]
    return out


def run_eval(container: Container, run_id: str) -> str | None:
    """Task `evals.run`: claim → commit → run the suite in a sandbox (lease renewed while it
    makes progress) → store summary, result and report → commit. Returns the final status,
    or None when another worker holds the run or it is finished."""
    from evals.metrics import parse_bars
    from evals.report import render_report
    from evals.runner import RunOptions, comparisons, run_suites
    from evals.suite import SUITES_DIR, parse_suite

    with container.session() as session:
        run = claim_run(session, run_id, container.clock.now())
        session.commit()
        if run is None:
            return None
        attempt, text, source = run.attempts, run.suite_yaml, run.suite_source
        options = dict(run.options or {})
        suite_name = run.suite_name
    last_renewal = time.monotonic()

    def progress(suite: str, stage: str, done: int, total: int) -> None:
        nonlocal last_renewal
        if time.monotonic() - last_renewal < RENEW_EVERY_S:
            return
        last_renewal = time.monotonic()
        with container.session() as session:
            renew_lease(session, run_id, attempt, container.clock.now())
            session.commit()

    error: str | None = None
    summary: dict[str, Any] = {}
    result: dict[str, Any] = {}
    report: str | None = None
    try:
        base = Path(source).parent if source != "inline" else SUITES_DIR
        loaded = parse_suite(text, source=source, base_dir=base)
        bars = parse_bars(f"{k}={v}" for k, v in (options.get("fail_under") or {}).items())
        baseline_id = options.get("compare_to")
        previous = None
        if baseline_id:
            with container.session(write=False) as session:
                previous = comparison_baseline(session, str(baseline_id), suite_name)
        doc = run_suites(
            container,
            [loaded],
            RunOptions(repeat=int(options.get("repeat", 1)), bars=bars),
            progress,
            previous,
            baseline=f"eval run {baseline_id}" if baseline_id else None,
        )
        if baseline_id:
            doc["compare_to"] = baseline_id
        report = render_report(doc["suites"], comparisons(doc))
        summary, result = summary_of(doc), doc
    except Exception as exc:  # noqa: BLE001 - recorded on the run for the user to see
        log.exception("eval run %s failed", run_id)
        error = f"{type(exc).__name__}: {exc}"[:4000]
    with container.session() as session:
        finish_run(
            session,
            run_id,
            attempt,
            container.clock.now(),
            error=error,
            summary=summary,
            result=result,
            report_html=report,
        )
        session.commit()
    return "failed" if error else "done"


def eval_handler(container: Container, run_ids: Sequence[str]) -> list[str]:
    """Local-queue handler: each run in its own thread (one at a time), so a long eval does
    not hold up message processing on the in-process workers."""

    def work(run_id: str) -> None:
        try:
            with _one_at_a_time:
                run_eval(container, run_id)
        except Exception:  # the sweeper retries it after the lease
            log.exception("eval run %s crashed", run_id)
        finally:
            with _pending_lock:
                _pending.discard(run_id)

    for run_id in run_ids:
        with _pending_lock:
            if run_id in _pending:
                continue
            _pending.add(run_id)
        threading.Thread(
            target=work, args=(run_id,), name=f"eval-{run_id[:8]}", daemon=True
        ).start()
    return []


def sweep_eval_runs(container: Container) -> list[str]:
    """Runs no worker took, or whose worker died: ids to enqueue again."""
    grace = timedelta(seconds=container.settings.enqueue_grace_seconds)
    with container.session() as session:
        ids = sweep_runs(session, container.clock.now(), grace)
        session.commit()
    return ids
