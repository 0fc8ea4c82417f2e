"""Answering a question: the `Assistant` retrieves once, then answers from those passages with the language
model (checked by `citations`) or by quoting them (`extractive`); both return the same `Answer`.
The service calls it; it knows nothing of faces, reviews or matching.

`stream()` yields events as the answer is produced: `token` pieces of text, `reset` when text already
streamed is withdrawn (the model failed midway and the extractive answer replaces it), and one final
`answer` carrying the verified `Answer`. `ask()` is `stream()` run to the end.
"""

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel

from assistant.answering.citations import Citation, verify
from assistant.answering.extractive import ExtractiveAnswer, Extractor, merge_follow_up, quote_line
from assistant.documents.amendments import Amendment
from assistant.errors import PolicyQAError
from assistant.index.embeddings import CachedEmbeddings
from assistant.index.knowledge_base import KnowledgeBase
from assistant.retrieval.hybrid import SearchHit, multi_search
from assistant.settings import Settings
from assistant.vocabulary import REFUSAL

log = logging.getLogger(__name__)

# A question about the present: its answer says today's date and whether each cited document is in force.
NOW = re.compile(r"今年|现在|目前|当前|眼下|如今|最新|现行")
# A context budget fills up with passages, but never with more than this many (short articles).
MAX_CONTEXT_PASSAGES = 20
Mode = Literal["auto", "llm", "extractive"]
MODES: tuple[Mode, ...] = ("auto", "llm", "extractive")
# Phrases a model uses when the passages do not answer; the prompt asks for REFUSAL itself.
_REFUSAL_CUES = re.compile(r"没有找到|未找到|无法回答|不能回答|没有相关规定|未作规定|未涉及|没有提及|未提及|没有明确规定")


class AssistantError(PolicyQAError):
    """The question cannot be answered as asked (e.g. LLM mode without a model); the message says why."""


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class RetrievedPassage(BaseModel):
    chunk_id: str
    doc_title: str
    section: str
    text: str
    score: float
    rank: int = 0
    bm25_rank: int | None = None  # where BM25 and dense search each placed it (None: not among their candidates)
    dense_rank: int | None = None


class Answer(BaseModel):
    question: str
    answer: str
    mode: Literal["llm", "extractive"]
    refused: bool
    citations: list[Citation]
    retrieved: list[RetrievedPassage]
    notice: str | None = None
    timings_ms: dict[str, float]
    # The question as searched: a follow-up rewritten with the conversation, else the question itself.
    standalone_question: str


@dataclass
class AnswerEvent:
    kind: Literal["token", "reset", "answer"]
    text: str = ""
    answer: Answer | None = None


def final_answer(events: Iterable):
    """The answer a stream of events ends with (`ask()` is `stream()` run to the end)."""
    for event in events:
        if event.answer is not None:
            return event.answer
    raise AssertionError("a stream always ends with an answer")


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round((now - self.last) * 1000, 1)
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": round((time.perf_counter() - self.start) * 1000, 1)}


def is_refusal(text: str) -> bool:
    opening = re.split(r"[。！？\n]", text.strip(), maxsplit=1)[0]
    return text.strip().startswith(REFUSAL[:8]) or bool(_REFUSAL_CUES.search(opening))


def attach_notes(citations: list[Citation], notes: list[Amendment]) -> list[Citation]:
    """Give each citation the amendment notes about its clause; the citations that have any."""
    for citation in citations:
        citation.amendments = [note for note in notes if note.applies_to(citation.doc_id, citation.section, citation.quote)]
    return [c for c in citations if c.amendments]


def passages(hits: Sequence[SearchHit]) -> list[RetrievedPassage]:
    return [
        RetrievedPassage(
            chunk_id=h.chunk.chunk_id,
            doc_title=h.chunk.doc_title,
            section=h.chunk.section,
            text=h.chunk.text,
            score=round(h.score, 6),
            rank=h.rank,
            bm25_rank=h.bm25_rank,
            dense_rank=h.dense_rank,
        )
        for h in hits
    ]


class Assistant:
    def __init__(self, settings: Settings, kb: KnowledgeBase | None = None, notes: Callable[[], list[Amendment]] | None = None):
        self.settings = settings
        self.kb = kb or KnowledgeBase(settings)
        # The amendment notes in force now (the shipped file and interpreters' notes): asked for at every answer,
        # so a note recorded in the app takes effect at once.
        self.notes = notes or (lambda: [])
        # Sentence vectors for extractive scoring are cached beside the chunk vectors.
        embedder = CachedEmbeddings(self.kb.embedder, settings.embedding_cache_path, settings.embedding_batch_size)
        self.extractor = Extractor(self.kb, embedder)
        self.model = None
        if settings.llm_configured:
            # Imported here: the openai client is heavy, and without a model it is never needed.
            from assistant.answering.llm import chat_model

            self.model = chat_model(settings)

    def ask(self, question: str, history: Sequence[Message] = (), mode: Mode = "auto") -> Answer:
        return final_answer(self.stream(question, history, mode))

    def stream(self, question: str, history: Sequence[Message] = (), mode: Mode = "auto") -> Iterator[AnswerEvent]:
        """Rewrite a follow-up into a standalone question, retrieve once, then answer from those passages."""
        question = question.strip()
        self.check(question, mode)
        clock = _Clock()
        use_model = mode != "extractive" and self.model is not None
        standalone, failure = self._standalone(question, history) if use_model else (self._merged(question, history), None)
        wordings = self._policy_wordings(standalone) if use_model and failure is None and self.settings.policy_rewrite else []
        clock.lap("rewrite")
        hits = self.retrieve(standalone, wordings)
        clock.lap("retrieve")
        # Read once per answer: the notes in force when it was asked.
        notes = self.notes()
        if use_model and failure is None:
            yield from self._llm(question, standalone, hits, clock, notes)
        else:
            yield from self._extractive(question, standalone, hits, clock, notes, self._fallback_notice(failure))

    def retrieve(self, question: str, wordings: Sequence[str] = ()) -> list[SearchHit]:
        """The passages an answer is given: the `top_k` best, or with a context budget (`context_chars`), the
        best ones that fit in it, however many that is (at least one, at most MAX_CONTEXT_PASSAGES). Other
        wordings of the question (the model's, in policy terms) are searched too and fused with it."""
        budget = self.settings.context_chars
        queries = [question, *(w for w in wordings if w != question)]
        if not budget:
            return multi_search(self.kb, queries, self.settings.top_k)
        chosen: list[SearchHit] = []
        used = 0
        for hit in multi_search(self.kb, queries, MAX_CONTEXT_PASSAGES):
            # With `context_sections`, a piece of a measure split in two brings the rest of it along (after itself).
            group = [hit.chunk]
            if self.settings.context_sections:
                group += [c for c in self.kb.sections[(hit.chunk.doc_id, hit.chunk.section)] if c is not hit.chunk]
            for chunk in group:
                if any(c.chunk.chunk_id == chunk.chunk_id for c in chosen):
                    continue
                if chosen and used + len(chunk.text) > budget:
                    if chunk is hit.chunk:
                        return chosen
                    continue
                chosen.append(hit if chunk is hit.chunk else SearchHit(chunk, hit.rank, hit.score))
                used += len(chunk.text)
        return chosen

    def check(self, question: str, mode: Mode) -> None:
        """Raise AssistantError for a question that cannot be answered as asked."""
        if not question.strip():
            raise AssistantError("the question is empty; ask something such as 小微企业用电报装有什么优惠？")
        if mode not in MODES:
            raise AssistantError(f"unknown mode '{mode}'; choose one of {', '.join(MODES)}")
        if mode == "llm" and self.model is None:
            raise AssistantError(
                "LLM mode needs a language model: set POLICY_QA_LLM_API_KEY (or DEEPSEEK_API_KEY), "
                "or POLICY_QA_LLM_BASE_URL for a local OpenAI-compatible server; or use --mode extractive"
            )

    def _merged(self, question: str, history: Sequence[Message]) -> str:
        return merge_follow_up(question, [m.content for m in history if m.role == "user"], self.kb)

    def _standalone(self, question: str, history: Sequence[Message]) -> tuple[str, str | None]:
        """The follow-up rewritten by the model; if the model fails, merged with the previous question's terms."""
        if not history:
            return question, None
        from assistant.answering.llm import rewrite_chain

        transcript = "\n".join(f"{'用户' if m.role == 'user' else '助手'}：{m.content[:300]}" for m in history[-6:])
        try:
            rewritten = rewrite_chain(self.model).invoke({"history": transcript, "question": question}).strip()
            return (rewritten or question), None
        except Exception as error:  # noqa: BLE001 — any failure of the model falls back, never reaches the user
            return self._merged(question, history), self._log_failure("rewrite", error)

    def _policy_wordings(self, question: str) -> list[str]:
        """The question in the corpus's statutory wording, by the model; none if the model fails (the user's
        own words are searched anyway, so this failure needs no notice)."""
        from assistant.answering.llm import policy_wording_chain

        try:
            return policy_wording_chain(self.model).invoke({"question": question})
        except Exception as error:  # noqa: BLE001 — see _standalone
            self._log_failure("policy rewrite", error)
            return []

    @staticmethod
    def _fallback_notice(failure: str | None) -> str | None:
        return f"语言模型暂时不可用（{failure}），以下是从政策条款中直接摘录的回答。" if failure else None

    def _extractive(
        self, question: str, standalone: str, hits: list[SearchHit], clock: _Clock, notes: list[Amendment], notice: str | None = None
    ) -> Iterator[AnswerEvent]:
        result = self.extractor.answer(standalone, hits, self.settings.refusal_threshold)
        clock.lap("extract")
        answer = self._extractive_answer(question, standalone, result, hits, notes, notice, clock)
        yield AnswerEvent("token", text=answer.answer)
        yield AnswerEvent("answer", answer=answer)

    def _extractive_answer(
        self,
        question: str,
        standalone: str,
        result: ExtractiveAnswer,
        hits: list[SearchHit],
        notes: list[Amendment],
        notice: str | None,
        clock: _Clock,
    ) -> Answer:
        answer = result.answer + self._currency_line(standalone, result.citations, notes)
        shown: set[str] = set()
        for citation in attach_notes(result.citations, notes):
            # The note comes before the first quote of the clause it changes; the quote itself stays verbatim.
            line = quote_line(citation)
            lead = "".join(f"⚠️ {note.sentence()}\n" for note in citation.amendments if note.note_id not in shown)
            shown.update(note.note_id for note in citation.amendments)
            answer = answer.replace(line, lead + line, 1)
        return Answer(
            question=question,
            answer=answer,
            mode="extractive",
            refused=result.refused,
            citations=result.citations,
            retrieved=passages(hits),
            notice=notice,
            timings_ms=clock.total(),
            standalone_question=standalone,
        )

    def _currency_line(self, question: str, citations: list[Citation], notes: list[Amendment]) -> str:
        """For a question about now ("今年", "现在", "目前"), the date today and the status of each cited document."""
        if not citations or not NOW.search(question):
            return ""
        today = date.today().isoformat()
        records = {d.doc_id: d for d in self.kb.documents}
        amended = {note.doc_id for note in notes}
        parts = []
        for doc_id in dict.fromkeys(c.doc_id for c in citations):
            record = records.get(doc_id)
            if record is not None:
                since = f"，自{record.effective_date}起施行" if record.effective_date else ""
                parts.append(f"《{record.title}》{record.validity(today, doc_id in amended)}{since}")
        return f"\n（今天是{today}。" + "；".join(parts) + "。）" if parts else ""

    def _llm(self, question: str, standalone: str, hits: list[SearchHit], clock: _Clock, notes: list[Amendment]) -> Iterator[AnswerEvent]:
        from assistant.answering.llm import format_passages, stream_answer

        streamed: list[str] = []
        failure = None
        pieces = stream_answer(self.model, standalone, format_passages([h.chunk for h in hits], notes))
        try:
            for piece in pieces:
                if piece:
                    streamed.append(piece)
                    yield AnswerEvent("token", text=piece)
        except Exception as error:  # noqa: BLE001 — see _standalone
            failure = self._log_failure("answer", error)
        finally:
            # Closed at once when this stream is closed (the client left): the model's connection goes with it.
            pieces.close()
        if failure is None and not "".join(streamed).strip():
            failure = "返回了空回答"
        if failure is not None:
            if streamed:
                yield AnswerEvent("reset")
            yield from self._extractive(question, standalone, hits, clock, notes, self._fallback_notice(failure))
            return
        clock.lap("generate")
        yield AnswerEvent("answer", answer=self._verified_answer(question, standalone, "".join(streamed), hits, clock, notes))

    def _verified_answer(
        self, question: str, standalone: str, text: str, hits: list[SearchHit], clock: _Clock, notes: list[Amendment]
    ) -> Answer:
        checked = verify(text, [h.chunk for h in hits])
        refused = is_refusal(checked.answer)
        problems = []
        if checked.invalid_markers:
            listed = "、".join(f"[{n}]" for n in dict.fromkeys(checked.invalid_markers))
            problems.append(f"已删除不存在的引用 {listed}：回答只能引用给出的 {len(hits)} 条条款。")
        if not checked.citations and not refused:
            problems.append("未经核实：回答没有引用任何条款，请以政策原文为准。")
        if checked.unsupported:
            problems.append(f"以下数字在所引条款中找不到，请核对：{'、'.join(checked.unsupported)}。")
        cited_notes = {note.note_id: note for c in attach_notes(checked.citations, notes) for note in c.amendments}
        outdated = [f for note in cited_notes.values() for f in note.superseded if f in checked.answer]
        if outdated:
            # A figure the clause states but a later source has changed is not verified by quoting the clause.
            problems.append(f"以下数字已被新规定调整，不再适用，请核对：{'、'.join(dict.fromkeys(outdated))}。")
        problems += [note.sentence() for note in cited_notes.values()]
        answer, citations = checked.answer, checked.citations
        if refused and not citations:
            answer, citations = self._with_closest_clauses(answer, standalone, hits)
        clock.lap("verify")
        return Answer(
            question=question,
            answer=answer,
            mode="llm",
            refused=refused,
            citations=citations,
            retrieved=passages(hits),
            notice=" ".join(problems) or None,
            timings_ms=clock.total(),
            standalone_question=standalone,
        )

    def _with_closest_clauses(self, answer: str, question: str, hits: list[SearchHit]) -> tuple[str, list[Citation]]:
        """A refusal still points to the clauses closest to the question."""
        closest = self.extractor.answer(question, hits, threshold=1.01)  # a threshold above any score: the refusal form
        if not closest.citations:
            return answer, []
        quoted = closest.answer.split("\n", 1)[1]
        return f"{answer}\n最相关的条款：\n{quoted}", closest.citations

    def _log_failure(self, step: str, error: BaseException) -> str:
        from assistant.answering.llm import describe_error, redact

        reason = describe_error(error, self.settings.llm_api_key)
        log.warning("language model failed during %s: %s (%s)", step, reason, redact(str(error), self.settings.llm_api_key))
        return reason
