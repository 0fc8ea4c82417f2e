"""Evaluation on gold question sets: retrieval (hit@k and MRR, per search mode) and answers (key facts,
refusals, verbatim citations), the latter through `Assistant.ask` and its JSON, as users get it.

A gold item names the passages that answer it as exact quotes of corpus files. A retrieved chunk counts
as a hit when it contains a gold quote that is distinctive, i.e. occurs once in its file: a line such
as `责任单位：市税务局` recurs under many measures and alone proves nothing.
"""

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from assistant.index import KnowledgeBase
from assistant.loaders import load_file
from assistant.retrieval import Mode, search

if TYPE_CHECKING:
    from assistant.answer import Assistant

KS = (1, 3, 5, 10)


class GoldQuote(BaseModel):
    file: str
    quote: str


class GoldItem(BaseModel):
    id: str
    question: str
    type: str = ""
    gold: list[GoldQuote] = []
    answer: str = ""  # reference answer
    # Key facts: each group lists acceptable spellings of one fact; all groups must appear.
    must_include: list[list[str]] = []

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    def missing_facts(self, answer: str) -> list[list[str]]:
        return [group for group in self.must_include if not any(alt in answer for alt in group)]


def load_gold(path: Path) -> list[GoldItem]:
    with path.open(encoding="utf-8") as lines:
        return [GoldItem.model_validate_json(line) for line in lines if line.strip()]


def distinctive_quotes(item: GoldItem, corpus_dir: Path) -> list[GoldQuote]:
    quotes = []
    for gold in item.gold:
        text = (corpus_dir / gold.file).read_text(encoding="utf-8")
        if text.count(gold.quote) == 1:
            quotes.append(gold)
    return quotes or item.gold


def first_hit_rank(kb: KnowledgeBase, ranked_chunk_ids: list[str], quotes: list[GoldQuote]) -> int | None:
    for rank, chunk_id in enumerate(ranked_chunk_ids, start=1):
        chunk = kb.chunks[chunk_id]
        if any(chunk.doc_id == q.file and q.quote in chunk.text for q in quotes):
            return rank
    return None


@dataclass
class ModeResult:
    mode: str
    ranks: list[int | None] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def hit_at(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks)

    def summary(self) -> dict:
        figures = {f"hit@{k}": round(self.hit_at(k), 3) for k in KS}
        figures["mrr"] = round(self.mrr, 3)
        figures["p50_ms"] = round(statistics.median(self.latencies_ms), 1)
        return {"mode": self.mode, "questions": len(self.ranks), **figures}


def evaluate_retrieval(kb: KnowledgeBase, items: list[GoldItem], modes: tuple[Mode, ...]) -> list[ModeResult]:
    quotes = {item.id: distinctive_quotes(item, kb.settings.corpus_dir) for item in items}
    results = []
    for mode in modes:
        result = ModeResult(mode)
        for item in items:
            started = time.perf_counter()
            hits = search(kb, item.question, k=max(KS), mode=mode)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.ranks.append(first_hit_rank(kb, [h.chunk.chunk_id for h in hits], quotes[item.id]))
        results.append(result)
    return results


def markdown_table(results: list[ModeResult]) -> str:
    rows = [r.summary() for r in results]
    header = ["mode", "questions", *[f"hit@{k}" for k in KS], "mrr", "p50_ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class AnswerOutcome:
    item: GoldItem
    answer: dict  # the `policy-qa ask --json` object
    latency_ms: float
    missing: list[list[str]]
    verbatim: int  # citations whose quote is the document's text at the cited offsets

    @property
    def refused(self) -> bool:
        return self.answer["refused"]

    @property
    def correct(self) -> bool:
        """Answerable: not refused and every key fact present. Unanswerable: refused."""
        if not self.item.answerable:
            return self.refused
        return not self.refused and not self.missing


@dataclass
class AnswerReport:
    mode: str
    outcomes: list[AnswerOutcome] = field(default_factory=list)

    def summary(self) -> dict:
        answerable = [o for o in self.outcomes if o.item.answerable]
        unanswerable = [o for o in self.outcomes if not o.item.answerable]
        refused = [o for o in self.outcomes if o.refused]
        citations = sum(len(o.answer["citations"]) for o in self.outcomes)
        latencies = sorted(o.latency_ms for o in self.outcomes)
        return {
            "mode": self.mode,
            "questions": len(self.outcomes),
            "key_fact_accuracy": ratio(sum(o.correct for o in answerable), len(answerable)),
            "refusal_precision": ratio(sum(not o.item.answerable for o in refused), len(refused)),
            "refusal_recall": ratio(sum(o.refused for o in unanswerable), len(unanswerable)),
            "false_refusal_rate": ratio(sum(o.refused for o in answerable), len(answerable)),
            "verbatim_quotes": ratio(sum(o.verbatim for o in self.outcomes), citations),
            "citations": citations,
            "p50_ms": round(statistics.median(latencies), 1) if latencies else 0.0,
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else 0.0,
        }


def ratio(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 1.0


def verbatim_citations(answer: dict, corpus_dir: Path, texts: dict[str, str]) -> int:
    """Count citations whose quote is the document's text at its offsets; `texts` caches loaded documents."""
    count = 0
    for c in answer["citations"]:
        if c["doc_id"] not in texts:
            texts[c["doc_id"]] = load_file(corpus_dir / c["doc_id"]).text
        count += texts[c["doc_id"]][c["start"] : c["end"]] == c["quote"]
    return count


def evaluate_answers(assistant: "Assistant", items: list[GoldItem], mode: str = "auto") -> AnswerReport:
    report = AnswerReport(mode)
    texts: dict[str, str] = {}
    for item in items:
        started = time.perf_counter()
        answer = assistant.ask(item.question, mode=mode).model_dump(mode="json")
        latency = (time.perf_counter() - started) * 1000
        report.mode = answer["mode"] if mode == "auto" else mode
        verbatim = verbatim_citations(answer, assistant.settings.corpus_dir, texts)
        report.outcomes.append(AnswerOutcome(item, answer, latency, item.missing_facts(answer["answer"]), verbatim))
    return report


def answer_table(report: AnswerReport) -> str:
    row = report.summary()
    header = list(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.append("| " + " | ".join(str(row[h]) for h in header) + " |")
    return "\n".join(lines)
