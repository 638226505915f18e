"""In-process worker threads that drain the database: the embedded default queue."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence

log = logging.getLogger(__name__)

# Handles a batch of ids of one task; returns the ids to retry later (transient failures).
BatchHandler = Callable[[list[str]], list[str]]
# Finds stuck work: task name → ids to enqueue again.
Sweeper = Callable[[], Mapping[str, list[str]]]


class LocalTaskQueue:
    """Implements core.ports.TaskQueue with threads; a sweeper thread re-queues stuck work.

    The database is the system of record, so whatever is lost here (a crash, a full restart)
    is found again by the sweeper.
    """

    def __init__(
        self,
        handlers: Mapping[str, BatchHandler],
        sweeper: Sweeper,
        workers: int = 1,
        batch_size: int = 16,
        sweep_interval: float = 30.0,
        retry_delay: float = 2.0,
    ) -> None:
        self.handlers = dict(handlers)
        self.sweeper = sweeper
        self.workers = workers
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.retry_delay = retry_delay
        self._pending: dict[str, deque[str]] = {task: deque() for task in self.handlers}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0

    # --- TaskQueue port ----------------------------------------------------------------
    def enqueue(self, task: str, ids: Sequence[str]) -> None:
        if task not in self._pending:
            raise ValueError(f"no local handler for task {task!r}")
        with self._cond:
            self._pending[task].extend(ids)
            self._cond.notify_all()

    def ping(self) -> None:
        if not self._threads or not all(t.is_alive() for t in self._threads):
            raise RuntimeError("local workers are not running")

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker threads and the sweeper (which also runs once at once)."""
        if self._threads:
            return
        self._stop.clear()
        for n in range(self.workers):
            t = threading.Thread(target=self._work, name=f"threadline-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        sweeper = threading.Thread(target=self._sweep_loop, name="threadline-sweeper", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def join(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending and no batch is running; True if it got there."""
        with self._cond:
            return self._cond.wait_for(self._idle, timeout=timeout)

    # --- threads ------------------------------------------------------------------------
    def _idle(self) -> bool:
        return self._busy == 0 and not any(self._pending.values())

    def _take_batch(self) -> tuple[str, list[str]] | None:
        with self._cond:
            self._cond.wait_for(
                lambda: self._stop.is_set() or any(self._pending.values()), timeout=0.5
            )
            for task, ids in self._pending.items():
                if ids:
                    batch = [ids.popleft() for _ in range(min(self.batch_size, len(ids)))]
                    self._busy += 1
                    return task, batch
        return None

    def _work(self) -> None:
        while not self._stop.is_set():
            taken = self._take_batch()
            if taken is None:
                continue
            task, batch = taken
            try:
                retry = self.handlers[task](batch)
                if retry:
                    timer = threading.Timer(self.retry_delay, self.enqueue, [task, retry])
                    timer.daemon = True
                    timer.start()
            except Exception:  # the sweeper will find this work again
                log.exception("local worker batch of %s failed; the sweeper will retry it", task)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                for task, ids in self.sweeper().items():
                    if ids:
                        log.info("sweeper re-queued %d %s task(s)", len(ids), task)
                        self.enqueue(task, ids)
            except Exception:
                log.exception("sweep failed")
            self._stop.wait(self.sweep_interval)
