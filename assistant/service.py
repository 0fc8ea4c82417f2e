"""What the web app and the REST API share: the live assistant (reopened after the library changes), the
review store, the admin check and the source view. Both front ends call only this.
"""

import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from assistant.answer import Answer, AnswerEvent, Assistant, Message, Mode
from assistant.chunking import Chunk
from assistant.citations import Citation
from assistant.embeddings import EmbeddingError
from assistant.index import DocumentRecord, IngestReport, KnowledgeBaseError, manifest_path
from assistant.library import FileResult, Upload, add_documents, remove_document
from assistant.matching import MatchResult, Profile, match
from assistant.retrieval import SearchFilters, SearchHit, search
from assistant.reviews import Review, ReviewStore, Verdict
from assistant.settings import Settings


class Unavailable(Exception):
    """No index to answer from; the message says how to build one."""


class Forbidden(Exception):
    """An admin action without the right token, or with admin actions disabled."""


class AskResponse(Answer):
    """The `policy-qa ask --json` object, plus `answer_id` (what a verdict on it must quote) and the
    interpreter-verified answer to the same question, if any."""

    answer_id: str = ""
    verified_answer: Review | None = None


@dataclass
class SourceView:
    citation: Citation
    document: DocumentRecord | None
    chunks: list[Chunk]  # the whole section, in document order
    highlight_chunk: str  # chunk id holding the quote
    highlight_at: int  # offset of the quote in that chunk's text


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.reviews = ReviewStore(settings.review_db)
        self._assistant: Assistant | None = None
        self._stamp: tuple[int, int] | None = None  # the manifest the assistant was opened on
        self.problem = ""
        self._reload_lock = threading.Lock()
        # Uploads and deletions change the corpus folder and run an ingest: one at a time, the next one waits.
        self._library_lock = threading.Lock()
        self.reload()

    def manifest_stamp(self) -> tuple[int, int] | None:
        try:
            stat = manifest_path(self.settings).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> None:
        """Open the index as it is now; requests already running finish on the build they started with,
        which ingest keeps for one more round."""
        with self._reload_lock:
            stamp = self.manifest_stamp()
            try:
                self._assistant, self.problem = Assistant(self.settings), ""
            except (KnowledgeBaseError, EmbeddingError) as error:
                self._assistant, self.problem = None, str(error)
            self._stamp = stamp

    @property
    def assistant(self) -> Assistant:
        # `policy-qa ingest` may have switched the index under a running app: follow it.
        if self.manifest_stamp() != self._stamp:
            self.reload()
        assistant = self._assistant
        if assistant is None:
            raise Unavailable(self.problem or "the index is not available")
        return assistant

    @property
    def llm_configured(self) -> bool:
        return self.settings.llm_configured

    # --- answering -----------------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[Message] = (), mode: Mode = "auto") -> AskResponse:
        answer = self.assistant.ask(question, history, mode)
        return self.respond(answer)

    def respond(self, answer: Answer) -> AskResponse:
        """The answer as the API and the app hand it out: signed, with any verified answer to its question."""
        data = answer.model_dump(mode="json")
        return AskResponse(**data, answer_id=self.reviews.sign(data), verified_answer=self.reviews.verified(answer.question))

    def stream(self, question: str, history: Sequence[Message] = (), mode: Mode = "auto") -> Iterator[AnswerEvent]:
        return self.assistant.stream(question, history, mode)

    def verified(self, question: str) -> Review | None:
        return self.reviews.verified(question)

    def search(self, question: str, k: int | None = None, mode: str = "hybrid", filters: SearchFilters | None = None) -> list[SearchHit]:
        return search(self.assistant.kb, question, k or self.settings.top_k, mode, filters)

    def match(self, profile: Profile, limit: int | None = 10) -> MatchResult:
        kb = self.assistant.kb
        return match(kb.items, profile, limit, kb.item_index)

    def documents(self) -> list[DocumentRecord]:
        return list(self.assistant.kb.documents)

    def source(self, citation: Citation) -> SourceView:
        kb = self.assistant.kb
        chunk = kb.chunks.get(citation.chunk_id)
        if chunk is None:
            raise KeyError(f"the index no longer holds {citation.chunk_id}; ask again")
        section = sorted(
            (c for c in kb.chunks.values() if c.doc_id == chunk.doc_id and c.section == chunk.section), key=lambda c: c.start
        )
        at = citation.start - chunk.start
        if chunk.text[at : at + len(citation.quote)] != citation.quote:
            at = chunk.text.find(citation.quote)
        document = next((d for d in kb.documents if d.doc_id == chunk.doc_id), None)
        return SourceView(citation, document, section, chunk.chunk_id, at)

    # --- reviews -------------------------------------------------------------------------------------

    def feedback(self, answer: dict, verdict: Verdict, correction: str = "", comment: str = "") -> Review:
        settings = {
            "llm_model": self.settings.llm_model if answer.get("mode") == "llm" else None,
            "embedding": f"{self.settings.embedding_provider}:{self.settings.embedding_model}",
            "top_k": self.settings.top_k,
            "chunk_size": self.settings.chunk_size,
            "refusal_threshold": self.settings.refusal_threshold,
        }
        return self.reviews.record(answer, verdict, correction, comment, settings)

    # --- the document library ------------------------------------------------------------------------

    @property
    def admin_enabled(self) -> bool:
        return self.settings.admin_token is not None and bool(self.settings.admin_token.get_secret_value())

    def check_admin(self, token: str | None) -> None:
        if not self.admin_enabled:
            raise Forbidden("uploading and deleting documents are disabled: set POLICY_QA_ADMIN_TOKEN to enable them")
        expected = self.settings.admin_token.get_secret_value().encode()
        if not token or not secrets.compare_digest(token.encode(), expected):
            raise Forbidden("wrong or missing admin token")

    def upload(self, uploads: list[Upload], token: str | None, progress: bool = False) -> tuple[list[FileResult], IngestReport | None]:
        self.check_admin(token)
        with self._library_lock:
            results, report = add_documents(self.settings, uploads, progress)
            self.reload()
        return results, report

    def delete(self, doc_id: str, token: str | None) -> IngestReport:
        self.check_admin(token)
        with self._library_lock:
            report = remove_document(self.settings, doc_id)
            self.reload()
        return report
