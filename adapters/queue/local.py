"""In-process worker threads that drain the database: the embedded default queue."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

# Handles a batch of message ids; returns the ids to retry later (transient failures).
BatchHandler = Callable[[list[str]], list[str]]
Sweeper = Callable[[], list[str]]


class LocalTaskQueue:
    """Implements core.ports.TaskQueue with threads; a sweeper thread re-queues stuck work.

    The database is the system of record, so whatever is lost here (a crash, a full restart)
    is found again by the sweeper.
    """

    def __init__(
        self,
        handler: BatchHandler,
        sweeper: Sweeper,
        workers: int = 1,
        batch_size: int = 16,
        sweep_interval: float = 30.0,
        retry_delay: float = 2.0,
    ) -> None:
        self.handler = handler
        self.sweeper = sweeper
        self.workers = workers
        self.batch_size = batch_size
        self.sweep_interval = sweep_interval
        self.retry_delay = retry_delay
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Condition()
        self._busy = 0

    # --- TaskQueue port ----------------------------------------------------------------
    def enqueue_messages(self, message_ids: Sequence[str]) -> None:
        for message_id in message_ids:
            self._queue.put(message_id)

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
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the queue is empty and no batch is running; True if it got there."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._queue.empty() and self._busy == 0, timeout=timeout
            )

    # --- threads ------------------------------------------------------------------------
    def _take_batch(self) -> list[str]:
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        with self._idle:
            self._busy += 1
        return batch

    def _work(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch:
                continue
            try:
                retry = self.handler(batch)
                if retry:
                    timer = threading.Timer(self.retry_delay, self.enqueue_messages, [retry])
                    timer.daemon = True
                    timer.start()
            except Exception:  # the sweeper will find these messages again
                log.exception("local worker batch failed; the sweeper will retry it")
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                ids = self.sweeper()
                if ids:
                    log.info("sweeper re-queued %d message(s)", len(ids))
                    self.enqueue_messages(ids)
            except Exception:
                log.exception("sweep failed")
            self._stop.wait(self.sweep_interval)
