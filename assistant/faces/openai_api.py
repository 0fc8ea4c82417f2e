"""The OpenAI-compatible face under /v1: `POST /v1/chat/completions` and `GET /v1/models`, so that the `openai`
client, LangChain's `ChatOpenAI` and chat front ends (Open WebUI, LobeChat, Chatbox, Dify) use the assistant
as if it were a model.

The last user message is the question and the earlier user and assistant turns are the conversation; system
messages are ignored, because what the assistant may say is set by its own instructions, not the caller's.
The answer text carries the `[n]` markers and a 来源 list; the structured citations (the objects of
`/api/ask`) travel in the extension field `citations`, on the message and on the final stream chunk, beside
`policy_qa` (the checked answer, its id, mode, refused, notice). Errors have OpenAI's shape:
`{"error": {"message", "type", "param", "code"}}`. `usage` counts characters: the assistant does not know the
caller's tokenizer.
"""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.errors import PolicyQAError, RateLimited
from assistant.faces.guard import declared_length, header_map
from assistant.faces.worker import Worker
from assistant.service.plain_text import sources_text, verified_text
from assistant.service.service import MAX_HISTORY, AskResponse, Message, Service, ServiceEvent

log = logging.getLogger(__name__)

MODELS = {"policy-qa": "auto", "policy-qa-extractive": "extractive"}
# Bounds on one request, checked before its body is parsed (size) or as it is (messages, parts, characters).
MAX_BODY_BYTES = 2_000_000
MAX_MESSAGES = 200
MAX_PARTS = 50
MAX_MESSAGE_CHARS = 20_000
WITHDRAWN = "\n\n（以上生成的回答未能完成，已撤回；以下是依据条款摘录的回答。）\n\n"
CHECKED = "\n\n（核对引用后的回答：）\n"
ERROR_CODES = {401: "invalid_api_key", 413: "request_too_large", 429: "rate_limit_exceeded", 503: "service_unavailable"}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # proxies such as nginx must not buffer it


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = Field(None, max_length=MAX_MESSAGE_CHARS)

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""

    @model_validator(mode="after")
    def bounded(self) -> "ChatMessage":
        if isinstance(self.content, list) and len(self.content) > MAX_PARTS:
            raise ValueError(f"at most {MAX_PARTS} content parts in a message")
        if len(self.text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"at most {MAX_MESSAGE_CHARS} characters in a message")
        return self


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's request body. Sampling fields (temperature, max_tokens, …) are accepted and have no effect; the
    ones that would change the shape of the answer the caller expects are refused (see `unsupported`)."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1

    def unsupported(self) -> str | None:
        extra = self.model_extra or {}
        if self.n != 1:
            return "n: the assistant gives one answer per question; send n=1"
        if extra.get("tools") or extra.get("functions"):
            return "tools: the assistant answers from policy clauses and calls no tools; leave tools out"
        response_format = extra.get("response_format") or {}
        if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
            return "response_format: the assistant answers in text with a 来源 list; leave response_format out"
        return None


class IntegratorGate:
    """Every /v1 request: the size, the key and the rate limit are checked before the body is read. Listing the
    models (which front ends poll) needs a key but does not count against its limit. Plain ASGI, as the request
    guard is, so that a route still sees its client leave."""

    def __init__(self, app: ASGIApp, service: Service):
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        await (refusal or self.app)(scope, receive, send)

    def refusal(self, scope: Scope) -> JSONResponse | None:
        headers = header_map(scope)
        length = declared_length(headers)
        if scope["method"] == "POST" and length is None:
            # A body of undeclared length (chunked) could be of any size.
            return error_response("send the body with a Content-Length header", 411, "length_required")
        if length is not None and length > MAX_BODY_BYTES:
            return error_response(f"the request is over {MAX_BODY_BYTES // 1_000_000} MB; send a shorter conversation", 413)
        client = scope["client"][0] if scope.get("client") else "?"
        try:
            caller = self.service.admit_integrator(headers.get("authorization"), client, count=not scope["path"].endswith("/models"))
        except PolicyQAError as error:
            return known_error_response(error)
        log.info("%s from %s", scope["path"], caller)
        return None


class OpenAIError(PolicyQAError):
    """A request the protocol itself rules out (no user message, an unknown model, an unsupported parameter)."""

    def __init__(self, message: str, status: int = 400, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


def create_openai_api(service: Service, work: Worker) -> FastAPI:
    v1 = FastAPI(title="广圆享 OpenAI-compatible API", docs_url=None, redoc_url=None, openapi_url=None)
    add_openai_error_handlers(v1)

    v1.add_middleware(IntegratorGate, service=service)

    origins = [o.strip() for o in service.settings.api_cors_origins.split(",") if o.strip()]
    if origins:
        # Added last, so outermost: refusals and errors carry the CORS headers too, and a browser shows them.
        # Bearer keys, not cookies: a page of another origin may call /v1 without being given credentials.
        v1.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"])

    @v1.get("/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "guangyuanxiang"} for name in MODELS]}

    @v1.post("/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        mode = MODELS.get(body.model)
        if mode is None:
            raise OpenAIError(f"the model '{body.model}' does not exist; use one of {', '.join(MODELS)}", 404, "model_not_found", "model")
        if problem := body.unsupported():
            raise OpenAIError(problem, 400, "unsupported_parameter", problem.split(":")[0])
        question, history = conversation(body.messages)
        completion = Completion(body.model, question, history)
        # A bad question (too long, no index) raises here, with its status, before a stream starts.
        events = await work(service.stream, question, history, mode)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            chunks = work.iterate(completion.chunks(events, include_usage), events)
            return StreamingResponse(chunks, media_type="text/event-stream", headers=STREAM_HEADERS)
        answer = await work.answer(events, request)
        return completion.whole(answer) if answer is not None else error_response("the client closed the connection", 499)

    return v1


def conversation(messages: list[ChatMessage]) -> tuple[str, list[Message]]:
    """The question (the last message, which must be the user's) and the user and assistant turns before it
    (the last MAX_HISTORY of them: the service reads no more)."""
    last = messages[-1]
    if last.role != "user" or not last.text.strip():
        raise OpenAIError("the last message must be the user's question, with text", 400, "invalid_messages", "messages")
    turns = [Message(role=m.role, content=m.text) for m in messages[:-1] if m.role in ("user", "assistant") and m.text.strip()]
    return last.text.strip(), turns[-MAX_HISTORY:]


def answer_text(response: AskResponse) -> str:
    """The checked answer as a reader sees it: the verified answer first (with its own sources), then this one."""
    return verified_text(response.verified_answer) + response.answer


def extension(response: AskResponse) -> dict:
    """The fields beyond OpenAI's that an integrator can read: the citations, and what a verdict needs. `answer`
    is the checked answer without the 来源 list, for clients that show the citations themselves."""
    verified = response.verified_answer
    return {
        "citations": [c.model_dump() for c in response.citations],
        "policy_qa": {
            "answer": answer_text(response),
            "answer_id": response.answer_id,
            "mode": response.mode,
            "refused": response.refused,
            "notice": response.notice,
            "intent": response.intent,
            "verified_citations": verified.citations if verified else [],
        },
    }


def data(payload: dict | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)}\n\n"


class Completion:
    """One chat completion, whole or as chunks, in OpenAI's format."""

    def __init__(self, model: str, question: str, history: list[Message]):
        self.model = model
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.prompt_chars = len(question) + sum(len(m.content) for m in history)

    def envelope(self, kind: str, choices: list[dict]) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model, "choices": choices}

    def usage(self, text: str) -> dict:
        return {"prompt_tokens": self.prompt_chars, "completion_tokens": len(text), "total_tokens": self.prompt_chars + len(text)}

    @staticmethod
    def tail(response: AskResponse) -> str:
        return sources_text([c.model_dump() for c in response.citations], response.notice)

    def whole(self, response: AskResponse) -> dict:
        text = answer_text(response) + self.tail(response)
        message = {"role": "assistant", "content": text, **extension(response)}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return self.envelope("chat.completion", [choice]) | {"usage": self.usage(text)}

    def chunk(self, delta: dict, finish_reason: str | None = None) -> str:
        return data(
            self.envelope("chat.completion.chunk", [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}])
        )

    def chunks(self, events: Iterator[ServiceEvent], include_usage: bool) -> Iterator[str]:
        """Text as the service produces it. Text once sent cannot be withdrawn in this protocol, so when the
        checked answer is not what was streamed (the model failed midway, or checking renumbered or dropped a
        marker), it follows in full under a note; `policy_qa.answer` carries it for clients that replace text.
        The 来源 list is the last text chunk; the chunk that finishes carries no text, only the extension fields."""
        sent: list[str] = []
        answer: list[str] = []  # the answer's text since the last reset
        yield self.chunk({"role": "assistant", "content": ""})
        try:
            for event in events:
                if event.kind == "answer":
                    response = event.answer
                    break
                if event.kind == "verified":
                    piece = verified_text(event.verified)
                elif event.kind == "reset":
                    piece, answer = WITHDRAWN, []
                else:
                    piece = event.text
                    answer.append(piece)
                sent.append(piece)
                yield self.chunk({"content": piece})
            else:
                raise AssertionError("the service's stream always ends with an answer")
            rest = self.tail(response)
            if "".join(answer).strip() != response.answer.strip():
                rest = CHECKED + response.answer + rest
            if rest:
                sent.append(rest)
                yield self.chunk({"content": rest})
            yield self.chunk(extension(response), "stop")
            if include_usage:
                yield data(self.envelope("chat.completion.chunk", []) | {"usage": self.usage("".join(sent))})
        except PolicyQAError as error:  # the status line has gone out: the error travels as an event
            yield data(error_body(str(error), error.status))
        except Exception as error:  # noqa: BLE001
            log.exception("unexpected error while streaming a chat completion")
            yield data(error_body(f"internal error ({type(error).__name__}); see the server log", 500))
        yield data("[DONE]")


def error_body(message: str, status: int, code: str | None = None, param: str | None = None) -> dict:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code or ERROR_CODES.get(status)}}


def error_response(
    message: str, status: int, code: str | None = None, param: str | None = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(error_body(message, status, code, param), status_code=status, headers=headers)


def known_error_response(error: PolicyQAError) -> JSONResponse:
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(str(error), error.status, getattr(error, "code", None), getattr(error, "param", None), headers)


def add_openai_error_handlers(v1: FastAPI) -> None:
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return error_response(f"the body is not valid JSON ({first.get('ctx', {}).get('error', 'malformed')})", 400, "invalid_json")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if not where:
            return error_response(
                "the body must be a JSON object with model and messages (Content-Type: application/json)", 400, "invalid_request"
            )
        return error_response(f"invalid request: {where}: {first.get('msg', 'invalid')}", 400, "invalid_request", where)

    async def known(request: Request, exc: PolicyQAError) -> JSONResponse:
        return known_error_response(exc)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
        return error_response(message, exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(f"internal error ({type(exc).__name__}); see the server log", 500)

    v1.add_exception_handler(RequestValidationError, invalid)
    v1.add_exception_handler(PolicyQAError, known)
    v1.add_exception_handler(HTTPException, http_error)
    v1.add_exception_handler(Exception, unexpected)
