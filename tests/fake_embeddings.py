"""A real HTTP server on 127.0.0.1 that speaks the OpenAI embeddings protocol (`POST /v1/embeddings`), with
deterministic vectors: each text's character bigrams hashed into `dimensions` buckets, normalised. Texts that
share words get similar vectors, so search over them behaves like search. Requests can be scripted to fail:
an HTTP status (429, 500, 404 for an unknown model), a delay (a timeout), or vectors of the wrong size.
"""

import hashlib
import json
import math
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from fake_llm import LocalServer


@dataclass
class Fail:
    code: int
    message: str = "scripted failure"


@dataclass
class Slow:
    seconds: float


@dataclass
class WrongSize:
    dimensions: int


def vector(text: str, dimensions: int) -> list[float]:
    buckets = [0.0] * dimensions
    for i in range(max(len(text) - 1, 1)):
        digest = hashlib.md5(text[i : i + 2].encode()).digest()
        buckets[int.from_bytes(digest[:4], "little") % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in buckets)) or 1.0
    return [v / norm for v in buckets]


class FakeEmbeddingsServer(LocalServer):
    def __init__(self, dimensions: int = 64, model: str = "fake-embed") -> None:
        self.dimensions = dimensions
        self.model = model
        self.steps: list = []  # taken one per request, then every request succeeds
        self.requests: list[dict] = []
        super().__init__()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                step = server.steps.pop(0) if server.steps else None
                if isinstance(step, Slow):
                    time.sleep(step.seconds)
                if isinstance(step, Fail):
                    self.send(step.code, {"error": {"message": step.message, "type": "scripted", "code": step.code}})
                    return
                if body.get("model") != server.model:
                    self.send(404, {"error": {"message": f"model {body.get('model')} not found", "type": "invalid_request_error"}})
                    return
                size = step.dimensions if isinstance(step, WrongSize) else body.get("dimensions") or server.dimensions
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"object": "embedding", "index": n, "embedding": vector(t, size)} for n, t in enumerate(texts)]
                self.send(200, {"object": "list", "data": data, "model": server.model, "usage": {"prompt_tokens": 1, "total_tokens": 1}})

            def send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

        return Handler
