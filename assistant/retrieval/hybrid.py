"""Hybrid retrieval: BM25 and dense candidates fused by weighted reciprocal rank fusion."""

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from assistant.documents.chunking import Chunk
from assistant.index.knowledge_base import KnowledgeBase
from assistant.vocabulary import CITY_REGION, NAMES_THE_CITY, level_tier

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
            "source": c.source,
            "ocr_confidence": c.ocr_confidence,
            "text": c.text,
            "score": round(self.score, 6),
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
        }


# A clause that a newer document supersedes (its header's `supersedes:`) keeps this share of its fused score.
SUPERSEDED_WEIGHT = 0.5


def bm25_candidates(
    kb: KnowledgeBase, query: str, n: int, filters: SearchFilters, expansion: list[str], expanded: bool
) -> list[tuple[str, float]]:
    """BM25 over the passages, with their attached questions' words when `expanded` and the build has them."""
    allowed = None if filters.is_empty() else {cid for cid, c in kb.chunks.items() if filters.matches(c)}
    index = kb.expanded_lexical if expanded and kb.expanded_lexical else kb.lexical
    return index.search(query, n, allowed, " ".join(expansion), kb.settings.expansion_weight)


def dense_candidates(
    kb: KnowledgeBase, query: str, vector: list[float], n: int, filters: SearchFilters, expansion: list[str] = ()
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Chunks by their own vectors, and by their nearest sentence."""
    if expansion and kb.settings.expand_dense:
        vector = kb.embedder.embed_query(f"{query}（{'、'.join(expansion)}）")
    return kb.dense_rankings(vector, n, filters.chroma_where())


def multi_search(kb: KnowledgeBase, queries: list[str], k: int) -> list[SearchHit]:
    """One ranking from several wordings of the same question (the user's own first): each is searched, and
    the rankings are fused by reciprocal rank, the user's wording counting twice."""
    if len(queries) == 1:
        return search(kb, queries[0], k)
    fused: dict[str, float] = {}
    best: dict[str, SearchHit] = {}
    for n, query in enumerate(queries):
        for hit in search(kb, query, max(k, kb.settings.top_k * 2)):
            fused[hit.chunk.chunk_id] = fused.get(hit.chunk.chunk_id, 0.0) + (2.0 if n == 0 else 1.0) / (RRF_K + hit.rank)
            best.setdefault(hit.chunk.chunk_id, hit)
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [
        SearchHit(best[cid].chunk, rank, score, best[cid].bm25_rank, best[cid].dense_rank)
        for rank, (cid, score) in enumerate(ranked, start=1)
    ]


def question_ranks(kb: KnowledgeBase, questions: list[tuple[str, float]], filters: SearchFilters) -> dict[str, int]:
    """Attached questions, best first, as a ranking of the passages they point to (a passage takes the rank of
    its best question; every chunk of a split measure takes it)."""
    ranks: dict[str, int] = {}
    rank = 0
    for question_id, _ in questions:
        chunks = [
            c for c in kb.passages_of(question_id) if c.chunk_id not in ranks and c.chunk_id not in kb.withheld and filters.matches(c)
        ]
        if chunks:
            rank += 1
            ranks.update({c.chunk_id: rank for c in chunks})
    return ranks


def search(
    kb: KnowledgeBase,
    query: str,
    k: int = 5,
    mode: Mode = "hybrid",
    filters: SearchFilters | None = None,
    vector: list[float] | None = None,
    candidates: int | None = None,
    expanded: bool | None = None,
    bm25_weight: float | None = None,
) -> list[SearchHit]:
    """The best k passages for `query`; `vector` is its embedding when the caller has already computed it;
    `candidates`, how many each retriever contributes, `expanded`, whether BM25 reads the passages with their
    attached questions' words, and `bm25_weight`, BM25's weight in the fusion, when not `settings.candidates`,
    `settings.expand_passages` and `settings.bm25_weight` (matching has its own)."""
    filters = filters or SearchFilters()
    query = query.strip()
    if not query:
        return []
    n = max(candidates or kb.settings.candidates, k)
    # Everyday words bridged to the corpus's statutory ones (only when a weight asks for it: it costs a lookup).
    expansion = kb.thesaurus.expand(query) if kb.settings.expansion_weight or kb.settings.expand_dense else []
    expanded = kb.settings.expand_passages if expanded is None else expanded
    lexical = bm25_candidates(kb, query, n, filters, expansion, expanded) if mode in ("hybrid", "bm25") else []
    # Embedded once: the passages' and the attached questions' dense searches share it.
    if vector is None:
        vector = kb.embedder.embed_query(query) if mode in ("hybrid", "dense") else []
    dense, by_sentence = dense_candidates(kb, query, vector, n, filters, expansion) if mode in ("hybrid", "dense") else ([], [])
    # Passages holding planted instructions are never found (until an admin approves their document), nor those of
    # expired documents (unless asked for).
    hidden = kb.hidden()
    lexical = [(cid, s) for cid, s in lexical if cid not in hidden]
    dense = [(cid, s) for cid, s in dense if cid not in hidden]
    by_sentence = [(cid, s) for cid, s in by_sentence if cid not in hidden]
    bm25_ranks = {cid: rank for rank, (cid, _) in enumerate(lexical, start=1)}
    dense_ranks = {cid: rank for rank, (cid, _) in enumerate(dense, start=1)}
    if mode == "hybrid":
        settings = kb.settings
        sentence_ranks = {cid: rank for rank, (cid, _) in enumerate(by_sentence, start=1)}
        bm25_weight = settings.bm25_weight if bm25_weight is None else bm25_weight
        rankings = [(bm25_ranks, bm25_weight), (dense_ranks, 1.0), (sentence_ranks, settings.sentence_weight)]
        if settings.question_bm25_weight:
            rankings.append((question_ranks(kb, kb.question_lexical_search(query, n), filters), settings.question_bm25_weight))
        if settings.question_dense_weight:
            rankings.append((question_ranks(kb, kb.question_dense_search(vector, n), filters), settings.question_dense_weight))
        fused: dict[str, float] = {}
        for ranks, weight in rankings:
            for cid, r in ranks.items():
                fused[cid] = fused.get(cid, 0.0) + weight / (RRF_K + r)
        for cid in kb.superseded & fused.keys():
            fused[cid] *= SUPERSEDED_WEIGHT  # the newer document's clause comes first
        local = settings.local_weight + (settings.place_weight if NAMES_THE_CITY.search(query) else 0.0)
        if local:
            for cid in fused:
                if kb.chunks[cid].region == CITY_REGION:
                    fused[cid] *= 1.0 + local
        scored = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    else:
        scored = lexical or dense
    return [
        SearchHit(kb.chunks[cid], rank, score, bm25_ranks.get(cid), dense_ranks.get(cid))
        for rank, (cid, score) in enumerate(scored[:k], start=1)
    ]
