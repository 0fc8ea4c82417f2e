"""Retrieval evaluation on a gold question set: hit@k and MRR, per search mode.

A gold item names the passages that answer it as exact quotes of corpus files. A retrieved chunk counts
as a hit when it contains a gold quote that is distinctive, i.e. occurs once in its file: a line such
as `责任单位：市税务局` recurs under many measures and alone proves nothing.
"""

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from assistant.index import KnowledgeBase
from assistant.retrieval import Mode, search

KS = (1, 3, 5, 10)


class GoldQuote(BaseModel):
    file: str
    quote: str


class GoldItem(BaseModel):
    id: str
    question: str
    type: str = ""
    gold: list[GoldQuote] = []


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
