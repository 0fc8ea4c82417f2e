"""The stored index's layout: where each build lives, the manifest that names the live one, the Chroma client,
and reading a build's chunks and items back.

Layout under `index_dir`:
    manifest.json            the live build: documents, embedding model, Chroma collection and folder
    builds/<build_id>/       chunks.jsonl, items.jsonl, the BM25 index and term counts of that build, its
                             vector ids (vectors.json) and which lines belong to which document (layout.json)
    chroma-builds/<build_id>/  the embedded Chroma database of that build (none with a Chroma server)
    chroma/                  the embedded Chroma database of builds made before each build had its own
    embeddings.sqlite        vectors cached by (model, text hash)

With embedded Chroma every build has a Chroma folder of its own, made by copying the previous build's and
patching the copy. A running app holds its collection in memory and never sees what another process adds to a
folder it has open; a new folder, which it opens when the manifest changes, it reads as it is.
"""

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from assistant.documents.chunking import Chunk
from assistant.documents.items import PolicyItem
from assistant.documents.loaders.base import DocumentMeta
from assistant.documents.questions import AttachedQuestion
from assistant.documents.sentences import statements
from assistant.errors import Unavailable
from assistant.settings import Settings
from assistant.vocabulary import level_tier

if TYPE_CHECKING:
    import chromadb

COLLECTION_PREFIX = "policy-chunks-"
# The vectors of the questions attached to passages live in a collection of their own, one per build.
QUESTIONS_PREFIX = "policy-questions-"
# A build's folder for BM25 over its passages with their attached questions' words (`expand_passages`).
EXPANDED_BM25 = "bm25-expanded"
# The pipeline version from which chunk vectors are stored under `vector_id` (chunk id and content hash).
HASHED_VECTOR_IDS = 10


class KnowledgeBaseError(Unavailable):
    """The index is missing, stale or cannot be built; the message says what to do."""


class DocumentRecord(DocumentMeta):
    """An indexed document: its metadata, which file it came from, and how many chunks it gave."""

    doc_id: str
    file: str
    sha256: str
    chunks: int
    warnings: list[str] = []
    questions_sha256: str = ""  # of its questions file (corpus/questions/…), "" when it has none
    flagged_lines: int = 0  # lines that read as instructions to the assistant (documents/instructions.py)


class Manifest(BaseModel):
    build_id: str
    created: str
    embedding_model: str
    chunk_size: int
    pipeline_version: int
    collection: str
    documents: list[DocumentRecord]
    questions_collection: str = ""  # "" when no document has attached questions
    chroma_dir: str = ""  # the build's embedded Chroma folder under index_dir; "" for `chroma/` or a server


def chroma_client(settings: Settings, folder: str = "") -> "chromadb.ClientAPI":
    """The configured Chroma server, or the embedded Chroma in `folder` under index_dir (`chroma/` by default).
    Close it (`client.close()`) when done: chromadb keeps one database open per folder until its last client
    closes."""
    # Imported here: chromadb takes 1.3 s to import, and listing documents or a BM25 search never needs it.
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
    path = settings.index_dir / (folder or "chroma")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def build_chroma_dir(build_id: str) -> str:
    """A build's own embedded Chroma folder, relative to index_dir (as the manifest names it)."""
    return f"chroma-builds/{build_id}"


def collection_names(client: "chromadb.ClientAPI") -> list[str]:
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
    return read_models(build_dir(settings, build_id) / "chunks.jsonl", Chunk)


def read_items(settings: Settings, build_id: str) -> list[PolicyItem]:
    return read_models(build_dir(settings, build_id) / "items.jsonl", PolicyItem)


def read_questions(settings: Settings, build_id: str) -> list[AttachedQuestion]:
    return read_models(build_dir(settings, build_id) / "questions.jsonl", AttachedQuestion)


def read_models(path: Path, model: type[BaseModel]) -> list:
    """One model per line of a build's JSON-lines file; none when the file is missing (a build made before it existed)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [model.model_validate_json(line) for line in lines if line.strip()]


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
        "source": chunk.source,
    }


def vector_id(chunk: Chunk) -> str:
    """The id of a chunk's vector in Chroma: its chunk id and a hash of what was embedded and stored beside it.
    A build reuses the previous build's collection, so the old and new versions of a changed chunk live side by
    side until the old build is retired; the hash tells them apart (see KnowledgeBase.dense_search)."""
    content = chunk.index_text + "\x00" + json.dumps(chunk_metadata(chunk), sort_keys=True, ensure_ascii=False)
    return f"{chunk.chunk_id}@{hashlib.sha256(content.encode('utf-8')).hexdigest()[:16]}"


@dataclass(frozen=True)
class VectorKey:
    """One vector of a chunk in its Chroma collection: the chunk as a whole (`sentence` is None), or one of its
    stating sentences, an extra key that lets a question about one sentence of a long measure find it."""

    chunk: Chunk
    text: str  # what is embedded
    sentence: int | None = None

    @property
    def id(self) -> str:
        return vector_id(self.chunk) if self.sentence is None else f"{vector_id(self.chunk)}.{self.sentence}"


def vector_keys(chunks: list[Chunk]) -> dict[str, VectorKey]:
    """Every vector the chunks need, by id: each chunk's own, then one per stating sentence."""
    keys = {}
    for chunk in chunks:
        for key in [VectorKey(chunk, chunk.index_text), *(VectorKey(chunk, text, n) for n, text in enumerate(statements(chunk)))]:
            keys[key.id] = key
    return keys


def sentence_vector_ids(chunk_vector_ids: list[str], sentences: list[int]) -> list[str]:
    """Every vector id of the chunks: each chunk's own, then those of its `sentences[i]` sentences."""
    return [
        vid for chunk_vid, count in zip(chunk_vector_ids, sentences) for vid in (chunk_vid, *(f"{chunk_vid}.{n}" for n in range(count)))
    ]


def split_vector_id(vid: str) -> tuple[str, str, int | None]:
    """(chunk id, its vector_id, which of its sentences the vector is, None for the chunk's own): the id is
    `<chunk id>@<hash>[.<n>]`. The hash is hexadecimal, so the last `@` and the first `.` after it are ours,
    whatever the file name holds."""
    chunk_id, _, rest = vid.rpartition("@")
    content, _, sentence = rest.partition(".")
    return chunk_id, f"{chunk_id}@{content}", int(sentence) if sentence else None


def remove_stale_builds(settings: Settings, keep: Manifest | None = None) -> None:
    """Delete every build, Chroma folder and collection other than those of the live build and `keep` (earlier
    or failed builds). A collection is named after the build that created it and may serve the builds after it."""
    manifest = read_manifest(settings)
    if manifest is None:
        return
    kept = [m for m in (manifest, keep) if m is not None]
    kept_builds = {m.build_id for m in kept}
    for parent in (settings.index_dir / "builds", settings.index_dir / "chroma-builds"):
        for folder in parent.iterdir() if parent.is_dir() else []:
            if folder.name not in kept_builds:
                shutil.rmtree(folder, ignore_errors=True)
    # On a server, and in the `chroma/` folder of builds made before each had its own folder, collections are
    # shared: delete those no kept build names.
    shared = settings.chroma_host or (settings.index_dir / "chroma" / "chroma.sqlite3").exists()
    if shared:
        kept_collections = {name for m in kept for name in (m.collection, m.questions_collection) if name}
        client = chroma_client(settings)
        try:
            for name in collection_names(client):
                if name.startswith((COLLECTION_PREFIX, QUESTIONS_PREFIX)) and name not in kept_collections:
                    client.delete_collection(name)
        finally:
            client.close()
