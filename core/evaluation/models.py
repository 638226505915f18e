"""ORM model of eval runs started through the API (`POST /v1/evals/runs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import ID, Base, new_id


class EvalRun(Base):
    """One run of an answer-consistency suite by a worker (task `evals.run`)."""

    __tablename__ = "eval_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    suite_name: Mapped[str] = mapped_column(String(200), index=True)
    suite_hash: Mapped[str] = mapped_column(String(64))
    suite_source: Mapped[str] = mapped_column(String(1000))  # a file in evals/suites or "inline"
    suite_yaml: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # repeat, fail_under
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
