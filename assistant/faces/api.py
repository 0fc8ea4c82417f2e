"""The JSON API under /api (and /healthz), on FastAPI; the Gradio app is mounted beside it by app.py.

Routes are plain `def`s, so FastAPI runs them in its thread pool: one slow answer does not block the others.
Every error is a JSON body `{"error": "..."}` with a 4xx status (or 503 without an index), never a traceback.
"""

import itertools
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, File, Header, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field, StringConstraints

from assistant.errors import PolicyQAError
from assistant.faces.guard import ADMIN_COOKIE, MAX_FILES, RequestGuard
from assistant.faces.openai_api import create_openai_api
from assistant.faces.widget import add_widget_routes
from assistant.faces.worker import Worker
from assistant.service.service import (
    SEARCH_MODES,
    Amendment,
    AmendmentFields,
    Approval,
    AskResponse,
    Citation,
    DocumentRecord,
    FileResult,
    LibraryError,
    MatchResult,
    Message,
    Mode,
    Profile,
    Review,
    SearchFilters,
    Service,
    ServiceEvent,
    Upload,
    Verdict,
    amendments_csv,
    to_csv,
)
from assistant.vocabulary import OCR_NOTE

log = logging.getLogger(__name__)

DATE = r"^\d{4}-\d{2}-\d{2}$"
MAX_DOC_IDS = 200
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Turn(BaseModel):
    """One earlier turn of the conversation (the service reads at most the last 40, each cut to 2,000 characters)."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    question: Question
    history: list[Turn] = Field(default_factory=list, max_length=40)
    mode: Mode = "auto"

    def turns(self) -> list[Message]:
        return [Message(role=t.role, content=t.content) for t in self.history]


class SearchRequest(BaseModel):
    question: Question
    k: int = Field(5, ge=1, le=50)
    mode: Literal[SEARCH_MODES] = "hybrid"  # type: ignore[valid-type]
    doc_ids: list[Annotated[str, StringConstraints(max_length=1000)]] | None = Field(None, max_length=MAX_DOC_IDS)
    level: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)


class AnsweredQuestion(BaseModel):
    """The answer as `POST /api/ask` gave it; `answer_id` proves that this server gave it."""

    model_config = {"extra": "allow"}
    question: Question
    answer: str
    mode: str = ""
    citations: list[Citation] = []
    answer_id: str


class FeedbackRequest(BaseModel):
    answer: AnsweredQuestion
    verdict: Verdict
    correction: str = Field("", max_length=5000)
    comment: str = Field("", max_length=5000)


class AmendmentRequest(AmendmentFields):
    """What an interpreter records; who and when are added by the server. The date must be a date."""

    effective: str = Field("", pattern=r"^(\d{4}-\d{2}-\d{2})?$")


class AdminSessionRequest(BaseModel):
    token: str = Field(max_length=1000)


class MatchRequest(BaseModel):
    profile: Profile
    limit: int | None = Field(10, ge=1, le=1000, description="items to return; `total` always counts them all")
    offset: int = Field(0, ge=0, le=100_000, description="items to skip: the next page starts at offset + limit")


class UploadResponse(BaseModel):
    files: list[dict]
    build_id: str | None
    chunks: int


class SourceChunk(BaseModel):
    chunk_id: str
    text: str


class SourceResponse(BaseModel):
    doc_title: str
    doc_number: str
    authority: str
    date: str
    section: str
    page: int | None
    note: str = ""  # "OCR识别，请核对原件" when the section's text was read by OCR from a scan
    quote: str
    chunks: list[SourceChunk]
    highlight_chunk: str
    highlight_at: int


def create_api(service: Service) -> FastAPI:
    api = FastAPI(title="广圆享 政策问答 API", description="惠企政策智能问答：回答、检索、文档库与解读审核。")
    add_error_handlers(api)
    work = Worker(service.settings.concurrency_limit)
    # Mounted and routed before the Gradio app takes "/": the OpenAI-compatible routes and the widget.
    api.mount("/v1", create_openai_api(service, work))
    add_widget_routes(api)
    api.add_middleware(RequestGuard, service=service)

    @api.get("/healthz")
    async def healthz() -> dict:
        """Answered on the event loop, never behind the answers in the thread pool."""
        health = service.health()
        body = {"status": health.status, "documents": health.documents, "chunks": health.chunks, "llm": health.llm}
        return body | ({"problem": health.problem} if health.problem else {})

    @api.post("/api/ask", response_model=AskResponse)
    async def ask(request: AskRequest, http: Request) -> AskResponse:
        """Worked step by step in the thread pool; when the client has gone, the work stops after the current step
        (a language model's answer is cut off between tokens)."""
        events = await work(service.stream, request.question, request.turns(), request.mode)
        answer = await work.answer(events, http)
        return answer if answer is not None else JSONResponse({"error": "the client closed the connection"}, status_code=499)

    @api.post("/api/ask/stream", response_class=StreamingResponse)
    async def ask_stream(request: AskRequest) -> StreamingResponse:
        """Server-sent events: `verified` (an interpreter-checked answer, if any), `token` … (`reset`), then `answer`."""
        # Errors such as LLM mode without a model, or no index, are raised here with their status, before streaming
        # starts: the first event comes only after retrieval. A later failure becomes an `error` event.
        events = await work(service.stream, request.question, request.turns(), request.mode)
        first = await work(next, events)
        return StreamingResponse(work.iterate(sse(itertools.chain([first], events)), events), media_type="text/event-stream")

    @api.post("/api/search")
    async def search(request: SearchRequest) -> dict:
        filters = SearchFilters(doc_ids=request.doc_ids, level=request.level, region=request.region)
        hits = await work(service.search, request.question, request.k, request.mode, filters)
        return {"question": request.question, "results": [hit.as_json() for hit in hits]}

    @api.post("/api/source", response_model=SourceResponse)
    def source(citation: Citation) -> SourceResponse:
        """The whole section a citation quotes, in document order, with where the quote sits (for highlighting).
        Every field comes from the index, never from the request: a forged quote is not found (`highlight_at` -1)."""
        view = service.source(citation)
        chunk = next(c for c in view.chunks if c.chunk_id == view.highlight_chunk)
        at = view.highlight_at
        return SourceResponse(
            doc_title=chunk.doc_title,
            doc_number=chunk.doc_number,
            authority=chunk.authority,
            date=chunk.date,
            section=chunk.section,
            page=chunk.page,
            note=OCR_NOTE if chunk.source == "ocr" else "",
            quote=chunk.text[at : at + len(citation.quote)] if at >= 0 else "",
            chunks=[SourceChunk(chunk_id=c.chunk_id, text=c.text) for c in view.chunks],
            highlight_chunk=view.highlight_chunk,
            highlight_at=at,
        )

    @api.post("/api/match", response_model=MatchResult)
    async def match(request: MatchRequest) -> MatchResult:
        """The policy items that apply to an enterprise profile, ranked, with reasons and what to check."""
        return await work(service.match, request.profile, request.limit, request.offset)

    @api.get("/api/documents", response_model=list[DocumentRecord])
    def documents() -> list[DocumentRecord]:
        return service.documents()

    @api.post("/api/documents", response_model=UploadResponse)
    def upload(files: Annotated[list[UploadFile], File()], x_admin_token: Annotated[str | None, Header()] = None) -> UploadResponse:
        if len(files) > MAX_FILES:
            raise LibraryError(f"{len(files)} files in one upload; send at most {MAX_FILES} at a time")
        with tempfile.TemporaryDirectory() as folder:
            uploads = [save_upload(file, Path(folder) / str(n)) for n, file in enumerate(files)]
            results, report = service.upload(uploads, x_admin_token)
        return UploadResponse(
            files=[result_json(r) for r in results], build_id=report.build_id if report else None, chunks=report.chunks if report else 0
        )

    @api.post("/api/documents/{doc_id}/approve", response_model=Approval)
    def approve(doc_id: str, x_admin_token: Annotated[str | None, Header()] = None) -> Approval:
        """Let the passages of a document whose lines read as instructions be quoted (admin token)."""
        return service.approve(doc_id, x_admin_token)

    @api.delete("/api/documents/{doc_id}")
    def delete(doc_id: str, x_admin_token: Annotated[str | None, Header()] = None) -> dict:
        report = service.delete(doc_id, x_admin_token)
        return {"deleted": doc_id, "build_id": report.build_id, "chunks": report.chunks}

    @api.post("/api/admin/session")
    def admin_session(request: AdminSessionRequest) -> JSONResponse:
        """Trade the admin token for a cookie, so that the app's file box may upload (Gradio's upload route)."""
        response = JSONResponse({"ok": True})
        response.set_cookie(ADMIN_COOKIE, service.admin_session(request.token), httponly=True, samesite="strict")
        return response

    @api.get("/api/amendments", response_model=list[Amendment])
    def amendments() -> list[Amendment]:
        """Every note that a clause has changed: the shipped ones (corpus/amendments.yaml) and interpreters'."""
        return service.amendment_notes()

    @api.get("/api/amendments.csv", response_class=PlainTextResponse)
    def amendments_export(x_reviewer_token: Annotated[str | None, Header()] = None) -> PlainTextResponse:
        service.check_reviewer(x_reviewer_token)
        return PlainTextResponse(
            amendments_csv(service.amendment_notes()),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="amendments.csv"'},
        )

    @api.post("/api/amendments", response_model=Amendment)
    def add_amendment(request: AmendmentRequest, x_reviewer_token: Annotated[str | None, Header()] = None) -> Amendment:
        """An interpreter's note that a cited clause has changed (reviewer token); the next answer shows it."""
        return service.add_amendment(Amendment(**request.model_dump()), x_reviewer_token)

    @api.delete("/api/amendments/{note_id}")
    def remove_amendment(note_id: str, x_reviewer_token: Annotated[str | None, Header()] = None) -> dict:
        service.remove_amendment(note_id, x_reviewer_token)
        return {"removed": note_id}

    @api.post("/api/feedback", response_model=Review)
    def feedback(request: FeedbackRequest, x_reviewer_token: Annotated[str | None, Header()] = None) -> Review:
        answer = request.answer.model_dump(mode="json")
        return service.feedback(answer, request.verdict, x_reviewer_token, request.correction, request.comment)

    @api.get("/api/reviews", response_model=list[Review])
    def reviews(
        verdict: Verdict | None = None,
        since: str | None = Query(None, pattern=DATE),
        until: str | None = Query(None, pattern=DATE),
        x_reviewer_token: Annotated[str | None, Header()] = None,
    ) -> list[Review]:
        return service.review_list(x_reviewer_token, verdict, since, until)

    @api.get("/api/reviews.csv", response_class=PlainTextResponse)
    def reviews_csv(
        verdict: Verdict | None = None,
        since: str | None = Query(None, pattern=DATE),
        until: str | None = Query(None, pattern=DATE),
        x_reviewer_token: Annotated[str | None, Header()] = None,
    ) -> PlainTextResponse:
        return PlainTextResponse(
            to_csv(service.review_list(x_reviewer_token, verdict, since, until)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="reviews.csv"'},
        )

    return api


def sse(events: Iterator[ServiceEvent]) -> Iterator[str]:
    try:
        for item in events:
            if item.kind == "verified":
                yield event("verified", item.verified.model_dump())
            elif item.kind == "answer":
                yield event("answer", item.answer.model_dump(mode="json", exclude={"verified_answer"}))
            elif item.kind == "reset":
                yield event("reset", {})
            else:
                yield event("token", {"text": item.text})
    except PolicyQAError as error:  # the status line has gone out: the error travels as an event
        yield event("error", {"error": str(error), "status": error.status})
    except Exception as error:  # noqa: BLE001
        log.exception("unexpected error while streaming an answer")
        yield event("error", {"error": f"internal error ({type(error).__name__}); see the server log", "status": 500})


def event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def save_upload(file: UploadFile, path: Path) -> Upload:
    with path.open("wb") as out:
        while block := file.file.read(1 << 20):
            out.write(block)
    return Upload(name=file.filename or "", path=path)


def result_json(result: FileResult) -> dict:
    return {"file": result.file, "status": result.status, "chunks": result.chunks, "message": result.message}


def add_error_handlers(api: FastAPI) -> None:
    """Every PolicyQAError answers with its own status and message; anything else is a 500 without a traceback."""

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": f"invalid request: {problems}", "detail": jsonable_encoder(exc.errors())}, status_code=422)

    async def known(request: Request, exc: PolicyQAError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    api.add_exception_handler(RequestValidationError, invalid)
    api.add_exception_handler(PolicyQAError, known)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)

    api.add_exception_handler(Exception, unexpected)
