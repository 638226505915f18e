"""Eval runs: recorded by the API, claimed and finished by a worker, swept when stuck.

A worker claims a run with one atomic UPDATE (queued, or running with an expired lease), runs
the suite outside any transaction, renews its lease while it makes progress, and finishes the
run only if it still holds it (same attempt). A worker that dies leaves the run `running`
until the lease runs out; the sweeper re-queues it, and gives up (`failed`, with the reason)
after MAX_ATTEMPTS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.evaluation.models import EvalRun
from core.evaluation.schemas import EvalRunOut

EVAL_LEASE = timedelta(minutes=30)
MAX_ATTEMPTS = 2


def run_out(run: EvalRun) -> EvalRunOut:
    """The API view of a run (summary without the per-variant detail)."""
    summary = dict(run.summary or {})
    return EvalRunOut(
        id=run.id,
        suite_name=run.suite_name,
        suite_hash=run.suite_hash,
        suite_source=run.suite_source,
        status=run.status,  # type: ignore[arg-type]
        attempts=run.attempts,
        error=run.error,
        options=dict(run.options or {}),
        summary=summary,
        passed=summary.get("passed") if run.status == "done" else None,
        missed=list(summary.get("missed") or []),
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        report_url=f"/v1/evals/runs/{run.id}/report" if run.report_html else None,
        result_url=f"/v1/evals/runs/{run.id}/result" if run.status == "done" else None,
    )


def create_run(
    session: Session,
    *,
    suite_name: str,
    suite_hash: str,
    suite_source: str,
    suite_yaml: str,
    options: Mapping[str, Any],
    now: datetime,
) -> EvalRun:
    """Record a queued run (the caller commits, then enqueues task `evals.run`)."""
    run = EvalRun(
        suite_name=suite_name,
        suite_hash=suite_hash,
        suite_source=suite_source,
        suite_yaml=suite_yaml,
        options=dict(options),
        status="queued",
        attempts=0,
        summary={},
        result={},
        created_at=now,
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: str) -> EvalRun:
    """A run by id; NotFound otherwise."""
    run = session.get(EvalRun, run_id)
    if run is None:
        raise NotFound(f"eval run {run_id} does not exist", field="run_id")
    return run


def run_result(session: Session, run_id: str) -> dict[str, Any]:
    """The full result document of a finished run (what `evals run --json` writes): NotFound
    for an unknown run, Conflict (code `run_not_finished` / `run_failed`) while it is queued or
    running, or when it failed and so has none."""
    run = get_run(session, run_id)
    if run.status in ("queued", "running"):
        raise Conflict(
            f"eval run {run_id} is {run.status}: its result is ready when the status is done "
            f"(poll GET /v1/evals/runs/{run_id})",
            field="run_id",
            code="run_not_finished",
        )
    if run.status == "failed" or not run.result:
        raise Conflict(
            f"eval run {run_id} failed and has no result: {run.error or 'no reason recorded'}",
            field="run_id",
            code="run_failed",
        )
    return dict(run.result)


def comparison_baseline(session: Session, run_id: str, suite_name: str) -> dict[str, Any]:
    """The stored result of run `run_id` as the baseline of a new run of `suite_name`
    (`compare_to`): NotFound for an unknown run, Conflict (code `baseline_not_finished` /
    `baseline_failed`) for one that is not done, InvalidInput (code `baseline_other_suite`)
    for one that ran no suite of that name (there would be nothing to compare)."""
    run = session.get(EvalRun, run_id)
    if run is None:
        raise NotFound(f"compare_to: eval run {run_id} does not exist", field="compare_to")
    if run.status in ("queued", "running"):
        raise Conflict(
            f"compare_to: eval run {run_id} is {run.status}; compare with it once its status "
            "is done",
            field="compare_to",
            code="baseline_not_finished",
        )
    result = dict(run.result or {})
    if run.status == "failed" or not result:
        raise Conflict(
            f"compare_to: eval run {run_id} failed and has no result to compare with: "
            f"{run.error or 'no reason recorded'}",
            field="compare_to",
            code="baseline_failed",
        )
    names = [s.get("suite", {}).get("name") for s in result.get("suites") or []]
    if suite_name not in names:
        raise InvalidInput(
            f"compare_to: eval run {run_id} ran suite {', '.join(map(repr, names)) or 'none'}, "
            f"not {suite_name!r}: there is nothing to compare",
            field="compare_to",
            code="baseline_other_suite",
        )
    return result


def list_runs(session: Session, limit: int = 50, offset: int = 0) -> tuple[list[EvalRun], int]:
    """Newest first."""
    total = int(session.scalar(select(func.count()).select_from(EvalRun)) or 0)
    rows = session.scalars(
        select(EvalRun).order_by(EvalRun.created_at.desc(), EvalRun.id).limit(limit).offset(offset)
    )
    return list(rows), total


def claim_run(session: Session, run_id: str, now: datetime) -> EvalRun | None:
    """Take a queued run (or one whose worker's lease ran out); None if another holds it,
    it is finished, or it used up its attempts."""
    claimable = or_(
        EvalRun.status == "queued",
        and_(EvalRun.status == "running", EvalRun.lease_expires_at < now),
    )
    result = session.execute(
        update(EvalRun)
        .where(EvalRun.id == run_id, claimable, EvalRun.attempts < MAX_ATTEMPTS)
        .values(
            status="running",
            attempts=EvalRun.attempts + 1,
            lease_expires_at=now + EVAL_LEASE,
            started_at=now,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    run = session.get(EvalRun, run_id, populate_existing=True)
    return run


def renew_lease(session: Session, run_id: str, attempt: int, now: datetime) -> bool:
    """Extend the lease of a run this worker still holds."""
    result = session.execute(
        update(EvalRun)
        .where(EvalRun.id == run_id, EvalRun.status == "running", EvalRun.attempts == attempt)
        .values(lease_expires_at=now + EVAL_LEASE)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def finish_run(
    session: Session,
    run_id: str,
    attempt: int,
    now: datetime,
    *,
    error: str | None = None,
    summary: Mapping[str, Any] | None = None,
    result: Mapping[str, Any] | None = None,
    report_html: str | None = None,
) -> bool:
    """Store the outcome (`done`, or `failed` with `error`) if this worker still holds the run."""
    run = session.get(EvalRun, run_id, populate_existing=True)
    if run is None or run.status != "running" or run.attempts != attempt:
        return False
    run.status = "failed" if error else "done"
    run.error = error
    run.summary = dict(summary or {})
    run.result = dict(result or {})
    run.report_html = report_html
    run.lease_expires_at = None
    run.finished_at = now
    session.flush()
    return True


def sweep_runs(session: Session, now: datetime, grace: timedelta) -> list[str]:
    """Runs to enqueue again: queued ones no worker took within `grace`, running ones whose
    lease ran out. Those that used up their attempts are marked failed instead."""
    stuck = session.scalars(
        select(EvalRun).where(
            or_(
                and_(EvalRun.status == "queued", EvalRun.created_at < now - grace),
                and_(EvalRun.status == "running", EvalRun.lease_expires_at < now),
            )
        )
    )
    requeue = []
    for run in stuck:
        if run.attempts >= MAX_ATTEMPTS:
            run.status = "failed"
            run.lease_expires_at = None
            run.finished_at = now
            run.error = run.error or f"gave up after {run.attempts} attempts (lease expired)"
            continue
        requeue.append(run.id)
    session.flush()
    return requeue
