"""TaskQueue on Celery with a Redis broker: the distributed engine."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from core.config import Settings
from core.tasks import TaskName

QUEUE = "threadline"
SWEEP_QUEUE = "threadline.sweep"


def make_celery_app(settings: Settings) -> Celery:
    """The Celery app: late acks, one task prefetched, time limits, expiring sends."""
    app = Celery("threadline", broker=settings.redis_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit,
        task_soft_time_limit=max(1, settings.task_time_limit - 10),
        task_ignore_result=True,
        task_default_queue=QUEUE,
        # Sweeps get their own queue so that a backlog of messages cannot starve them.
        task_routes={TaskName.SWEEP.value: {"queue": SWEEP_QUEUE}},
        broker_connection_retry_on_startup=True,
        # Redelivery of a task whose worker died; the sweeper usually gets there first.
        broker_transport_options={"visibility_timeout": max(60, int(settings.lease_seconds * 2))},
        beat_schedule={
            "sweep": {
                "task": TaskName.SWEEP.value,
                "schedule": settings.sweep_interval_seconds,
                # A sweep that waited longer than one interval is superseded by the next.
                "options": {"expires": settings.sweep_interval_seconds},
            }
        },
        worker_hijack_root_logger=False,
    )
    return app


class CeleryTaskQueue:
    """Implements core.ports.TaskQueue: one Celery task per id."""

    def __init__(self, app: Celery, expires: int) -> None:
        self.app = app
        self.expires = expires

    def enqueue(self, task: str, ids: Sequence[str]) -> None:
        for item_id in ids:
            self.app.send_task(task, args=[item_id], expires=self.expires)

    def ping(self) -> None:
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
