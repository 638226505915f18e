"""The Celery app and its tasks (`threadline worker` runs it).

Started as `celery -A workers.celery_app worker` or through `threadline worker`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init

from adapters.container import get_container
from core.errors import TransientError
from core.tasks import TaskName
from workers.evals import run_eval, sweep_eval_runs
from workers.kb import ingest_uploads
from workers.routing import retrain
from workers.tasks import process_batch, sweep_all

log = logging.getLogger(__name__)

container = get_container()
app = container.celery_app


@worker_process_init.connect
def _prepare_child(**_: Any) -> None:
    # Prefork children share the machine's cores; one torch thread each avoids contention.
    import torch

    torch.set_num_threads(1)
    warm_up()


def warm_up() -> None:
    """Load the models before the first task, not inside its lease (~10 s cold)."""
    get_container().warm_up()


@app.task(
    name=TaskName.PROCESS_MESSAGE.value,
    bind=True,
    acks_late=True,
    autoretry_for=(TransientError,),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=container.settings.max_attempts,
)
def process_message(self: Any, message_id: str) -> None:
    """Process one message (and waiting ones with it); transient failures are retried."""
    c = get_container()
    retry = process_batch(c, [message_id], extra=c.settings.process_batch_size - 1)
    if retry:
        raise TransientError(f"message {message_id} failed transiently; retrying")


@app.task(name=TaskName.INGEST_KB_UPLOAD.value, acks_late=True)
def ingest_kb_upload(upload_id: str) -> None:
    """Ingest one file uploaded through the API (`POST /v1/kb/documents`)."""
    ingest_uploads(get_container(), [upload_id])


@app.task(name=TaskName.RETRAIN_ROUTER.value, acks_late=True)
def retrain_router(request_id: str) -> str | None:
    """Retrain the intent model with agents' corrections."""
    return retrain(get_container())


@app.task(
    name=TaskName.RUN_EVAL.value,
    acks_late=True,
    # A suite runs for minutes; its lease (renewed while it makes progress) guards it instead.
    time_limit=4 * 3600,
    soft_time_limit=4 * 3600 - 60,
)
def run_eval_suite(run_id: str) -> str | None:
    """Run an answer-consistency suite (`POST /v1/evals/runs`) and store its report."""
    return run_eval(get_container(), run_id)


@app.task(name=TaskName.SWEEP.value, ignore_result=True)
def sweep_stuck_work() -> int:
    """Re-queue messages and uploads whose lease expired or that no worker ever took."""
    c = get_container()
    total = 0
    for task, ids in {**sweep_all(c), TaskName.RUN_EVAL.value: sweep_eval_runs(c)}.items():
        if ids:
            log.info("sweeper re-queued %d %s task(s)", len(ids), task)
            c.queue.enqueue(task, ids)
            total += len(ids)
    return total
