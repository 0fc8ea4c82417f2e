"""Hybrid retrieval: BM25 and dense candidates fused by weighted reciprocal rank fusion."""

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from assistant.documents.chunking import Chunk
from assistant.index.knowledge_base import KnowledgeBase
from assistant.vocabulary import level_tier

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[Mode, ...] = ("hybrid", "bm25", "dense")
# The usual RRF constant (Cormack et al., 2009): damps the weight of the very first ranks.
RRF_K = 60


class SearchFilters(BaseModel):
    """Exact-match filters; `level` is the administrative tier (国家, 省级, 市级), `region` e.g. 四川省广元市."""

    doc_ids: list[str] | None = None
    level: str | None = None
    region: str | None = None

    def is_empty(self) -> bool:
        return not (self.doc_ids or self.level or self.region)

    def matches(self, chunk: Chunk) -> bool:
        return (
            (not self.doc_ids or chunk.doc_id in self.doc_ids)
            and (not self.level or level_tier(chunk.level) == self.level)
            and (not self.region or chunk.region == self.region)
        )

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if self.doc_ids:
            clauses.append({"doc_id": {"$in": list(self.doc_ids)}})
        if self.level:
            clauses.append({"level_tier": self.level})
        if self.region:
            clauses.append({"region": self.region})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class SearchHit:
    chunk: Chunk
    rank: int
    score: float  # fused RRF score (hybrid), BM25 score (bm25) or cosine similarity (dense)
    bm25_rank: int | None = None
    dense_rank: int | None = None

    def as_json(self) -> dict:
        """The shape `policy-qa search --json` and `POST /api/search` print."""
        c = self.chunk
        return {
            "rank": self.rank,
            "chunk_id": c.chunk_id,
            "doc_id": c.doc_id,
            "doc_title": c.doc_title,
            "doc_number": c.doc_number,
            "section": c.section,
            "page": c.page,
            "text": c.text,
            "score": round(self.score, 6),
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
        }


def bm25_candidates(kb: KnowledgeBase, query: str, n: int, filters: SearchFilters) -> list[tuple[str, float]]:
    allowed = None if filters.is_empty() else {cid for cid, c in kb.chunks.items() if filters.matches(c)}
    return kb.lexical.search(query, n, allowed)


def dense_candidates(kb: KnowledgeBase, query: str, n: int, filters: SearchFilters) -> list[tuple[str, float]]:
    return [(cid, similarity) for cid, similarity in kb.dense_search(query, n, filters.chroma_where()) if cid in kb.chunks]


def search(
    kb: KnowledgeBase,
    query: str,
    k: int = 5,
    mode: Mode = "hybrid",
    filters: SearchFilters | None = None,
) -> list[SearchHit]:
    filters = filters or SearchFilters()
    query = query.strip()
    if not query:
        return []
    n = max(kb.settings.candidates, k)
    lexical = bm25_candidates(kb, query, n, filters) if mode in ("hybrid", "bm25") else []
    dense = dense_candidates(kb, query, n, filters) if mode in ("hybrid", "dense") else []
    bm25_ranks = {cid: rank for rank, (cid, _) in enumerate(lexical, start=1)}
    dense_ranks = {cid: rank for rank, (cid, _) in enumerate(dense, start=1)}
    if mode == "hybrid":
        weight = kb.settings.bm25_weight
        fused = {cid: weight / (RRF_K + r) for cid, r in bm25_ranks.items()}
        for cid, r in dense_ranks.items():
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + r)
        scored = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    else:
        scored = lexical or dense
    return [
        SearchHit(kb.chunks[cid], rank, score, bm25_ranks.get(cid), dense_ranks.get(cid))
        for rank, (cid, score) in enumerate(scored[:k], start=1)
    ]
