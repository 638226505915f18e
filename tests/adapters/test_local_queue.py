"""The embedded queue: worker threads + sweeper drain the database, even what was never sent."""

from __future__ import annotations

import time

from adapters.container import Container
from core.conversations.models import Message
from core.conversations.schemas import MessageIn
from core.conversations.service import ConversationService


def test_local_workers_process_messages_that_were_never_enqueued(container: Container) -> None:
    container.settings.enqueue_grace_seconds = 0
    ids = []
    with container.session() as session:
        service = ConversationService(session, container.threading_policy)
        for i in range(20):
            body = {"channel": "sms", "sender": {"phone": f"+1415555{i:04d}"}, "text": f"hi {i}"}
            ids.append(
                service.ingest(MessageIn.model_validate(body), container.clock.now()).message.id
            )
        session.commit()
    # Simulates a crash between commit and enqueue: nothing is sent to the queue.
    container.start_local_workers()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with container.session(write=False) as session:
            done = [session.get(Message, i).status for i in ids]  # type: ignore[union-attr]
        if all(s == "processed" for s in done):
            break
        time.sleep(0.2)
    assert done == ["processed"] * 20
    container.queue.ping()
    container.close()
