"""The knowledge base as a LangChain retriever, for chains that take one (the assistant itself retrieves once
and hands the passages to its chain)."""

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.index.knowledge_base import KnowledgeBase
from assistant.retrieval.hybrid import Mode, SearchFilters, SearchHit, search


def hit_to_document(hit: SearchHit) -> Document:
    chunk = hit.chunk
    metadata = chunk.model_dump(exclude={"text"})
    metadata.update(score=hit.score, rank=hit.rank, bm25_rank=hit.bm25_rank, dense_rank=hit.dense_rank)
    return Document(page_content=chunk.text, metadata=metadata, id=chunk.chunk_id)


class HybridRetriever(BaseRetriever):
    """The knowledge base as a LangChain retriever, for chains that take one."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: KnowledgeBase
    k: int = 5
    mode: Mode = "hybrid"
    filters: SearchFilters = SearchFilters()

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit_to_document(hit) for hit in search(self.kb, query, self.k, self.mode, self.filters)]
