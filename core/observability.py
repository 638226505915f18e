"""Prometheus metrics shared by the API and the workers."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES_INGESTED = Counter(
    "threadline_messages_ingested_total", "Messages accepted by ingest.", ["channel"]
)
MESSAGES_DUPLICATE = Counter(
    "threadline_messages_duplicate_total", "Ingests recognized as duplicates.", ["channel"]
)
MESSAGES_PROCESSED = Counter(
    "threadline_messages_processed_total", "Messages the pipeline finished.", ["channel"]
)
PROCESSING_FAILURES = Counter(
    "threadline_processing_failures_total", "Pipeline failures by step.", ["step", "kind"]
)
PROCESSING_LATENCY = Histogram(
    "threadline_processing_latency_seconds",
    "Time from receipt to processed.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
STEP_LATENCY = Histogram(
    "threadline_step_seconds",
    "Time spent in each pipeline step, per batch.",
    ["step"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
MESSAGES_REQUEUED = Counter(
    "threadline_messages_requeued_total", "Messages the sweeper re-queued.", ["reason"]
)
