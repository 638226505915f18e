"""`core.ports.ChatModel` over any OpenAI-compatible endpoint, through LangChain's `ChatOpenAI`.

Works with OpenAI, vLLM, Ollama and the llama.cpp server. Two llama.cpp pitfalls are handled
here (see docs in STACK-NOTES): `max_tokens` is also sent in `extra_body` (LangChain sends
`max_completion_tokens`, which llama.cpp ignores), and structured output defaults to a forced
function call, because LangChain's default `json_schema` method gets an HTTP 500 there.

Errors: a timeout, a connection failure, a 429 or a 5xx is retried (`retries` times,
exponential backoff), then raised as `ChatTimeout` (a `TransientError` that is also a
builtin `TimeoutError`) or `TransientError`. Other HTTP errors raise `TransientError` at once.
An answer that is not one JSON object raises `ValueError`.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Literal

import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from core.config import Settings
from core.errors import TransientError

log = logging.getLogger(__name__)

JsonMode = Literal["function_calling", "json_object", "json_schema"]
TOOL_NAME = "submit_answer"


class ChatTimeout(TransientError, TimeoutError):
    """The endpoint did not answer in time, on every attempt."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(
        exc,
        openai.APIConnectionError  # includes APITimeoutError
        | openai.InternalServerError  # any 5xx
        | openai.RateLimitError,
    )


class OpenAIChatModel:
    """A chat model behind an OpenAI-compatible `/v1/chat/completions`.

    One `ChatOpenAI` client per distinct timeout is kept (the timeout is a client setting).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        max_tokens: int = 400,
        retries: int = 2,
        json_mode: JsonMode = "function_calling",
        backoff_s: float = 0.5,
        max_backoff_s: float = 4.0,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.api_key = api_key or "not-needed"  # local servers accept any key
        self.max_tokens = max_tokens
        self.retries = retries
        self.json_mode: JsonMode = json_mode
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._clients: dict[float, ChatOpenAI] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIChatModel:
        """Built from the `llm_*` settings; `llm_base_url` must be set."""
        if not settings.llm_base_url:
            raise ValueError("THREADLINE_LLM_BASE_URL is not set")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            key,
            max_tokens=settings.llm_max_tokens,
            retries=settings.llm_retries,
            json_mode=settings.llm_json_mode,
        )

    @property
    def model_name(self) -> str:
        return self.model

    def _client(self, timeout_s: float) -> ChatOpenAI:
        with self._lock:
            client = self._clients.get(timeout_s)
            if client is None:
                client = ChatOpenAI(
                    base_url=self.base_url,
                    model=self.model,
                    api_key=SecretStr(self.api_key),
                    timeout=timeout_s,
                    max_retries=0,  # tenacity retries, so attempts are counted in one place
                    temperature=0,
                    max_tokens=self.max_tokens,  # type: ignore[call-arg]
                    # llama.cpp ignores `max_completion_tokens`, which LangChain sends.
                    extra_body={"max_tokens": self.max_tokens},
                )
                self._clients[timeout_s] = client
            return client

    def complete_json(
        self, system: str, user: str, schema: dict[str, Any], timeout_s: float
    ) -> dict[str, Any]:
        """One chat completion whose answer must be a JSON object following `schema`."""
        messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(user)]
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            message = retrying(self._invoke, messages, schema, timeout_s)
        except openai.APITimeoutError as exc:
            raise ChatTimeout(
                f"{self.model} timed out after {self.retries + 1} attempt(s) of {timeout_s:g} s"
            ) from exc
        except openai.APIStatusError as exc:
            raise TransientError(f"HTTP {exc.status_code} from the LLM endpoint") from exc
        except openai.APIConnectionError as exc:
            raise TransientError(f"cannot reach the LLM endpoint: {exc}") from exc
        except openai.APIError as exc:
            raise TransientError(f"LLM endpoint error: {exc}") from exc
        return _answer_object(message, self.json_mode)

    def _invoke(
        self, messages: list[BaseMessage], schema: dict[str, Any], timeout_s: float
    ) -> AIMessage:
        client = self._client(timeout_s)
        runnable: Any
        if self.json_mode == "function_calling":
            tool = {
                "type": "function",
                "function": {
                    "name": TOOL_NAME,
                    "description": schema.get("description", "Submit the answer."),
                    "parameters": _parameters(schema),
                },
            }
            runnable = client.bind_tools([tool], tool_choice=TOOL_NAME)
        elif self.json_mode == "json_object":
            # llama.cpp extension: the schema next to json_object becomes a grammar.
            runnable = client.bind(
                response_format={"type": "json_object", "schema": _parameters(schema)}
            )
        else:
            runnable = client.bind(
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": TOOL_NAME, "schema": _parameters(schema)},
                }
            )
        try:
            result = runnable.invoke(messages)
        except (openai.APIError, TransientError):
            raise
        except Exception as exc:  # a response the SDK cannot read (not JSON, wrong shape)
            raise ValueError(f"unreadable response from the LLM endpoint: {exc!r}") from exc
        if not isinstance(result, AIMessage):
            raise ValueError(f"unexpected LLM result {type(result).__name__}")
        return result


def _parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without the keys that only describe it (title, description)."""
    return {k: v for k, v in schema.items() if k not in ("title", "description")}


def _answer_object(message: AIMessage, mode: JsonMode) -> dict[str, Any]:
    """The JSON object the model answered: the forced tool call's arguments, else the text."""
    if mode == "function_calling":
        for call in message.tool_calls:
            if call["name"] == TOOL_NAME:
                return dict(call["args"])
        for bad in message.invalid_tool_calls:
            raise ValueError(f"tool call arguments are not a JSON object: {bad.get('args')!r}")
    content = message.content if isinstance(message.content, str) else ""
    if not content.strip():
        raise ValueError("the model answered neither a tool call nor JSON text")
    try:
        value = json.loads(_strip_fence(content))
    except json.JSONDecodeError as exc:
        raise ValueError(f"answer is not JSON: {content[:200]!r}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"answer is JSON but not an object: {type(value).__name__}")
    return value


def _strip_fence(text: str) -> str:
    """Tolerate a ```json fence around the object."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text
