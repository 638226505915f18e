"""API shapes of eval runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["queued", "running", "done", "failed"]


class EvalRunIn(BaseModel):
    """POST /v1/evals/runs: a suite (the name of a file in evals/suites, or inline YAML)."""

    model_config = ConfigDict(extra="forbid")

    suite: str = Field(
        min_length=1,
        max_length=2_000_000,
        description="Name of a suite in evals/suites (e.g. 'demo') or the suite's YAML text.",
    )
    repeat: int = Field(1, ge=1, le=10, description="Run every variant N times (stability).")
    fail_under: dict[str, float] = Field(
        default_factory=dict,
        description="Bars: {metric: minimum} (a maximum for needs_human_rate); `passed` is "
        "false when one is missed; a metric the suite cannot measure passes as n/a.",
    )
    compare_to: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Id of an earlier run (status done) of a suite with the same name: its "
        "stored result is the baseline, as `threadline evals run --compare previous.json`. "
        "The result and report then hold what got better or worse (per suite `compare`). "
        "A different suite hash is allowed (`compare.same_suite` is false).",
    )


class EvalRunOut(BaseModel):
    id: str
    suite_name: str
    suite_hash: str
    suite_source: str
    status: RunStatus
    attempts: int
    error: str | None
    options: dict[str, Any]
    summary: dict[str, Any]
    passed: bool | None
    missed: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    report_url: str | None
    result_url: str | None = None  # the full JSON once done


class EvalRunPage(BaseModel):
    items: list[EvalRunOut]
    total: int
