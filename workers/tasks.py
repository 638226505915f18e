"""The task wrappers: they own the transactions around core's message processor."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from core.errors import TransientError
from core.processing.service import Outcome
from core.tasks import TaskName

if TYPE_CHECKING:
    from adapters.container import Container

log = logging.getLogger(__name__)


def process_batch(container: Container, message_ids: Sequence[str], extra: int = 0) -> list[str]:
    """Task `message.process` over a batch: claim → commit → steps → finish → commit.

    Returns the ids that failed transiently and should be retried. Messages another worker
    holds, or that are already processed, are skipped, so redelivery changes nothing.
    `extra` lets the batch take that many other waiting messages along.
    """
    return run_batch(container, message_ids, extra).retry


def run_batch(container: Container, message_ids: Sequence[str], extra: int = 0) -> Outcome:
    processor = container.processor
    try:
        with container.session() as session:
            items = processor.claim(session, message_ids, container.clock.now(), extra)
            session.commit()
        if not items:
            return Outcome(skipped=list(message_ids))
        processor.run(items)
        with container.session() as session:
            outcome = processor.finish(session, items, container.clock.now())
            session.commit()
    except OperationalError as exc:
        raise TransientError(f"database: {exc.orig}") from exc
    if outcome.failed:
        log.warning("messages failed: %s", outcome.failed)
    return outcome


def sweep(container: Container) -> list[str]:
    """Task `message.sweep`: find work no worker finished; returns the ids to enqueue."""
    with container.session() as session:
        ids = container.processor.sweep(session, container.clock.now())
        session.commit()
    return ids


def sweep_all(container: Container) -> dict[str, list[str]]:
    """Every kind of stuck work, by task name (the local queue's and Celery's sweeper)."""
    from workers.kb import sweep_uploads

    return {
        TaskName.PROCESS_MESSAGE: sweep(container),
        TaskName.INGEST_KB_UPLOAD: sweep_uploads(container),
    }
