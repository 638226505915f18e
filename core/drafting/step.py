"""The `draft` pipeline step: every processed inbound message gets a suggested reply."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.drafting.assemble import ContextSources, build_context, related_used
from core.drafting.context import DraftContext, Drafter
from core.errors import TransientError
from core.knowledge.search import KnowledgeSearch
from core.ports import Clock
from core.processing.pipeline import WorkItem

log = logging.getLogger(__name__)


class DraftStep:
    """Assemble each item's context in one read session, then draft (in parallel when the
    drafter calls a remote model). A drafter bug fails only its own item.

    Drafting must end well within the lease of the batch: once `budget_s` has passed, the
    remaining items are drafted by `fallback` (the offline composer), with `fallback_reason`
    "time_budget" (followed by the composer's own reason, if any: "time_budget: …").
    """

    name = "draft"

    def __init__(
        self,
        drafter: Callable[[], Drafter],
        read_sessions: sessionmaker[Session],
        knowledge: Callable[[Session], KnowledgeSearch],
        sources: ContextSources,
        clock: Clock,
        parallel: int = 1,
        fallback: Callable[[], Drafter] | None = None,
        budget_s: float | None = None,
    ) -> None:
        self.drafter = drafter
        self.read_sessions = read_sessions
        self.knowledge = knowledge
        self.sources = sources
        self.clock = clock
        self.parallel = max(1, parallel)
        self.fallback = fallback
        self.budget_s = budget_s

    def run(self, items: list[WorkItem]) -> None:
        inbound = [i for i in items if i.direction == "inbound"]
        if not inbound:
            return
        now = self.clock.now()
        contexts: list[tuple[WorkItem, DraftContext]] = []
        with self.read_sessions() as session:
            kb = self.knowledge(session)
            for item in inbound:
                try:
                    contexts.append((item, build_context(session, kb, self.sources, item, now)))
                except TransientError:
                    raise
                except LookupError as exc:
                    item.error = f"draft: {exc}"
        drafter = self.drafter()
        fallback = self.fallback() if self.fallback is not None else None
        deadline = time.monotonic() + self.budget_s if self.budget_s is not None else float("inf")

        def one(pair: tuple[WorkItem, DraftContext]) -> tuple[WorkItem, Any]:
            item, context = pair
            try:
                if fallback is not None and time.monotonic() > deadline:
                    draft = fallback.draft(context)
                    # the budget is why; what the fallback itself says to check follows
                    own = draft.fallback_reason
                    draft.fallback_reason = f"time_budget: {own}" if own else "time_budget"
                    return item, draft
                return item, drafter.draft(context)
            except Exception as exc:  # noqa: BLE001 - one bad draft must not fail the batch
                log.exception("drafting message %s failed", item.message_id)
                return item, exc

        if self.parallel > 1 and len(contexts) > 1:
            with ThreadPoolExecutor(min(self.parallel, len(contexts))) as pool:
                results = list(pool.map(one, contexts))
        else:
            results = [one(pair) for pair in contexts]
        for (item, context), (_, result) in zip(contexts, results, strict=True):
            if isinstance(result, Exception):
                item.error = f"draft: {type(result).__name__}: {result}"
            else:
                result.related_used = related_used(context)  # stored on the suggestion
                item.results["draft"] = result
