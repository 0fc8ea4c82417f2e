"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol, with scripted replies.

Each request takes the next step of the script (the last step repeats): a reply (plain JSON, or
server-sent events when the request asks for `stream: true`), an HTTP error status, a reply that comes
too late, or a stream that breaks off with malformed data. A reply may be a function of the request,
so a scripted "model" can read the passages it was given and cite the right one.
"""

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ReplyText = str | Callable[[dict], str]


@dataclass
class Reply:
    text: ReplyText
    delay: float = 0.0  # seconds before the response starts
    pace: float = 0.0  # seconds between streamed pieces


@dataclass
class Status:
    code: int
    message: str = "scripted failure"


@dataclass
class Malformed:
    """Streams `good` in pieces, then a data line that is not JSON, then closes."""

    good: str = "根据政策"


Step = Reply | Status | Malformed


def passage_number(request: dict, needle: str) -> int:
    """The number the prompt gave the passage that contains `needle`: what a faithful model would cite."""
    prompt = request["messages"][-1]["content"]
    for block in re.split(r"\n\n(?=\[\d+\] )", prompt):
        match = re.match(r"(?:<条款>\n)?\[(\d+)\] ", block)
        if match and needle in block:
            return int(match.group(1))
    raise AssertionError(f"no passage with {needle!r} was given")


class LocalServer:
    """An HTTP server on a free port of 127.0.0.1, in a thread, serving the handler class `_handler()` returns."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeChatServer(LocalServer):
    def __init__(self) -> None:
        self.steps: list[Step] = [Reply("好的。")]
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.completed: list[bool] = []  # per streamed reply: sent to the end, or cut off by the client
        super().__init__()

    def script(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests.clear()
        self.headers.clear()
        self.completed.clear()

    def _next_step(self) -> Step:
        return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the response ends when the connection closes: simplest for streams

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                step = server._next_step()
                try:
                    self.respond(step, body)
                except (BrokenPipeError, ConnectionResetError):
                    server.completed.append(False)  # the client gave up (timeout, or its own client left)

            def respond(self, step: Step, body: dict) -> None:
                if isinstance(step, Status):
                    error = {"error": {"message": step.message, "type": "scripted", "code": step.code}}
                    self.send_json(step.code, error, {"retry-after-ms": "10"})
                    return
                if isinstance(step, Malformed):
                    self.start_stream()
                    self.send_event(chunk(body, step.good))
                    self.wfile.write(b'data: {"choices": [{"delta": {"content": "broken\n\n')
                    return
                time.sleep(step.delay)
                text = step.text(body) if callable(step.text) else step.text
                if not body.get("stream"):
                    self.send_json(200, completion(body, text))
                    return
                self.start_stream()
                for start in range(0, len(text), 4):
                    time.sleep(step.pace)
                    self.send_event(chunk(body, text[start : start + 4]))
                self.send_event(chunk(body, "", finish="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                server.completed.append(True)

            def send_json(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def start_stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()

            def send_event(self, payload: dict) -> None:
                self.wfile.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()

        return Handler


def completion(request: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chunk(request: dict, text: str, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}],
    }
