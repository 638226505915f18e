"""Every task name in one place (the queue adapters and the workers share them)."""

from enum import StrEnum


class TaskName(StrEnum):
    PROCESS_MESSAGE = "message.process"
    SWEEP = "message.sweep"
    INGEST_KB_UPLOAD = "kb.ingest_upload"
    RETRAIN_ROUTER = "router.retrain"
    RUN_EVAL = "evals.run"
