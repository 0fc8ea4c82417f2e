"""The live build opened for search: chunks by id, policy items, the BM25 index, and the Chroma collection.

Dense search asks the Chroma collection directly rather than through langchain-chroma's vector store: the
results are the same, and a `policy-qa search` starts 0.9 s sooner without importing that wrapper.
"""

from datetime import date
from functools import cached_property

from langchain_core.embeddings import Embeddings

from assistant.documents.amendments import Amendment
from assistant.documents.approvals import approved
from assistant.documents.chunking import Chunk
from assistant.documents.items import PolicyItem
from assistant.index.embeddings import make_provider
from assistant.index.lexical import LexicalIndex, Tokenizer
from assistant.index.store import (
    EXPANDED_BM25,
    HASHED_VECTOR_IDS,
    DocumentRecord,
    KnowledgeBaseError,
    build_dir,
    chroma_client,
    read_chunks,
    read_items,
    read_manifest,
    read_questions,
    split_vector_id,
    vector_id,
)
from assistant.index.thesaurus import Thesaurus
from assistant.settings import Settings

# Vectors asked of Chroma per chunk wanted: its own and those of its sentences (2.3 a chunk in the shipped corpus).
SENTENCES_PER_CHUNK = 4


class KnowledgeBase:
    def __init__(self, settings: Settings, embedder: Embeddings | None = None):
        manifest = read_manifest(settings)
        if manifest is None:
            raise KnowledgeBaseError(f"no index in '{settings.index_dir}'; build it with: policy-qa ingest")
        if manifest.pipeline_version < HASHED_VECTOR_IDS:
            raise KnowledgeBaseError(
                f"the index in '{settings.index_dir}' was built by an older version; rebuild it with: policy-qa ingest"
            )
        self.settings = settings
        self.manifest = manifest
        self.embedder = embedder or make_provider(settings)
        model_name = getattr(self.embedder, "name", "")
        if model_name != manifest.embedding_model:
            raise KnowledgeBaseError(
                f"the index was built with {manifest.embedding_model} but the settings select {model_name}; "
                "run `policy-qa ingest` to re-embed with the new model"
            )
        self.chunks: dict[str, Chunk] = {c.chunk_id: c for c in read_chunks(settings, manifest.build_id)}
        # Chunks holding lines that read as instructions to the assistant, in documents no admin has approved:
        # search never returns them, and the policy items they hold are not matched.
        approvals = approved(settings.corpus_dir)
        sha = {d.doc_id: d.sha256 for d in manifest.documents}
        self.withheld = {c.chunk_id for c in self.chunks.values() if c.flagged and (c.doc_id, sha.get(c.doc_id)) not in approvals}
        self._hidden: tuple[str, set[str]] = ("", set())
        self._vector_ids: dict[str, str | None] = {}  # _live_vector_id's memo
        # A newer document whose header says `supersedes:` turns into amendment notes on the older clauses, and
        # search prefers the newer text to the clauses it changes.
        self.superseding_notes = [
            Amendment(
                doc_id=s.doc,
                clause=s.clause,
                change=s.change or f"已由《{record.title}》调整，以新文件为准",
                source_title=record.title,
                source_number=record.doc_number,
                effective=record.effective_date,
                recorded_by=f"ingest（{record.doc_id} 的 supersedes）",
                recorded_at=manifest.created[:10],
            )
            for record in manifest.documents
            for s in record.supersedes
        ]
        self.superseded = {
            c.chunk_id for c in self.chunks.values() for note in self.superseding_notes if note.applies_to(c.doc_id, c.section, c.text)
        }
        self._withheld_spans: dict[str, list[tuple[int, int]]] = {}
        for chunk_id in self.withheld:
            chunk = self.chunks[chunk_id]
            self._withheld_spans.setdefault(chunk.doc_id, []).append((chunk.start, chunk.end))
        self.lexical = LexicalIndex.load(build_dir(settings, manifest.build_id) / "bm25", Tokenizer(cache_dir=settings.index_dir))
        try:
            self.thesaurus = Thesaurus.load(settings.thesaurus)
        except (OSError, ValueError) as error:
            raise KnowledgeBaseError(f"the thesaurus cannot be read ({error}); fix it or unset POLICY_QA_THESAURUS") from None
        # Questions attached to passages: extra search keys, each pointing to its passage's section.
        self.questions = {q.question_id: q for q in read_questions(settings, manifest.build_id)}
        folder = build_dir(settings, manifest.build_id) / "bm25-questions"
        self.question_lexical = LexicalIndex.load(folder, self.lexical.tokenizer) if self.questions and folder.is_dir() else None

    @cached_property
    def items(self) -> list[PolicyItem]:
        """The build's policy items but those in withheld passages, read on first use: at 100,000 chunks they took
        ten seconds of the index's opening, and search and answers never need them."""
        return [
            item
            for item in read_items(self.settings, self.manifest.build_id)
            if not any(start < item.end and item.start < end for start, end in self._withheld_spans.get(item.doc_id, ()))
        ]

    def hidden(self, today: str | None = None) -> set[str]:
        """The chunks search does not return: those withheld for planted instructions, and (unless
        `include_expired`) those of documents past their 失效日期."""
        today = today or date.today().isoformat()
        if self.settings.include_expired:
            return self.withheld
        if self._hidden[0] != today:
            expired = {d.doc_id for d in self.documents if d.expiry_date and d.expiry_date < today}
            self._hidden = (today, self.withheld | {c.chunk_id for c in self.chunks.values() if c.doc_id in expired})
        return self._hidden[1]

    @cached_property
    def expanded_lexical(self) -> LexicalIndex | None:
        """BM25 over the passages with their attached questions' words (`expand_passages`), read on the first search
        that wants it; a build made before it was written, or without questions, has none, and search reads the
        passages alone."""
        folder = build_dir(self.settings, self.manifest.build_id) / EXPANDED_BM25
        return LexicalIndex.load(folder, self.lexical.tokenizer) if self.question_lexical and folder.is_dir() else None

    @cached_property
    def collection(self):
        """The build's Chroma collection, opened on the first dense search (listing documents or items, or a
        BM25 search, never loads Chroma)."""
        return self._open_collection(self.manifest.collection)

    @cached_property
    def question_collection(self):
        """The attached questions' vectors, opened on the first search that uses them."""
        return self._open_collection(self.manifest.questions_collection)

    @cached_property
    def _client(self):
        # The build's own Chroma folder (embedded), or the server.
        return chroma_client(self.settings, self.manifest.chroma_dir)

    def close(self) -> None:
        """Release the Chroma client, when one was opened: chromadb keeps a folder's database in memory until its
        last client closes, so an app that follows build after build would otherwise hold every build's."""
        client = self.__dict__.pop("_client", None)
        self.__dict__.pop("collection", None)
        self.__dict__.pop("question_collection", None)
        if client is not None:
            client.close()

    def _open_collection(self, name: str):
        try:
            return self._client.get_collection(name)
        except Exception as error:  # chromadb raises its own NotFoundError, or ValueError in older versions
            raise KnowledgeBaseError(
                f"the vector collection {name} is missing ({type(error).__name__}); rebuild it with: policy-qa ingest --rebuild"
            ) from None

    def dense_search(self, vector: list[float], n: int, where: dict | None = None) -> list[tuple[str, float]]:
        """The n chunks nearest to a query vector by their own vectors, as (chunk id, cosine similarity), best first."""
        return self.dense_rankings(vector, n, where)[0]

    def dense_rankings(
        self, vector: list[float], n: int, where: dict | None = None
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """Two rankings of chunks from one query of the collection, each as (chunk id, cosine similarity), best
        first: by the chunk's own vector, and by its nearest stating sentence. The collection may also hold
        vectors of other builds (the previous one, while running apps still read it): only this build's count."""
        # A chunk has about two sentence vectors besides its own: ask for enough to fill both rankings.
        found = self._nearest(self.collection, vector, n * SENTENCES_PER_CHUNK, where)
        chunks: list[tuple[str, float]] = []
        sentences: dict[str, float] = {}
        for vid, similarity in found:
            chunk_id, chunk_vid, sentence = split_vector_id(vid)
            if chunk_vid != self._live_vector_id(chunk_id):
                continue
            if sentence is None:
                chunks.append((chunk_id, similarity))
            elif chunk_id not in sentences:
                sentences[chunk_id] = similarity
        return chunks[:n], list(sentences.items())[:n]

    def _live_vector_id(self, chunk_id: str) -> str | None:
        """The vector id of this build's version of a chunk (None for a chunk it lacks), hashed once per chunk: a
        dense search checks some 200 hits, each of which would otherwise hash its chunk's text and metadata again."""
        if chunk_id not in self._vector_ids:
            chunk = self.chunks.get(chunk_id)
            self._vector_ids[chunk_id] = vector_id(chunk) if chunk is not None else None
        return self._vector_ids[chunk_id]

    def question_dense_search(self, vector: list[float], n: int) -> list[tuple[str, float]]:
        """The n attached questions nearest to a query vector, as (question id, cosine similarity), best first."""
        if not self.manifest.questions_collection:
            return []
        return self._nearest(self.question_collection, vector, n, None)

    @cached_property
    def questions_by_section(self) -> dict[tuple[str, str], list[str]]:
        """The attached questions' ids of each (document, section)."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for question in self.questions.values():
            grouped.setdefault((question.doc_id, question.section), []).append(question.question_id)
        return grouped

    def question_vectors(self, question_ids: list[str]) -> dict[str, list[float]]:
        """The stored vectors of these attached questions (one Chroma read, no embedding)."""
        if not question_ids or not self.manifest.questions_collection:
            return {}
        found = self.question_collection.get(ids=question_ids, include=["embeddings"])
        return dict(zip(found["ids"], found["embeddings"]))

    def question_lexical_search(self, query: str, n: int) -> list[tuple[str, float]]:
        return self.question_lexical.search(query, n) if self.question_lexical else []

    def passages_of(self, question_id: str) -> list[Chunk]:
        """The chunks of the section an attached question points to."""
        question = self.questions.get(question_id)
        return self.sections.get((question.doc_id, question.section), []) if question else []

    @staticmethod
    def _nearest(collection, vector: list[float], n: int, where: dict | None) -> list[tuple[str, float]]:
        found = collection.query(query_embeddings=[vector], n_results=n, where=where, include=["distances"])
        # Chroma returns cosine distance; similarity reads more naturally.
        return [(item_id, 1.0 - distance) for item_id, distance in zip(found["ids"][0], found["distances"][0])]

    @property
    def documents(self) -> list[DocumentRecord]:
        return self.manifest.documents

    @cached_property
    def sections(self) -> dict[tuple[str, str], list[Chunk]]:
        """The chunks of each (document, section), in document order: a measure split in two is read whole."""
        grouped: dict[tuple[str, str], list[Chunk]] = {}
        for chunk in sorted(self.chunks.values(), key=lambda c: (c.doc_id, c.start)):
            if chunk.chunk_id not in self.withheld:  # a withheld passage is never read out, whole or in part
                grouped.setdefault((chunk.doc_id, chunk.section), []).append(chunk)
        return grouped
