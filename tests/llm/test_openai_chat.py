"""The ChatOpenAI adapter over real HTTP against the scripted OpenAI-compatible server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from adapters.llm.openai_chat import ChatTimeout, OpenAIChatModel
from core.config import Settings
from core.errors import TransientError
from tests.llm.scripted_server import ScriptedLLMServer, Step

SCHEMA = {
    "title": "answer",
    "description": "Submit the answer.",
    "type": "object",
    "properties": {"reply": {"type": "string"}},
    "required": ["reply"],
}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as s:
        yield s


def model(server: ScriptedLLMServer, **kwargs: object) -> OpenAIChatModel:
    return OpenAIChatModel(
        server.base_url,
        "scripted",
        max_tokens=64,
        backoff_s=0.01,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("mode", ["function_calling", "json_object", "json_schema"])
def test_each_json_mode_sends_its_request_and_reads_the_object(
    server: ScriptedLLMServer, mode: str
) -> None:
    server.script(Step(answer={"reply": "hello"}))
    assert model(server, json_mode=mode).complete_json("sys", "user", SCHEMA, 5) == {
        "reply": "hello"
    }
    (body,) = server.requests
    assert body["model"] == "scripted" and body["temperature"] == 0
    assert body["max_tokens"] == 64  # llama.cpp ignores max_completion_tokens
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    params = {"type": "object", "properties": SCHEMA["properties"], "required": ["reply"]}
    if mode == "function_calling":
        assert body["tool_choice"] == {"type": "function", "function": {"name": "submit_answer"}}
        assert body["tools"][0]["function"]["parameters"] == params
    elif mode == "json_object":
        assert body["response_format"] == {"type": "json_object", "schema": params}
    else:
        assert body["response_format"]["json_schema"]["schema"] == params


def test_server_errors_are_retried_then_raised(server: ScriptedLLMServer) -> None:
    server.script(Step(status=500), Step(status=503), Step(answer={"reply": "third time"}))
    assert model(server, retries=2).complete_json("s", "u", SCHEMA, 5) == {"reply": "third time"}
    assert len(server.requests) == 3

    server.script(Step(status=500))
    with pytest.raises(TransientError, match="HTTP 500"):
        model(server, retries=1).complete_json("s", "u", SCHEMA, 5)
    assert len(server.requests) == 2


def test_client_errors_are_not_retried(server: ScriptedLLMServer) -> None:
    server.script(Step(status=401))
    with pytest.raises(TransientError, match="HTTP 401"):
        model(server, retries=3).complete_json("s", "u", SCHEMA, 5)
    assert len(server.requests) == 1


def test_timeouts_are_retried_then_raised_as_a_timeout(server: ScriptedLLMServer) -> None:
    server.script(Step(answer={"reply": "late"}, delay_s=3))
    started = time.monotonic()
    with pytest.raises(ChatTimeout) as caught:
        model(server, retries=1).complete_json("s", "u", SCHEMA, 0.3)
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, TransientError)
    assert len(server.requests) == 2
    assert time.monotonic() - started < 2.5


def test_an_unreachable_endpoint_is_transient() -> None:
    chat = OpenAIChatModel("http://127.0.0.1:9/v1", "x", retries=1, backoff_s=0.01)
    with pytest.raises(TransientError, match="cannot reach"):
        chat.complete_json("s", "u", SCHEMA, 1)


@pytest.mark.parametrize(
    "step",
    [
        Step(answer="{not json"),
        Step(answer="[1, 2]"),
        Step(answer=None),
        Step(raw=b"<html>gateway</html>"),
    ],
    ids=["broken-arguments", "array", "empty", "html-body"],
)
def test_malformed_answers_are_value_errors(server: ScriptedLLMServer, step: Step) -> None:
    server.script(step)
    with pytest.raises(ValueError):
        model(server).complete_json("s", "u", SCHEMA, 5)


@pytest.mark.parametrize("mode", ["json_object", "json_schema"])
def test_json_text_answers_must_be_objects(server: ScriptedLLMServer, mode: str) -> None:
    server.script(Step(answer='"just a string"'))
    with pytest.raises(ValueError, match="not an object"):
        model(server, json_mode=mode).complete_json("s", "u", SCHEMA, 5)
    server.script(Step(answer='```json\n{"reply": "fenced"}\n```'))
    assert model(server, json_mode=mode).complete_json("s", "u", SCHEMA, 5) == {"reply": "fenced"}


def test_built_from_settings() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        llm_base_url="http://127.0.0.1:1/v1",
        llm_model="m",
        llm_api_key="k",
        llm_retries=4,
        llm_max_tokens=99,
        llm_json_mode="json_object",
    )
    chat = OpenAIChatModel.from_settings(settings)
    assert (chat.model_name, chat.api_key, chat.retries, chat.max_tokens, chat.json_mode) == (
        "m",
        "k",
        4,
        99,
        "json_object",
    )
    with pytest.raises(ValueError):
        OpenAIChatModel.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
