"""The history index: every processed message, embedded, searchable per customer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.ports import Embedder, Vector, VectorHit, VectorStore

COLLECTION = "history"
MAX_DOCUMENT_CHARS = 4000


@dataclass(frozen=True)
class HistoryEntry:
    """What the index keeps about one message."""

    message_id: str
    customer_id: str
    conversation_id: str
    reference: str
    channel: str
    sent_at: datetime
    text: str


def embedding_text(subject: str | None, text: str) -> str:
    """The text a message is embedded by: its subject (if any) then its clean body."""
    return f"{subject}\n{text}" if subject else text


class HistoryIndex:
    """Writes messages to, and queries them from, the `history` collection."""

    def __init__(self, embedder: Embedder, store: VectorStore) -> None:
        self.embedder = embedder
        self.store = store

    def add(self, entries: Sequence[HistoryEntry], vectors: Sequence[Vector]) -> None:
        """Upsert entries by message id: indexing the same message twice keeps one entry."""
        if not entries:
            return
        self.store.upsert(
            COLLECTION,
            ids=[e.message_id for e in entries],
            embeddings=vectors,
            documents=[e.text[:MAX_DOCUMENT_CHARS] for e in entries],
            metadatas=[
                {
                    "customer_id": e.customer_id,
                    "conversation_id": e.conversation_id,
                    "reference": e.reference,
                    "channel": e.channel,
                    "sent_at": e.sent_at.timestamp(),
                }
                for e in entries
            ],
        )

    def related(
        self,
        customer_id: str,
        query: str | Vector,
        k: int,
        before: datetime | None = None,
        exclude_ids: Sequence[str] = (),
    ) -> list[VectorHit]:
        """The customer's messages closest to `query`, sent before `before`, best first."""
        vector = self.embedder.embed([query])[0] if isinstance(query, str) else query
        clauses: list[dict[str, object]] = [{"customer_id": customer_id}]
        if before is not None:
            clauses.append({"sent_at": {"$lt": before.timestamp()}})
        where: dict[str, object] = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        hits = self.store.query(COLLECTION, vector, k + len(exclude_ids), where)
        return [h for h in hits if h.id not in set(exclude_ids)][:k]

    def reassign_customer(self, message_ids: Sequence[str], customer_id: str) -> None:
        """After a merge: the moved messages now belong to `customer_id`."""
        if message_ids:
            self.store.update_metadata(
                COLLECTION, message_ids, [{"customer_id": customer_id}] * len(message_ids)
            )

    def count(self) -> int:
        return self.store.count(COLLECTION)
