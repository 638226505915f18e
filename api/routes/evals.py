"""/v1/evals/runs: answer-consistency suites run by a worker (task `evals.run`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse

from api.deps import JsonBody, UowDep, require
from core.auth.service import Role
from core.errors import InvalidInput, NotFound
from core.evaluation.schemas import EvalRunIn, EvalRunOut, EvalRunPage
from core.evaluation.service import (
    comparison_baseline,
    create_run,
    get_run,
    list_runs,
    run_out,
    run_result,
)
from core.tasks import TaskName

router = APIRouter(prefix="/v1/evals", tags=["evals"])

Manager = Depends(require(Role.KNOWLEDGE_MANAGER))


@router.post(
    "/runs",
    status_code=202,
    response_model=EvalRunOut,
    dependencies=[JsonBody, Manager],
    responses={
        404: {"description": "`compare_to` names no run"},
        409: {"description": "The `compare_to` run is not done (or failed)"},
        422: {"description": "Bad suite or bars, or a `compare_to` run of another suite"},
    },
)
def start_run(body: EvalRunIn, uow: UowDep, response: Response) -> EvalRunOut:
    """Queue a run of a suite (a file in evals/suites by name, or inline YAML); poll
    `GET /v1/evals/runs/{id}` until `done`, then fetch the report. With `compare_to` (the id
    of a finished run of a suite of the same name) the result and report say what got
    better or worse since that run: 404 for an unknown run, 409 for one not done (or
    failed), 422 for one of another suite."""
    from evals.metrics import parse_bars
    from evals.suite import SuiteError, resolve_suite

    try:
        loaded = resolve_suite(body.suite)
    except SuiteError as exc:
        raise InvalidInput(f"suite: {exc}", field="suite") from exc
    try:
        parse_bars(f"{k}={v}" for k, v in body.fail_under.items())
    except ValueError as exc:
        raise InvalidInput(str(exc), field="fail_under") from exc
    options: dict[str, Any] = {"repeat": body.repeat, "fail_under": body.fail_under}
    if body.compare_to is not None:
        comparison_baseline(uow.session, body.compare_to, loaded.suite.name)
        options["compare_to"] = body.compare_to
    text = body.suite if loaded.source == "inline" else open(loaded.source, encoding="utf-8").read()
    container = uow.container
    run = create_run(
        uow.session,
        suite_name=loaded.suite.name,
        suite_hash=loaded.hash,
        suite_source=loaded.source,
        suite_yaml=text,
        options=options,
        now=container.clock.now(),
    )
    run_id = run.id
    uow.after_commit(lambda: container.queue.enqueue(TaskName.RUN_EVAL, [run_id]))
    uow.commit()
    response.headers["Location"] = f"/v1/evals/runs/{run_id}"
    return run_out(run)


@router.get("/runs", response_model=EvalRunPage, dependencies=[Manager])
def runs(
    uow: UowDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> EvalRunPage:
    """Every run, newest first (status and summary)."""
    rows, total = list_runs(uow.session, limit, offset)
    return EvalRunPage(items=[run_out(r) for r in rows], total=total)


@router.get("/runs/{run_id}", response_model=EvalRunOut, dependencies=[Manager])
def run_status(run_id: str, uow: UowDep) -> EvalRunOut:
    """Status of a run and, once done, its summary scores and whether it met its bars."""
    return run_out(get_run(uow.session, run_id))


@router.get("/runs/{run_id}/report", response_class=HTMLResponse, dependencies=[Manager])
def run_report(run_id: str, uow: UowDep) -> HTMLResponse:
    """The self-contained HTML report of a finished run."""
    run = get_run(uow.session, run_id)
    if not run.report_html:
        raise NotFound(f"eval run {run_id} has no report yet (status {run.status})", field="run_id")
    return HTMLResponse(run.report_html)


@router.get(
    "/runs/{run_id}/result",
    response_class=JSONResponse,
    dependencies=[Manager],
    responses={404: {"description": "No such run"}, 409: {"description": "Not finished"}},
)
def run_result_json(run_id: str, uow: UowDep) -> JSONResponse:
    """Every number of a finished run: the document `threadline evals run --json` writes
    (per suite: summary, per intent, per cluster with every variant's draft, routing, run
    metadata, bars, compare). 409 while the run is queued or running, or when it failed."""
    return JSONResponse(run_result(uow.session, run_id))
