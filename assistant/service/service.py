"""The one application layer. The CLI, the API and the app call `Service` and nothing else, for every use case:
asking (with an interpreter-verified answer first, and "which policies apply" questions routed to matching),
searching, matching, listing items and documents, showing a cited source, ingesting, changing the library and
recording interpreters' verdicts. So every face answers the same question the same way.

The index is opened on first use and reopened when `policy-qa ingest` or an upload switches the build under
a running server; requests already running finish on the build they started with (ingest keeps it one round).
"""

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Literal

from assistant.answering.answer import MODES, Answer, Assistant, AssistantError, Message, Mode, final_answer
from assistant.answering.citations import Citation
from assistant.documents.amendments import AMENDMENTS_FILE, Amendment, AmendmentFields, read_amendments
from assistant.documents.approvals import Approval, add_approval
from assistant.documents.chunking import Chunk
from assistant.documents.items import PolicyItem
from assistant.documents.loaders import SUPPORTED
from assistant.errors import Forbidden, NotFound, PolicyQAError, Unavailable
from assistant.index.ingest import Enrich, IngestReport, QuestionWriter, ingest
from assistant.index.knowledge_base import KnowledgeBase
from assistant.index.store import DocumentRecord, manifest_path
from assistant.matching.intent import infer_profile, is_matching_question, reply_text
from assistant.matching.matcher import Matcher, MatchResult
from assistant.matching.profile import OWNERSHIP_NAMES, Profile
from assistant.retrieval.hybrid import MODES as SEARCH_MODES
from assistant.retrieval.hybrid import SearchFilters, SearchHit, search
from assistant.service.access import IntegratorAccess, parse_keys, parse_reviewers, token_matches
from assistant.service.library import FileResult, LibraryError, Upload, add_documents, remove_document
from assistant.service.reviews import VERDICTS, AmendmentBook, Review, ReviewError, ReviewStore, Verdict, amendments_csv, to_csv
from assistant.settings import Settings

# How many items a "which policies apply" question lists in the chat; the 政策匹配 tab and `match` show more.
CHAT_MATCHES = 5
# Bounds on one request, whichever face it comes from: a question, and the conversation before it.
MAX_QUESTION_CHARS = 2000
MAX_HISTORY = 40


class AmendmentError(PolicyQAError):
    """An amendment note that cannot be recorded or removed; the message says why."""


class AskResponse(Answer):
    """The answer as every face hands it out: the `Answer`, plus `answer_id` (what a verdict on it must quote),
    the interpreter-verified answer to the same question if any, and for a "which policies apply" question
    the matching result it was answered with."""

    answer_id: str = ""
    verified_answer: Review | None = None
    intent: Literal["question", "matching"] = "question"
    matching: MatchResult | None = None


@dataclass
class ServiceEvent:
    """One step of a streamed answer: `verified` (an interpreter-checked answer, first, if any), `token` pieces
    of text, `reset` (text already streamed is withdrawn), then one `answer`."""

    kind: Literal["verified", "token", "reset", "answer"]
    text: str = ""
    verified: Review | None = None
    answer: AskResponse | None = None


@dataclass
class SourceView:
    citation: Citation
    document: DocumentRecord | None
    chunks: list[Chunk]  # the whole section, in document order
    highlight_chunk: str  # chunk id holding the quote
    highlight_at: int  # offset of the quote in that chunk's text


@dataclass
class Health:
    status: Literal["ok", "unavailable"]
    documents: int
    chunks: int
    llm: bool
    problem: str = ""


class _Opened:
    """One opened index, and what is built from it when first needed (a search needs neither)."""

    def __init__(self, kb: KnowledgeBase, notes: Callable[[], list[Amendment]]):
        self.kb = kb
        self.notes = notes

    @cached_property
    def assistant(self) -> Assistant:
        return Assistant(self.kb.settings, self.kb, self.notes)

    @cached_property
    def matcher(self) -> Matcher:
        return Matcher(self.kb)


def close_quietly(kb: KnowledgeBase) -> None:
    """Release an index no request reads any more; its folder may be gone already (an ingest retires the build
    before the live one), and a failure to release it must not stop the switch to the new build."""
    try:
        kb.close()
    except Exception:
        pass


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._opened: _Opened | None = None
        self._replaced: _Opened | None = None  # the index opened before this one, closed at the next switch
        self._stamp: tuple[int, int] | None = None  # the manifest the index was opened on
        self._problem = ""
        self._reviews: ReviewStore | None = None
        self._lock = threading.Lock()
        self._reviews_lock = threading.Lock()
        # Uploads and deletions change the corpus folder and run an ingest: one at a time, the next one waits.
        self._library_lock = threading.Lock()
        keys = settings.api_keys.get_secret_value() if settings.api_keys else ""
        self._integrators = IntegratorAccess(parse_keys(keys, settings.api_rate_limit), settings.api_rate_limit)
        admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
        self._reviewers = parse_reviewers(settings.reviewer_token.get_secret_value() if settings.reviewer_token else "", admin)
        # Stands for the admin token in a browser until the server restarts (a new key every start).
        self._admin_cookie = hmac.new(secrets.token_bytes(32), b"admin", hashlib.sha256).hexdigest()
        self._shipped_notes: tuple[tuple[int, int] | None, list[Amendment]] = (None, [])

    # --- the opened index ----------------------------------------------------------------------------

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            stat = manifest_path(self.settings).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> None:
        """Open the index as it is now."""
        with self._lock:
            self._open()

    def _open(self) -> None:
        stamp = self._manifest_stamp()
        before = self._opened
        try:
            self._opened, self._problem = _Opened(KnowledgeBase(self.settings), self.amendment_notes), ""
        except PolicyQAError as error:
            self._opened, self._problem = None, str(error)
        self._stamp = stamp
        # The index replaced now may still be answering a request; the one replaced before it is done with.
        if before is not None:
            if self._replaced is not None:
                close_quietly(self._replaced.kb)
            self._replaced = before

    def _current(self) -> _Opened:
        # `policy-qa ingest` may have switched the index under a running app: follow it.
        with self._lock:
            if self._opened is None and not self._problem or self._manifest_stamp() != self._stamp:
                self._open()
            opened = self._opened
        if opened is None:
            raise Unavailable(self._problem or "the index is not available")
        return opened

    @property
    def kb(self) -> KnowledgeBase:
        return self._current().kb

    @property
    def assistant(self) -> Assistant:
        return self._current().assistant

    @property
    def llm_configured(self) -> bool:
        return self.settings.llm_configured

    @property
    def reviews(self) -> ReviewStore:
        with self._reviews_lock:
            if self._reviews is None:
                self._reviews = ReviewStore(self.settings.review_db)
            return self._reviews

    def health(self) -> Health:
        """The index as it is open now, without waiting: a reload in progress (which holds the lock while the
        embedding model loads) must not hold up a health check. Only a service never opened opens here."""
        opened, problem = self._opened, self._problem
        if opened is None and not problem:
            try:
                opened = self._current()
            except Unavailable as error:
                problem = str(error)
        if opened is None:
            return Health("unavailable", 0, 0, self.llm_configured, problem or "the index is not available")
        return Health("ok", len(opened.kb.documents), len(opened.kb.chunks), self.llm_configured)

    # --- answering -----------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[Message] = (), mode: Mode = "auto") -> AskResponse:
        return final_answer(self.stream(question, history, mode))

    def stream(self, question: str, history: Sequence[Message] = (), mode: Mode = "auto") -> Iterator[ServiceEvent]:
        """The answer as it is produced. A bad question or mode raises here, before anything is streamed."""
        question = question.strip()
        if len(question) > MAX_QUESTION_CHARS:
            raise AssistantError(f"the question has {len(question)} characters; ask in at most {MAX_QUESTION_CHARS}")
        # Every face gets the same bound on the work a conversation can cause.
        history = [Message(role=m.role, content=m.content[:MAX_QUESTION_CHARS]) for m in list(history)[-MAX_HISTORY:]]
        assistant = self.assistant
        assistant.check(question, mode)
        return self._events(assistant, question, history, mode)

    def _events(self, assistant: Assistant, question: str, history: Sequence[Message], mode: Mode) -> Iterator[ServiceEvent]:
        verified = self.reviews.verified(question)
        if verified is not None:
            yield ServiceEvent("verified", verified=verified)
        if is_matching_question(question):
            # "哪些政策适用于我们" is answered by matching, on a profile read from the question and shown for correction.
            answer, result = self._matching_answer(question)
            yield ServiceEvent("token", text=answer.answer)
            yield ServiceEvent("answer", answer=self.respond(answer, verified, intent="matching", matching=result))
            return
        for event in assistant.stream(question, history, mode):
            if event.answer is not None:
                yield ServiceEvent("answer", answer=self.respond(event.answer, verified))
            else:
                yield ServiceEvent(event.kind, text=event.text)

    def _matching_answer(self, question: str) -> tuple[Answer, MatchResult]:
        started = time.perf_counter()
        profile = infer_profile(question)
        result = self.match(profile, CHAT_MATCHES)
        answer = Answer(
            question=question,
            answer=reply_text(profile, result),
            mode="extractive",
            refused=False,
            citations=[],
            retrieved=[],
            timings_ms={"total": round((time.perf_counter() - started) * 1000, 1)},
            standalone_question=question,
        )
        return answer, result

    def respond(self, answer: Answer, verified: Review | None = None, **context) -> AskResponse:
        """The answer signed (a verdict is taken only on an answer this server gave), with the verified answer
        and `context` (the intent and the matching result)."""
        data = answer.model_dump(mode="json", include=set(Answer.model_fields))
        return AskResponse(**data, answer_id=self.reviews.sign(data), verified_answer=verified, **context)

    def verified(self, question: str) -> Review | None:
        return self.reviews.verified(question)

    # --- search, matching, the library's contents ----------------------------------------------------

    def search(self, question: str, k: int | None = None, mode: str = "hybrid", filters: SearchFilters | None = None) -> list[SearchHit]:
        return search(self.kb, question, k or self.settings.top_k, mode, filters)

    def match(self, profile: Profile, limit: int | None = 10, offset: int = 0) -> MatchResult:
        """Every item that applies to the profile, ranked by its stated needs; `limit` items from `offset` are shown."""
        opened = self._current()
        result = opened.matcher.match(profile, limit, offset)
        # An expired document's items are still matched (a reviewer may know it was extended) but flagged.
        today = date.today().isoformat()
        expired = {d.doc_id: d.expiry_date for d in opened.kb.documents if d.expiry_date and d.expiry_date < today}
        for item in result.items:
            expiry = expired.get(item.item_id.split("#", 1)[0])
            if expiry:
                item.uncertain.insert(0, f"所在文件已于{expiry}失效，请核对是否仍然适用")
        return result

    def validities(self) -> dict[str, str]:
        """Each document's status today (现行有效, 已失效, 部分条款已调整, or what its header says), by document id."""
        today = date.today().isoformat()
        amended = {note.doc_id for note in self.amendment_notes()}
        return {d.doc_id: d.validity(today, d.doc_id in amended) for d in self.kb.documents}

    def items(self, doc_ids: Sequence[str] = (), beneficiary: str | None = None, benefit: str | None = None) -> list[PolicyItem]:
        return [
            item
            for item in self.kb.items
            if (not doc_ids or item.doc_id in doc_ids)
            and (not beneficiary or beneficiary in item.values("beneficiaries"))
            and (not benefit or benefit in item.values("benefits"))
        ]

    def documents(self) -> list[DocumentRecord]:
        return list(self.kb.documents)

    def source(self, citation: Citation) -> SourceView:
        kb = self.kb
        chunk = kb.chunks.get(citation.chunk_id)
        if chunk is None or chunk.chunk_id in kb.withheld:
            raise NotFound(f"the index no longer holds {citation.chunk_id}; ask again")
        at = citation.start - chunk.start
        if chunk.text[at : at + len(citation.quote)] != citation.quote:
            at = chunk.text.find(citation.quote)
        document = next((d for d in kb.documents if d.doc_id == chunk.doc_id), None)
        return SourceView(citation, document, kb.sections[(chunk.doc_id, chunk.section)], chunk.chunk_id, at)

    # --- building the index and changing the library -------------------------------------------------

    def enrichment(self) -> Enrich | None:
        """The language model's refinement of new items' tags, when it is configured and switched on."""
        if not (self.settings.refine_items and self.settings.llm_configured):
            return None
        from assistant.answering.llm import chat_model
        from assistant.documents.refine import refine_items

        model = chat_model(self.settings)
        return lambda items: refine_items(model, items)

    def question_writer(self) -> QuestionWriter | None:
        """The language model writing attached questions for documents that have no questions file."""
        if not (self.settings.write_questions and self.settings.llm_configured):
            return None
        from assistant.answering.llm import chat_model
        from assistant.documents.questions import write_questions

        model = chat_model(self.settings)
        return lambda items: write_questions(model, items)

    def ingest(self, rebuild: bool = False, progress: bool = False) -> IngestReport:
        # A running server follows the new build by itself (see `_current`).
        return ingest(self.settings, rebuild, progress, self.enrichment(), self.question_writer())

    @property
    def admin_enabled(self) -> bool:
        return self.settings.admin_token is not None and bool(self.settings.admin_token.get_secret_value())

    def admit_integrator(self, authorization: str | None, client: str, count: bool = True) -> str:
        """An integrator's request to the OpenAI-compatible routes: its key checked and (with `count`) counted
        against its rate limit; without configured keys, its address is counted. Returns who it is, for the log."""
        return self._integrators.admit(authorization, client, count)

    @property
    def integrator_keys_required(self) -> bool:
        return self._integrators.keys_required

    def check_admin(self, token: str | None) -> None:
        if not self.admin_enabled:
            raise Forbidden("uploading and deleting documents are disabled: set POLICY_QA_ADMIN_TOKEN to enable them")
        if not token_matches(token, self.settings.admin_token.get_secret_value().encode()):
            raise Forbidden("wrong or missing admin token")

    def admin_session(self, token: str | None) -> str:
        """A cookie value that stands for the admin token in this browser until the server restarts: Gradio's own
        upload route (the 文档库 tab's file box) is closed to requests without it."""
        self.check_admin(token)
        return self._admin_cookie

    def check_admin_session(self, cookie: str | None) -> None:
        if not self.admin_enabled or not token_matches(cookie, self._admin_cookie.encode()):
            raise Forbidden("uploading needs the admin token: enter it in the 文档库 tab and press 验证口令 first")

    @property
    def reviewing_enabled(self) -> bool:
        return bool(self._reviewers)

    def check_reviewer(self, token: str | None) -> str:
        """The interpreter the reviewer token belongs to; Forbidden without a valid one."""
        if not self._reviewers:
            raise Forbidden("reviewing is disabled: set POLICY_QA_REVIEWER_TOKEN to enable verdicts and the review list")
        # Every token is compared, so the time taken does not tell which one came close.
        names = [name for name, secret in self._reviewers if token_matches(token, secret)]
        if not names:
            raise Forbidden("wrong or missing reviewer token (the header X-Reviewer-Token, or 解读员口令 in the app)")
        return names[0]

    def upload(self, uploads: list[Upload], token: str | None, progress: bool = False) -> tuple[list[FileResult], IngestReport | None]:
        self.check_admin(token)
        with self._library_lock:
            results, report = add_documents(self.settings, uploads, progress, self.enrichment(), self.question_writer())
            self.reload()
        return results, report

    def delete(self, doc_id: str, token: str | None) -> IngestReport:
        self.check_admin(token)
        with self._library_lock:
            report = remove_document(self.settings, doc_id, enrich=self.enrichment(), write_questions=self.question_writer())
            self.reload()
        return report

    def approve(self, doc_id: str, token: str | None) -> Approval:
        """An admin's approval of a document whose lines read as instructions: its passages may then be quoted.
        It holds for the document's current content only; the running index follows at once."""
        self.check_admin(token)
        record = next((d for d in self.kb.documents if d.doc_id == doc_id), None)
        if record is None:
            raise NotFound(f"no document '{doc_id}' in the index; list them with GET /api/documents")
        if not record.flagged_lines:
            raise LibraryError(f"'{doc_id}' has no lines that read as instructions; there is nothing to approve")
        with self._library_lock:
            approval = add_approval(self.settings.corpus_dir, doc_id, record.sha256)
            self.reload()
        return approval

    # --- amendment notes ---------------------------------------------------------------------------

    def amendment_notes(self) -> list[Amendment]:
        """The notes in force: the shipped file (read again when it changes), those of newer documents that say
        what they supersede, and the interpreters' notes."""
        opened = self._opened
        linked = opened.kb.superseding_notes if opened else []
        return self._file_notes() + linked + AmendmentBook(self.reviews).list()

    def _file_notes(self) -> list[Amendment]:
        path = self.settings.corpus_dir / AMENDMENTS_FILE
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            return []
        if self._shipped_notes[0] != stamp:
            try:
                self._shipped_notes = (stamp, read_amendments(self.settings.corpus_dir))
            except ValueError as error:
                raise Unavailable(f"{error}; until then no answer can say which clauses have changed") from None
        return self._shipped_notes[1]

    def add_amendment(self, note: Amendment, token: str | None) -> Amendment:
        """An interpreter's note that a clause has changed; it shows on the next answer that cites the clause."""
        reviewer = self.check_reviewer(token)
        chunks = [c for c in self.kb.chunks.values() if c.doc_id == note.doc_id]
        if not chunks:
            raise NotFound(f"no document '{note.doc_id}' in the index; list them with GET /api/documents")
        if not any(note.applies_to(c.doc_id, c.section, c.text) for c in chunks):
            raise AmendmentError(
                f"no clause '{note.clause}' in {note.doc_id}: give the article or measure as its heading ends "
                "(第九十五条, （十六）降低用电成本) or a sentence quoted from it"
            )
        recorded = note.model_copy(
            update={"recorded_by": reviewer, "recorded_at": datetime.now().astimezone().isoformat(timespec="seconds")}
        )
        return AmendmentBook(self.reviews).add(recorded.model_copy(update={"note_id": "pending"}))

    def remove_amendment(self, note_id: str, token: str | None) -> None:
        self.check_reviewer(token)
        if note_id.startswith("file-"):
            raise AmendmentError(f"{note_id} is a shipped note: change corpus/amendments.yaml (reviewed like code) to remove it")
        if not AmendmentBook(self.reviews).remove(note_id):
            raise NotFound(f"no amendment note {note_id}; list them with GET /api/amendments")

    # --- reviews -------------------------------------------------------------------------------------

    def feedback(self, answer: dict, verdict: Verdict, token: str | None, correction: str = "", comment: str = "") -> Review:
        """An interpreter's verdict on an answer this server gave; needs a reviewer token, and records whose."""
        reviewer = self.check_reviewer(token)
        settings = {
            "llm_model": self.settings.llm_model if answer.get("mode") == "llm" else None,
            "embedding": f"{self.settings.embedding_provider}:{self.settings.embedding_model}",
            "top_k": self.settings.top_k,
            "chunk_size": self.settings.chunk_size,
            "refusal_threshold": self.settings.refusal_threshold,
        }
        return self.reviews.record(answer, verdict, correction, comment, settings, reviewer)

    def review_list(
        self, token: str | None, verdict: Verdict | None = None, since: str | None = None, until: str | None = None
    ) -> list[Review]:
        self.check_reviewer(token)
        return self.reviews.list(verdict, since, until)


# What the faces need of the stages below, so that they import the service and nothing else.
__all__ = [
    "Amendment",
    "AmendmentError",
    "AmendmentFields",
    "Approval",
    "MODES",
    "OWNERSHIP_NAMES",
    "SEARCH_MODES",
    "SUPPORTED",
    "VERDICTS",
    "amendments_csv",
    "AskResponse",
    "AssistantError",
    "Citation",
    "DocumentRecord",
    "FileResult",
    "Health",
    "IngestReport",
    "LibraryError",
    "MatchResult",
    "Message",
    "Mode",
    "PolicyItem",
    "Profile",
    "Review",
    "ReviewError",
    "SearchFilters",
    "SearchHit",
    "Service",
    "ServiceEvent",
    "SourceView",
    "Upload",
    "Verdict",
    "to_csv",
]
