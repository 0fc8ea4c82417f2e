"""The baseline a team builds first from the LangChain RAG tutorial, to measure our design choices against:
`RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)` with its default separators, dense-only
top-5 search with the same embedding model, in a Chroma collection of its own.

Its answers come from the tutorial's "stuff" prompt when a language model is configured, else from our
extractive answerer run over its passages (so the comparison isolates chunking and retrieval).
"""

import hashlib
import time

from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant.answering.answer import Answer, Assistant, is_refusal, passages
from assistant.answering.llm import chat_model
from assistant.documents.chunking import Chunk
from assistant.documents.loaders import load_file
from assistant.index.embeddings import CachedEmbeddings
from assistant.index.store import chroma_client, collection_names
from assistant.retrieval.hybrid import SearchHit
from assistant.service.service import Service

PREFIX = "baseline-"
# The tutorial's prompt, in Chinese for Chinese documents.
TUTORIAL_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "你是问答助手。请根据以下检索到的内容回答问题。如果不知道答案，就说不知道。最多用三句话，回答要简洁。\n\n{context}"),
        ("human", "{question}"),
    ]
)


def split_corpus(assistant: Assistant) -> list[Chunk]:
    """The indexed documents, split as the tutorial does; offsets kept so that quotes can be checked."""
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50, add_start_index=True)
    chunks: list[Chunk] = []
    for record in assistant.kb.documents:
        document = load_file(assistant.settings.corpus_dir / record.file)
        pieces = splitter.split_documents([Document(page_content=document.text)])
        for n, piece in enumerate(pieces):
            start = piece.metadata["start_index"]
            chunks.append(
                Chunk(
                    chunk_id=f"{record.doc_id}#b{n:04d}",
                    doc_id=record.doc_id,
                    doc_title=record.title,
                    doc_number=record.doc_number,
                    date=record.date,
                    start=start,
                    end=start + len(piece.page_content),
                    text=piece.page_content,
                )
            )
    return chunks


class Baseline:
    def __init__(self, service: Service):
        # The baseline shares our index's documents, embedding model and extractive answerer.
        assistant = service.assistant
        self.assistant = assistant
        settings = assistant.settings
        self.chunks = {c.chunk_id: c for c in split_corpus(assistant)}
        embedder = CachedEmbeddings(assistant.kb.embedder, settings.embedding_cache_path, settings.embedding_batch_size)
        signature = hashlib.sha256("\n".join([embedder.name, *(c.chunk_id + c.text for c in self.chunks.values())]).encode()).hexdigest()
        name = PREFIX + signature[:16]
        client = chroma_client(settings)
        for old in collection_names(client):
            if old.startswith(PREFIX) and old != name:
                client.delete_collection(old)  # made for an earlier corpus or model
        self.store = Chroma(client=client, collection_name=name, embedding_function=embedder)
        if client.get_collection(name).count() != len(self.chunks):
            ids = list(self.chunks)
            self.store.add_texts([self.chunks[i].text for i in ids], ids=ids, metadatas=[{"doc_id": self.chunks[i].doc_id} for i in ids])

    def search(self, question: str, k: int = 5) -> list[SearchHit]:
        results = self.store.similarity_search_with_score(question, k=k)
        return [SearchHit(self.chunks[doc.id], rank, -distance) for rank, (doc, distance) in enumerate(results, start=1)]

    def answer(self, question: str, mode: str) -> Answer:
        started = time.perf_counter()
        hits = self.search(question, k=5)
        if mode == "llm":
            context = "\n\n".join(h.chunk.text for h in hits)
            text = (TUTORIAL_PROMPT | chat_model(self.assistant.settings) | StrOutputParser()).invoke(
                {"context": context, "question": question}
            )
            refused, citations = is_refusal(text) or "不知道" in text[:30], []
        else:
            result = self.assistant.extractor.answer(question, hits, self.assistant.settings.refusal_threshold)
            text, refused, citations = result.answer, result.refused, result.citations
        return Answer(
            question=question,
            answer=text,
            mode="llm" if mode == "llm" else "extractive",
            refused=refused,
            citations=citations,
            retrieved=passages(hits),
            timings_ms={"total": round((time.perf_counter() - started) * 1000, 1)},
            standalone_question=question,
        )
