"""A real OpenAI-compatible HTTP server with scripted answers, for the LLM failure paths.

It speaks `/v1/chat/completions` over real HTTP (stdlib `http.server` in a thread), so the
adapter, LangChain and the openai SDK run unchanged; only the model is scripted. Every request
body is recorded. Each request takes the next `Step` of the script; the last step repeats.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Step:
    """One scripted answer.

    `answer` is what the model "says": a dict is sent as JSON, a str as is (may be broken
    JSON). It goes into the forced tool call's arguments when the request carries tools,
    else into the message content. `respond`, when set, computes the answer from the request
    body instead (a model that reads the prompt, e.g. to cite a chunk id that only the real
    KB ingestion knows). `status` other than 200 sends an error body instead; `raw` replaces
    the whole HTTP body; `delay_s` sleeps first.
    """

    answer: dict[str, Any] | str | None = None
    status: int = 200
    delay_s: float = 0.0
    raw: bytes | None = None
    respond: Callable[[dict[str, Any]], dict[str, Any] | str] | None = None


class ScriptedLLMServer:
    """Start with `with ScriptedLLMServer() as server:`; `server.base_url` ends in /v1."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: list[Step] = [Step(answer={})]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *steps: Step) -> None:
        """Answer the next requests with these steps (the last one repeats); clear the log."""
        with self._lock:
            self._script = list(steps)
            self.requests.clear()

    def _next(self, body: dict[str, Any]) -> Step:
        with self._lock:
            self.requests.append(body)
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    def __enter__(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                step = server._next(body)
                if step.delay_s and server._stopping.wait(step.delay_s):
                    return
                if step.raw is not None:
                    self._send(step.status, step.raw)
                elif step.status != 200:
                    error = {"error": {"message": "scripted failure", "type": "server_error"}}
                    self._send(step.status, json.dumps(error).encode())
                else:
                    answer = step.respond(body) if step.respond is not None else step.answer
                    self._send(200, json.dumps(_completion(body, answer)).encode())

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

        return Handler


def _completion(request: dict[str, Any], answer: dict[str, Any] | str | None) -> dict[str, Any]:
    text = answer if isinstance(answer, str) or answer is None else json.dumps(answer)
    message: dict[str, Any] = {"role": "assistant", "content": text}
    finish = "stop"
    tools = request.get("tools") or []
    if tools and text is not None:
        name = tools[0]["function"]["name"]
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": text},
                }
            ],
        }
        finish = "tool_calls"
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
