"""The OpenAI-compatible face under /v1: `POST /v1/chat/completions` and `GET /v1/models`, so that the `openai`
client, LangChain's `ChatOpenAI` and chat front ends (Open WebUI, LobeChat, Chatbox, Dify) use the assistant
as if it were a model.

The last user message is the question and the earlier user and assistant turns are the conversation; system
messages are ignored, because what the assistant may say is set by its own instructions, not the caller's.
The answer text carries the `[n]` markers and a 来源 list; the structured citations (the objects of
`/api/ask`) travel in the extension field `citations`, on the message and on the final stream chunk, beside
`policy_qa` (answer id, mode, refused, notice). Errors have OpenAI's shape: `{"error": {"message", "type",
"code"}}`. `usage` counts characters: the assistant does not know the caller's tokenizer.
"""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from assistant.errors import PolicyQAError, RateLimited
from assistant.service.service import MAX_QUESTION_CHARS, AskResponse, Citation, Message, Review, Service, ServiceEvent

log = logging.getLogger(__name__)

MODELS = {"policy-qa": "auto", "policy-qa-extractive": "extractive"}
# Bounds on one request: the messages kept are the last MAX_HISTORY (the service trims further).
MAX_MESSAGES = 200
MAX_MESSAGE_CHARS = 20_000
WITHDRAWN = "\n\n（以上生成的回答未能完成，已撤回；以下是依据条款摘录的回答。）\n\n"
CHECKED = "\n\n（核对引用后的回答：）\n"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}

ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 503: "service_unavailable"}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str = Field("", max_length=MAX_MESSAGE_CHARS)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = Field(None, max_length=MAX_MESSAGE_CHARS)

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's request body; sampling fields such as temperature are accepted and have no effect."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None


class OpenAIError(PolicyQAError):
    """A request the protocol itself rules out (no user message, an unknown model)."""

    def __init__(self, message: str, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


def create_openai_api(service: Service) -> FastAPI:
    def admit(request: Request) -> None:
        """Every /v1 route: the key and the rate limit are checked before the body is even read."""
        caller = service.admit_integrator(request.headers.get("authorization"), request.client.host if request.client else "?")
        log.info("/v1 %s from %s", request.url.path, caller)

    v1 = FastAPI(title="广圆享 OpenAI-compatible API", docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(admit)])
    origins = [o.strip() for o in service.settings.api_cors_origins.split(",") if o.strip()]
    if origins:
        # Bearer keys, not cookies: a page of another origin may call /v1 without being given credentials.
        v1.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"], allow_headers=["*"])
    add_openai_error_handlers(v1)

    @v1.get("/models")
    def models() -> dict:
        return {"object": "list", "data": [model_card(name) for name in MODELS]}

    @v1.post("/chat/completions")
    def chat_completions(body: ChatRequest):
        mode = MODELS.get(body.model)
        if mode is None:
            raise OpenAIError(f"the model '{body.model}' does not exist; use one of {', '.join(MODELS)}", 404, "model_not_found")
        question, history = conversation(body.messages)
        completion = Completion(body.model, question, history)
        # A bad question raises here, with its status, before a stream starts.
        events = service.stream(question, history, mode)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(completion.chunks(events, include_usage), media_type="text/event-stream")
        return completion.whole(events)

    return v1


def model_card(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "guangyuanxiang"}


def conversation(messages: list[ChatMessage]) -> tuple[str, list[Message]]:
    """The question (the last message, which must be the user's) and the user and assistant turns before it."""
    last = messages[-1]
    if last.role != "user" or not last.text.strip():
        raise OpenAIError("the last message must be the user's question, with text", 400, "invalid_messages")
    if len(last.text) > MAX_QUESTION_CHARS:
        raise OpenAIError(f"the question has {len(last.text)} characters; ask in at most {MAX_QUESTION_CHARS}", 400, "question_too_long")
    history = [Message(role=m.role, content=m.text) for m in messages[:-1] if m.role in ("user", "assistant") and m.text.strip()]
    return last.text.strip(), history


def sources_text(citations: list[Citation]) -> str:
    """The 来源 list under an answer: each `[n]` with its document, 文号, section, page and quote."""
    if not citations:
        return ""
    lines = ["", "", "来源："]
    for c in citations:
        where = "  ".join(part for part in (c.doc_number, c.section, f"第{c.page}页" if c.page else "") if part)
        lines.append(f"[{c.n}] 《{c.doc_title}》" + (f"  {where}" if where else ""))
        lines.append(f"    “{c.quote}”")
    return "\n".join(lines)


def verified_text(review: Review | None) -> str:
    if review is None:
        return ""
    return f"✅ 经政策解读员核对的回答（{review.created[:10]}）：\n{review.answer}\n\n本次检索生成的回答：\n"


def extension(response: AskResponse) -> dict:
    """The fields beyond OpenAI's that an integrator can read: the citations, and what a verdict needs. `answer`
    is the checked answer without the 来源 list, for clients that show the citations themselves."""
    return {
        "citations": [c.model_dump() for c in response.citations],
        "policy_qa": {
            "answer": verified_text(response.verified_answer) + response.answer,
            "answer_id": response.answer_id,
            "mode": response.mode,
            "refused": response.refused,
            "notice": response.notice,
            "intent": response.intent,
        },
    }


class Completion:
    """One chat completion, whole or as chunks, in OpenAI's format."""

    def __init__(self, model: str, question: str, history: list[Message]):
        self.model = model
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.prompt_chars = len(question) + sum(len(m.content) for m in history)

    def usage(self, text: str) -> dict:
        return {"prompt_tokens": self.prompt_chars, "completion_tokens": len(text), "total_tokens": self.prompt_chars + len(text)}

    @staticmethod
    def tail(response: AskResponse) -> str:
        notice = f"\n\n注意：{response.notice}" if response.notice else ""
        return notice + sources_text(response.citations)

    def whole(self, events: Iterator[ServiceEvent]) -> dict:
        response = next(e.answer for e in events if e.answer is not None)
        text = verified_text(response.verified_answer) + response.answer + self.tail(response)
        message = {"role": "assistant", "content": text, **extension(response)}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": self.usage(text),
        }

    def chunk(self, delta: dict, finish_reason: str | None = None, **extra) -> str:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        return f"data: {json.dumps(body | extra, ensure_ascii=False)}\n\n"

    def chunks(self, events: Iterator[ServiceEvent], include_usage: bool) -> Iterator[str]:
        """Text as the service produces it. Text once sent cannot be withdrawn in this protocol, so when the
        checked answer is not what was streamed (the model failed midway, or checking renumbered or dropped a
        marker), it follows in full under a note; `policy_qa.answer` carries it for clients that replace text."""
        sent: list[str] = []
        answer: list[str] = []  # the answer's text since the last reset
        yield self.chunk({"role": "assistant", "content": ""})
        try:
            for event in events:
                if event.kind == "answer":
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
            response = event.answer
            rest = self.tail(response)
            if "".join(answer).strip() != response.answer.strip():
                rest = CHECKED + response.answer + rest
            yield self.chunk({"content": rest, **extension(response)}, "stop")
            if include_usage:
                yield f"data: {json.dumps(self.usage_chunk(self.usage(''.join(sent) + rest)), ensure_ascii=False)}\n\n"
        except PolicyQAError as error:  # the status line has gone out: the error travels as a chunk
            yield f"data: {json.dumps(error_body(str(error), error.status), ensure_ascii=False)}\n\n"
        except Exception as error:  # noqa: BLE001
            log.exception("unexpected error while streaming a chat completion")
            yield f"data: {json.dumps(error_body(f'internal error ({type(error).__name__}); see the server log', 500))}\n\n"
        yield "data: [DONE]\n\n"

    def usage_chunk(self, usage: dict) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }


def error_body(message: str, status: int, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "param": param, "code": code}}


def add_openai_error_handlers(v1: FastAPI) -> None:
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"invalid request: {where}: {first.get('msg', 'malformed body')}" if where else "invalid request: malformed JSON body"
        return JSONResponse(error_body(message, 400, "invalid_request", where or None), status_code=400)

    async def known(request: Request, exc: PolicyQAError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        code = getattr(exc, "code", None) or ERROR_CODES.get(exc.status)
        return JSONResponse(error_body(str(exc), exc.status, code), status_code=exc.status, headers=headers)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
        return JSONResponse(error_body(message, exc.status_code), status_code=exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(error_body(f"internal error ({type(exc).__name__}); see the server log", 500), status_code=500)

    v1.add_exception_handler(RequestValidationError, invalid)
    v1.add_exception_handler(PolicyQAError, known)
    v1.add_exception_handler(HTTPException, http_error)
    v1.add_exception_handler(Exception, unexpected)
