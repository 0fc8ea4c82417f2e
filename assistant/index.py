"""The stored index: Chroma vectors plus a BM25 index over the same chunk ids, built aside and switched in.

Layout under `index_dir`:
    manifest.json            the live build: documents, embedding model, Chroma collection name
    builds/<build_id>/       chunks.jsonl and the BM25 index of that build
    chroma/                  the embedded Chroma database (unless a Chroma server is configured)
    embeddings.sqlite        vectors cached by (model, text hash)

Every ingest writes a new build and a new collection, then replaces manifest.json in one atomic step.
A failed or interrupted ingest leaves the previous build live; its leftovers are removed next time.
Unchanged documents keep their chunks and their cached vectors, so only new text is embedded.
"""

import fcntl
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from assistant.chunking import Chunk, chunk_document
from assistant.embeddings import CachedEmbeddings, make_provider
from assistant.items import PolicyItem, extract_items
from assistant.lexical import LexicalIndex, Tokenizer
from assistant.loaders import LoadError, load_file
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.matching import ItemIndex

# Bump when loading, chunking or item extraction changes, so that unchanged files are read again.
PIPELINE_VERSION = 6
COLLECTION_PREFIX = "policy-chunks-"
# A corpus of a few thousand chunks: a wider graph search costs little and keeps dense search near-exact.
HNSW_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 200, "max_neighbors": 32}}


class KnowledgeBaseError(Exception):
    """The index is missing, stale or cannot be built; the message says what to do."""


class DocumentRecord(BaseModel):
    doc_id: str
    file: str
    sha256: str
    title: str
    doc_number: str = ""
    date: str = ""
    authority: str = ""
    level: str = ""
    region: str = ""
    chunks: int
    warnings: list[str] = []


class Manifest(BaseModel):
    build_id: str
    created: str
    embedding_model: str
    chunk_size: int
    pipeline_version: int
    collection: str
    documents: list[DocumentRecord]


@dataclass
class FileReport:
    file: str
    status: Literal["added", "changed", "unchanged", "removed", "failed"]
    chunks: int = 0
    message: str = ""


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    build_id: str | None = None  # None when nothing changed and no build was made
    embedded: int = 0  # chunks the model embedded
    cached: int = 0  # chunks whose vectors came from the cache
    chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Something is indexed from this batch (new, changed or unchanged)."""
        return any(f.status in ("added", "changed", "unchanged") for f in self.files)


def chroma_client(settings: Settings) -> chromadb.ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
    path = settings.index_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def collection_names(client: chromadb.ClientAPI) -> list[str]:
    """Names of all collections (chromadb has returned both names and Collection objects here)."""
    return sorted(c if isinstance(c, str) else c.name for c in client.list_collections())


def manifest_path(settings: Settings) -> Path:
    return settings.index_dir / "manifest.json"


def read_manifest(settings: Settings) -> Manifest | None:
    path = manifest_path(settings)
    if not path.exists():
        return None
    return Manifest.model_validate_json(path.read_text(encoding="utf-8"))


def build_dir(settings: Settings, build_id: str) -> Path:
    return settings.index_dir / "builds" / build_id


def read_chunks(settings: Settings, build_id: str) -> list[Chunk]:
    path = build_dir(settings, build_id) / "chunks.jsonl"
    with path.open(encoding="utf-8") as lines:
        return [Chunk.model_validate_json(line) for line in lines if line.strip()]


def read_items(settings: Settings, build_id: str) -> list[PolicyItem]:
    path = build_dir(settings, build_id) / "items.jsonl"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [PolicyItem.model_validate_json(line) for line in lines if line.strip()]


def chunk_metadata(chunk: Chunk) -> dict:
    """What Chroma stores beside each vector; filters use doc_id, level_tier and region."""
    return {
        "doc_id": chunk.doc_id,
        "doc_title": chunk.doc_title,
        "doc_number": chunk.doc_number,
        "section": chunk.section,
        "level_tier": level_tier(chunk.level),
        "region": chunk.region,
        "page": chunk.page if chunk.page is not None else -1,
    }


def level_tier(level: str) -> str:
    """"国家/法律" → "国家": the administrative level, without the kind of document."""
    return level.split("/", 1)[0]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise KnowledgeBaseError(f"corpus folder '{corpus_dir}' does not exist; create it or set POLICY_QA_CORPUS_DIR")
    return sorted(
        path
        for path in corpus_dir.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(corpus_dir).parts)
    )


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KnowledgeBaseError("another ingest is running on this index; wait for it to finish") from None
        yield


@dataclass
class _Plan:
    """What the new build will hold, document by document."""

    records: list[DocumentRecord] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    items: list[PolicyItem] = field(default_factory=list)
    report: IngestReport = field(default_factory=IngestReport)

    @property
    def changed(self) -> bool:
        return any(f.status in ("added", "changed", "removed") for f in self.report.files)

    def keep(self, record: DocumentRecord, chunks: list[Chunk], items: list[PolicyItem]) -> None:
        self.records.append(record)
        self.chunks.extend(chunks)
        self.items.extend(items)


def plan_ingest(settings: Settings, previous: Manifest | None, model_name: str) -> _Plan:
    """Load new and changed files, reuse the chunks of unchanged ones, note failures and removals."""
    reusable = previous is not None and (
        previous.embedding_model == model_name
        and previous.chunk_size == settings.chunk_size
        and previous.pipeline_version == PIPELINE_VERSION
    )
    old_records = {r.doc_id: r for r in previous.documents} if previous else {}
    old_chunks: dict[str, list[Chunk]] = {}
    old_items: dict[str, list[PolicyItem]] = {}
    if previous:
        for chunk in read_chunks(settings, previous.build_id):
            old_chunks.setdefault(chunk.doc_id, []).append(chunk)
        for item in read_items(settings, previous.build_id):
            old_items.setdefault(item.doc_id, []).append(item)

    plan = _Plan()
    seen: set[str] = set()
    for path in corpus_files(settings.corpus_dir):
        doc_id = path.relative_to(settings.corpus_dir).as_posix()
        seen.add(doc_id)
        sha = file_sha256(path)
        old = old_records.get(doc_id)
        if reusable and old and old.sha256 == sha:
            plan.keep(old, old_chunks.get(doc_id, []), old_items.get(doc_id, []))
            plan.report.files.append(FileReport(doc_id, "unchanged", old.chunks))
            continue
        try:
            document = load_file(path)
            chunks = chunk_document(document, doc_id, settings.chunk_size)
            if not chunks:
                raise LoadError(f"{path.name}: no text to index")
        except LoadError as error:
            plan.report.files.append(_failure(str(error), doc_id, old if reusable else None, (old_chunks, old_items), plan))
            continue
        except Exception as error:  # a bug or a library error on one file must not stop the batch
            reason = f"{path.name}: unexpected error while reading ({error.__class__.__name__}: {error})"
            plan.report.files.append(_failure(reason, doc_id, old if reusable else None, (old_chunks, old_items), plan))
            continue
        record = DocumentRecord(
            doc_id=doc_id,
            file=doc_id,
            sha256=sha,
            title=document.title,
            doc_number=document.doc_number,
            date=document.date,
            authority=document.authority,
            level=document.level,
            region=document.region,
            chunks=len(chunks),
            warnings=document.warnings,
        )
        plan.keep(record, chunks, policy_items(settings, document, doc_id, chunks))
        status = "changed" if old else "added"
        plan.report.files.append(FileReport(doc_id, status, len(chunks), "; ".join(document.warnings)))
    for doc_id in sorted(set(old_records) - seen):
        plan.report.files.append(FileReport(doc_id, "removed", old_records[doc_id].chunks))
    return plan


def policy_items(settings: Settings, document, doc_id: str, chunks: list[Chunk]) -> list[PolicyItem]:
    items = extract_items(document, doc_id, chunks)
    if settings.refine_items and settings.llm_configured:
        from assistant.llm import chat_model
        from assistant.refine import refine_items

        items = refine_items(chat_model(settings), items)
    return items


def _failure(reason: str, doc_id: str, old: DocumentRecord | None, old_parts: tuple[dict, dict], plan: _Plan) -> FileReport:
    if old is None:
        return FileReport(doc_id, "failed", 0, reason)
    # Losing nothing: the version indexed before stays searchable until the file is fixed.
    old_chunks, old_items = old_parts
    plan.keep(old, old_chunks.get(doc_id, []), old_items.get(doc_id, []))
    return FileReport(doc_id, "failed", old.chunks, f"{reason} (the previously indexed version is kept)")


def ingest(settings: Settings, rebuild: bool = False, progress: bool = False) -> IngestReport:
    started = time.perf_counter()
    with ingest_lock(settings):
        provider = make_provider(settings)
        embedder = CachedEmbeddings(provider, settings.embedding_cache_path, settings.embedding_batch_size, progress)
        previous = read_manifest(settings)
        plan = plan_ingest(settings, None if rebuild else previous, embedder.name)
        report = plan.report
        report.chunks = len(plan.chunks)
        if not plan.records:
            report.seconds = time.perf_counter() - started
            return report  # nothing could be indexed: the previous index (if any) stays as it is
        if previous and not rebuild and not plan.changed:
            report.seconds = time.perf_counter() - started
            return report
        client = chroma_client(settings)
        report.build_id = write_build(settings, client, embedder, plan)
        report.embedded, report.cached = embedder.misses, embedder.hits
        # The build just replaced stays one more round: a running app may still be answering from it.
        remove_stale_builds(settings, client, keep=previous.build_id if previous else None)
    report.seconds = time.perf_counter() - started
    return report


def write_build(settings: Settings, client: chromadb.ClientAPI, embedder: CachedEmbeddings, plan: _Plan) -> str:
    build_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    collection_name = COLLECTION_PREFIX + build_id
    folder = build_dir(settings, build_id)
    try:
        vectors = embedder.embed_documents([chunk.index_text for chunk in plan.chunks])
        collection = client.create_collection(collection_name, configuration=HNSW_CONFIGURATION, embedding_function=None)
        for start in range(0, len(plan.chunks), 500):
            batch = plan.chunks[start : start + 500]
            collection.add(
                ids=[c.chunk_id for c in batch],
                embeddings=vectors[start : start + 500],
                documents=[c.text for c in batch],
                metadatas=[chunk_metadata(c) for c in batch],
            )
        folder.mkdir(parents=True)
        with (folder / "chunks.jsonl").open("w", encoding="utf-8") as out:
            for chunk in plan.chunks:
                out.write(chunk.model_dump_json() + "\n")
        with (folder / "items.jsonl").open("w", encoding="utf-8") as out:
            for item in plan.items:
                out.write(item.model_dump_json() + "\n")
        lexical = LexicalIndex.build([c.chunk_id for c in plan.chunks], [c.index_text for c in plan.chunks], Tokenizer())
        lexical.save(folder / "bm25")
        manifest = Manifest(
            build_id=build_id,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            embedding_model=embedder.name,
            chunk_size=settings.chunk_size,
            pipeline_version=PIPELINE_VERSION,
            collection=collection_name,
            documents=plan.records,
        )
        temporary = manifest_path(settings).with_suffix(".json.tmp")
        temporary.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        os.replace(temporary, manifest_path(settings))  # the switch: atomic on POSIX
    except BaseException:
        # The manifest still names the previous build; drop this one's pieces.
        shutil.rmtree(folder, ignore_errors=True)
        try:
            client.delete_collection(collection_name)
        except Exception:
            pass
        raise
    return build_id


def remove_stale_builds(settings: Settings, client: chromadb.ClientAPI, keep: str | None = None) -> None:
    """Delete every build and collection other than the live one and `keep` (earlier or failed builds)."""
    manifest = read_manifest(settings)
    if manifest is None:
        return
    kept = {manifest.build_id, keep}
    for name in collection_names(client):
        if name.startswith(COLLECTION_PREFIX) and name.removeprefix(COLLECTION_PREFIX) not in kept:
            client.delete_collection(name)
    builds = settings.index_dir / "builds"
    for folder in builds.iterdir() if builds.is_dir() else []:
        if folder.name not in kept:
            shutil.rmtree(folder, ignore_errors=True)


class KnowledgeBase:
    """The live build, opened for search: chunks by id, the BM25 index, and the Chroma collection."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None):
        manifest = read_manifest(settings)
        if manifest is None:
            raise KnowledgeBaseError(f"no index in '{settings.index_dir}'; build it with: policy-qa ingest")
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
        self.items: list[PolicyItem] = read_items(settings, manifest.build_id)
        self.lexical = LexicalIndex.load(build_dir(settings, manifest.build_id) / "bm25", Tokenizer())
        self.vectors = Chroma(
            client=chroma_client(settings),
            collection_name=manifest.collection,
            embedding_function=self.embedder,
            create_collection_if_not_exists=False,
        )

    @property
    def documents(self) -> list[DocumentRecord]:
        return self.manifest.documents

    @cached_property
    def item_index(self) -> "ItemIndex":
        """BM25 over the policy items, built once per opened index (matching ranks by it)."""
        from assistant.matching import ItemIndex

        return ItemIndex(self.items, self.lexical.tokenizer)
