"""`threadline demo`: import the CRM records, then ingest every message like the API does."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.progress import Progress

from adapters.container import Container
from core.conversations.models import Message
from core.conversations.schemas import MessageIn
from core.conversations.service import ConversationService
from core.identity.rules import Identifier, normalize_handle
from core.identity.service import IdentityService, sender_identifiers
from core.tasks import TaskName

DATA_DIR = Path(__file__).parent / "data"
KB_DIR = Path(__file__).parent / "kb"


def _load(name: str) -> Any:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def _profile_identifiers(record: dict[str, Any], region: str) -> list[Identifier]:
    found: list[Identifier] = []
    for email in record.get("emails") or []:
        found += sender_identifiers({"email": email}, "email", region)
    for phone in record.get("phones") or []:
        found += sender_identifiers({"phone": phone}, "sms", region)
    for platform, handle in (record.get("handles") or {}).items():
        if handle:
            found.append(normalize_handle(f"{platform}:{handle}", "", region))
    if record.get("customer_ref"):
        found += sender_identifiers({"customer_ref": record["customer_ref"]}, "email", region)
    return list(dict.fromkeys(found))


def load_demo(
    container: Container, progress: bool = True, wait_seconds: float = 600
) -> dict[str, Any]:
    """Load accounts, customers and messages; wait until workers processed the messages.

    Safe to run twice: customers are matched by their identifiers and messages by
    (channel, external_id), so a second run adds nothing.
    """
    from kb_ingest.pipeline import IngestOptions
    from workers.kb import ingest_files

    region = container.settings.default_phone_region
    kb = ingest_files(container, [KB_DIR], IngestOptions(), prune=True, source="demo")
    now = container.clock.now()
    accounts = {a["name"]: a["attributes"] for a in _load("accounts.json")}
    customers = _load("customers.json")
    messages = _load("messages.json")

    with container.session() as session:
        identity = IdentityService(session, region)
        for name, attributes in accounts.items():
            identity.upsert_account(name, attributes, now)
        for record in customers:
            identity.import_profile(
                record.get("name"),
                _profile_identifiers(record, region),
                record.get("account"),
                record.get("attributes") or {},
                now,
            )
        session.commit()

    new_ids: list[str] = []
    duplicates = 0
    with container.session() as session:
        service = ConversationService(session, container.threading_policy)
        for raw in messages:
            body = {k: v for k, v in raw.items() if k not in ("customer", "minutes_ago")}
            body["sent_at"] = now - timedelta(minutes=raw["minutes_ago"])
            result = service.ingest(MessageIn.model_validate(body), now)
            if result.duplicate:
                duplicates += 1
            else:
                new_ids.append(result.message.id)
        session.commit()

    if new_ids:
        if container.settings.queue == "local":
            container.warm_up()
        container.start_local_workers()
        container.queue.enqueue(TaskName.PROCESS_MESSAGE, new_ids)
        _wait_processed(container, new_ids, progress, wait_seconds)

    with container.session(write=False) as session:
        from sqlalchemy import func, select

        statuses = (
            dict(
                session.execute(
                    select(Message.status, func.count())
                    .where(Message.id.in_(new_ids))
                    .group_by(Message.status)
                ).all()
            )
            if new_ids
            else {}
        )
    return {
        "kb_version": kb.kb_version,
        "kb_documents": kb.documents_added + kb.documents_updated + kb.documents_unchanged,
        "kb_chunks_embedded": kb.chunks_embedded,
        "accounts": len(accounts),
        "customers": len(customers),
        "messages_new": len(new_ids),
        "messages_duplicate": duplicates,
        "statuses": {str(k): int(v) for k, v in statuses.items()},
    }


def _wait_processed(container: Container, ids: list[str], progress: bool, timeout: float) -> None:
    from sqlalchemy import func, select

    deadline = time.monotonic() + timeout
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task("Processing messages", total=len(ids))
        while True:
            with container.session(write=False) as session:
                done = (
                    session.scalar(
                        select(func.count())
                        .select_from(Message)
                        .where(Message.id.in_(ids), Message.status.in_(("processed", "failed")))
                    )
                    or 0
                )
            bar.update(task, completed=done)
            if done >= len(ids) or time.monotonic() > deadline:
                return
            time.sleep(0.2)
