"""What every HTTP request passes before a route, as one plain ASGI middleware (Starlette's BaseHTTPMiddleware
would hide a client's disconnect from the routes, and answering must stop when the client leaves):

- Gradio's own upload route (the app's file box) needs the admin cookie that `/api/admin/session` gives;
- changes to the document library need the admin token, and an upload's size is checked before it is read;
- a JSON body is bounded and checked (NaN, Infinity, unpaired surrogates) before FastAPI parses it, so each of
  those is a clear 4xx, never a 500;
- answering requests beyond `queue_limit` at once are turned away with 429 and Retry-After instead of queueing
  without bound (counted until their response, streamed or not, has been sent).
"""

import json
from http.cookies import CookieError, SimpleCookie

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.errors import Forbidden
from assistant.service.service import Service

ADMIN_COOKIE = "policy_qa_admin"
# The most files one upload request may carry; with POLICY_QA_MAX_UPLOAD_MB it bounds the request body.
MAX_FILES = 20
# A JSON request body larger than this is refused before it is read.
MAX_JSON_BYTES = 1_000_000
HEAVY_ROUTES = {"/api/ask", "/api/ask/stream", "/api/search", "/api/match", "/v1/chat/completions"}
RETRY_AFTER = 2  # seconds


class _NotJSONNumber(ValueError):
    pass


def _reject_constant(name: str):
    raise _NotJSONNumber(f"{name} is not a JSON number; send a finite number")


def json_problem(body: bytes) -> str:
    """What makes a JSON body unusable that FastAPI would not report as a 4xx: NaN or Infinity, and unpaired
    surrogates (\\ud800), which no UTF-8 text can hold. "" when there is none (malformed JSON is FastAPI's 422)."""
    try:
        parsed = json.loads(body, parse_constant=_reject_constant)
    except _NotJSONNumber as error:
        return str(error)
    except RecursionError:
        return "the JSON is nested too deeply"
    except ValueError:
        return ""
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "the body holds an unpaired surrogate (such as \\ud800); send valid Unicode text"
    return ""


class RequestGuard:
    def __init__(self, app: ASGIApp, service: Service):
        self.app = app
        self.service = service
        self.in_flight = 0  # answering requests being worked on (the event loop is one thread: no lock needed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        headers = header_map(scope)
        refusal = self.refusal(path, method, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if method == "POST" and path.startswith("/api/") and not path.startswith("/api/documents"):
            body, receive = await read_body(receive)
            if len(body) > MAX_JSON_BYTES:  # sent in chunks without a length
                await too_large()(scope, receive, send)
                return
            if problem := json_problem(body):
                await JSONResponse({"error": f"invalid request: {problem}"}, status_code=422)(scope, receive, send)
                return
        if method != "POST" or path not in HEAVY_ROUTES:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.service.settings.queue_limit:
            message = f"the assistant is answering {self.in_flight} questions; try again in a few seconds"
            await JSONResponse({"error": message}, status_code=429, headers={"Retry-After": str(RETRY_AFTER)})(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def refusal(self, path: str, method: str, headers: dict[str, str]) -> JSONResponse | None:
        """The response that refuses a request from its line and headers alone, or None to let it through."""
        if method == "POST" and path.rstrip("/").endswith("/upload") and not path.startswith(("/api/", "/v1/")):
            try:
                self.service.check_admin_session(admin_cookie(headers.get("cookie", "")))
            except Forbidden as error:
                return JSONResponse({"error": str(error)}, status_code=403)
        length = declared_length(headers) or 0
        if path.startswith("/api/documents") and method in ("POST", "DELETE"):
            try:
                self.service.check_admin(headers.get("x-admin-token"))
            except Forbidden as error:
                return JSONResponse({"error": str(error)}, status_code=403)
            limit = self.service.settings.max_upload_mb * 1_000_000 * MAX_FILES + 1_000_000
            if length > limit:
                return JSONResponse({"error": f"the upload is over {limit / 1_000_000:g} MB; send fewer or smaller files"}, status_code=413)
        elif method == "POST" and path.startswith("/api/") and length > MAX_JSON_BYTES:
            return JSONResponse(
                {"error": f"the request body is over {MAX_JSON_BYTES // 1_000_000} MB; send a shorter one"}, status_code=413
            )
        return None


def header_map(scope: Scope) -> dict[str, str]:
    """A request's headers by lower-case name (HTTP headers are bytes; Latin-1 keeps each byte as it came)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def declared_length(headers: dict[str, str]) -> int | None:
    """The body length the request declares, or None when it declares none (or nonsense)."""
    length = headers.get("content-length", "")
    return int(length) if length.isascii() and length.isdigit() else None


def too_large() -> JSONResponse:
    return JSONResponse({"error": f"the request body is over {MAX_JSON_BYTES // 1_000_000} MB; send a shorter one"}, status_code=413)


def admin_cookie(header: str) -> str | None:
    """The admin cookie's value; a malformed Cookie header counts as none."""
    try:
        cookie = SimpleCookie(header)
    except CookieError:
        return None
    return cookie[ADMIN_COOKIE].value if ADMIN_COOKIE in cookie else None


async def read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body (at most MAX_JSON_BYTES and a chunk, however it is sent), and a `receive` that hands it to
    the route again and then passes on what the client sends next (its disconnect, above all)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if not message.get("more_body") or size > MAX_JSON_BYTES:
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
