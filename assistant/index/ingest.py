"""The ingest pipeline: read the corpus, chunk it, extract policy items, embed, and switch in a new build.

Every ingest writes a new build, then replaces manifest.json in one atomic step. On a Chroma server its vectors
go into the previous build's collection beside the previous build's own (which stay until the build after); with
embedded Chroma into a copy of the previous build's Chroma folder, patched (a running app opens the new folder
when the manifest changes). When most of the corpus changed, a new collection is built instead. A failed or
interrupted ingest leaves the previous build live; its leftovers are removed then or next time. Unchanged
documents keep their lines, vectors and BM25 term counts (assistant/index/previous.py), so only new text is
parsed, embedded and tokenised, and an ingest that finds every file unchanged reads nothing of the previous build.
Enrichment steps that need later stages (the language model's tag refinement) come in as `enrich`.
"""

import fcntl
import hashlib
import json
import os
import posixpath
import shutil
import stat
import subprocess
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from assistant.documents.amendments import AMENDMENTS_FILE
from assistant.documents.approvals import APPROVALS_FILE
from assistant.documents.attachments import HTML_SUFFIXES, inherit, linked_files
from assistant.documents.chunking import Chunk, chunk_document
from assistant.documents.instructions import PlantedLine, describe, planted_lines, why_planted
from assistant.documents.items import PolicyItem, extract_items
from assistant.documents.loaders import LoadError
from assistant.documents.loaders.base import LoadedDocument, LoadOptions
from assistant.documents.loaders.isolated import IsolatedLoader
from assistant.documents.questions import QUESTIONS_FOLDER, AttachedQuestion, match_sections, questions_file, read_questions_file
from assistant.documents.sentences import statements
from assistant.index.embeddings import CachedEmbeddings, make_provider
from assistant.index.lexical import LexicalIndex, TermCounts, Tokenizer
from assistant.index.previous import PART_FILES, PreviousBuild
from assistant.index.store import (
    COLLECTION_PREFIX,
    EXPANDED_BM25,
    QUESTIONS_PREFIX,
    DocumentRecord,
    KnowledgeBaseError,
    Manifest,
    VectorKey,
    build_chroma_dir,
    build_dir,
    chroma_client,
    chunk_metadata,
    collection_names,
    manifest_path,
    read_manifest,
    remove_stale_builds,
    sentence_vector_ids,
    split_vector_id,
    vector_id,
    vector_keys,
)
from assistant.settings import Settings

if TYPE_CHECKING:
    import chromadb

# Files of the corpus folder that are data about the documents, not documents.
CORPUS_DATA_FILES = {AMENDMENTS_FILE, APPROVALS_FILE}
# Bump when loading, chunking or item extraction changes, so that unchanged files are read again.
PIPELINE_VERSION = (
    18  # 10: chunk vectors under vector_id (store.HASHED_VECTOR_IDS); 11: the 小型微利企业 item tag; 12: OCR marks on chunks;
)
# 13: each stating sentence of a chunk is a vector of its own (store.VectorKey); 14: a notice's frame is no statement;
# 15: an item's groups, industries and benefits are not read from its 责任单位 line, whose units end at its first 。
# 16: a 责任单位 line wrapped after its lead units is joined with the cooperating units; 17: nor its places;
# 18: the 园区企业 tag only for a measure addressed to a park's enterprises
# How widely Chroma's graph search looks. A search asks for up to 300 vectors (100 candidates, each with its
# sentences); at 200 the far ones differed from an exact search, and from one process to the next (19 of 36
# matching needs), so matching figures moved between runs. At 1000 it finds the exact nearest vectors of this
# corpus in 98 searches of 100 (README "Exact dense search"; "Scale" was measured at 200).
SEARCH_WIDTH = 1000
HNSW_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": SEARCH_WIDTH, "max_neighbors": 32}}

# A step applied to the policy items of each new or changed document (e.g. the model's tag refinement).
Enrich = Callable[[list[PolicyItem]], list[PolicyItem]]
# Writes questions for the items of a new or changed document that has no questions file (a language model).
QuestionWriter = Callable[[list[PolicyItem]], list[AttachedQuestion]]


@dataclass
class FileReport:
    file: str
    status: Literal["added", "changed", "unchanged", "removed", "failed", "skipped", "duplicate"]
    chunks: int = 0
    message: str = ""


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    build_id: str | None = None  # None when nothing changed and no build was made
    embedded: int = 0  # chunks the model embedded
    cached: int = 0  # chunks whose vectors came from the cache
    reused: int = 0  # chunks whose vectors were already in the reused collection (neither embedded nor looked up)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Something is indexed from this batch (new, changed or unchanged)."""
        return any(f.status in ("added", "changed", "unchanged") for f in self.files)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The documents: every regular file below the corpus folder but hidden ones and the attached questions."""
    return scan_corpus(corpus_dir)[0]


def scan_corpus(corpus_dir: Path) -> tuple[list[Path], list[FileReport]]:
    """The documents to read, and a `skipped` report line for every other entry that is not the attached
    questions: hidden files, links that lead outside the corpus, special files (FIFOs, sockets, devices), names
    with control characters. Nothing is opened here, so a FIFO cannot block the scan."""
    if not corpus_dir.is_dir():
        raise KnowledgeBaseError(f"corpus folder '{corpus_dir}' does not exist; create it or set POLICY_QA_CORPUS_DIR")
    root = corpus_dir.resolve()
    files: list[Path] = []
    skipped: list[FileReport] = []
    for path in sorted(corpus_dir.rglob("*"), key=lambda p: p.parts):
        name = doc_id_of(corpus_dir, path)
        mode = lstat_mode(path)
        if name.split("/")[0] == QUESTIONS_FOLDER or name in CORPUS_DATA_FILES or stat.S_ISDIR(mode):
            continue
        reason = skip_reason(path, name, mode, root)
        if reason:
            skipped.append(FileReport(name, "skipped", 0, reason))
        else:
            files.append(path)
    return files, skipped


def doc_id_of(corpus_dir: Path, path: Path) -> str:
    """A file's id: its path below the corpus folder. Cut from the string (pathlib's relative_to took most of a
    second over 10,000 files); the paths come from corpus_dir.rglob, so they start with it."""
    prefix, text = str(corpus_dir).rstrip("/") + "/", str(path)
    return text[len(prefix) :] if text.startswith(prefix) else path.relative_to(corpus_dir).as_posix()


def lstat_mode(path: Path) -> int:
    """The entry's own type and permissions (one system call; 0 for an entry gone since it was listed)."""
    try:
        return path.lstat().st_mode
    except OSError:
        return 0


def skip_reason(path: Path, name: str, mode: int, root: Path) -> str:
    """Why a corpus entry is not read, or "" for a regular document file."""
    if has_control_characters(name):
        return "the file name holds a control character (such as a newline); rename the file"
    if any(part.startswith(".") for part in name.split("/")):
        return "hidden file (its name starts with '.'); rename it to index it"
    if stat.S_ISLNK(mode):
        target = path.resolve()
        if not target.is_relative_to(root):
            return f"a link to '{target}', outside the corpus folder; copy the file into the corpus instead"
        if not path.is_file():
            return "not a regular file (a FIFO, socket, device or broken link)"
    elif not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket, device or broken link)"
    return ""


def has_control_characters(name: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in name)


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
    """What the new build will hold, document by document: new parts, or (None) the previous build's."""

    old: PreviousBuild | None = None
    entries: list[tuple[DocumentRecord, tuple[list[Chunk], list[PolicyItem], list[AttachedQuestion]] | None]] = field(default_factory=list)
    report: IngestReport = field(default_factory=IngestReport)

    @property
    def changed(self) -> bool:
        return any(f.status in ("added", "changed", "removed") for f in self.report.files)

    @property
    def records(self) -> list[DocumentRecord]:
        return [record for record, _ in self.entries]

    def keep(self, record: DocumentRecord, chunks: list[Chunk], items: list[PolicyItem], questions: list[AttachedQuestion]) -> None:
        self.entries.append((record, (chunks, items, questions)))

    def keep_old(self, record: DocumentRecord) -> None:
        self.entries.append((record, None))


@dataclass
class _Rows:
    """The new build's rows: chunks.jsonl, items.jsonl and questions.jsonl lines (bytes), each chunk's vector id
    and BM25 term counts, and how many lines of each file each document has (layout.json). Unchanged documents'
    lines come from the previous build as they are."""

    lines: dict[str, list[bytes]] = field(default_factory=lambda: {name: [] for name in PART_FILES})
    vector_ids: list[str] = field(default_factory=list)
    sentences: list[int] = field(default_factory=list)  # each chunk's number of sentence vectors
    layout: list[list] = field(default_factory=list)
    new_chunks: dict[str, Chunk] = field(default_factory=dict)  # by vector id, those of new and changed documents
    counts: TermCounts | None = None
    keys: dict[str, VectorKey] = field(default_factory=dict)  # key()'s memo, by vector id

    def chunk(self, vid: str) -> Chunk:
        """A chunk by its vector id: parsed from its line when it comes from the previous build."""
        if vid in self.new_chunks:
            return self.new_chunks[vid]
        return Chunk.model_validate_json(self.lines["chunks"][self._row[vid]])

    @cached_property
    def all_vector_ids(self) -> list[str]:
        """Every vector the build's collection holds for it: each chunk's own, then its sentences'."""
        return sentence_vector_ids(self.vector_ids, self.sentences)

    def key(self, vid: str) -> VectorKey:
        """What a vector id stands for: a chunk, or one of its sentences. A chunk's keys are made together, once
        (splitting it into sentences for each of them would repeat the work a few times per chunk)."""
        if vid not in self.keys:
            self.keys.update(vector_keys([self.chunk(split_vector_id(vid)[1])]))
        return self.keys[vid]

    @cached_property
    def _row(self) -> dict[str, int]:
        return {vid: row for row, vid in enumerate(self.vector_ids)}

    @cached_property
    def chunk_ids(self) -> list[str]:
        return [vid.rpartition("@")[0] for vid in self.vector_ids]

    @cached_property
    def questions(self) -> list[AttachedQuestion]:
        return [AttachedQuestion.model_validate_json(line) for line in self.lines["questions"]]


def json_line(model: Any) -> bytes:
    return model.model_dump_json().encode("utf-8") + b"\n"


def build_rows(plan: _Plan, tokenizer: Tokenizer) -> _Rows:
    """The new build's rows: the previous build's for unchanged documents, new ones (tokenised here) for the rest.
    The term counts are the previous build's rows that stay, then the new rows, put in the build's order."""
    rows = _Rows()
    new_tokens: list[list[str]] = []
    order: list[int] = []  # each row's row in the previous build's counts, or -1 - its row in new_tokens
    for record, parts in plan.entries:
        if parts is None:
            old = plan.old.of(record.doc_id)  # type: ignore[union-attr]
            for name in PART_FILES:
                rows.lines[name] += old.lines[name]
            rows.vector_ids += plan.old.vector_ids_of(old.rows)  # type: ignore[union-attr]
            rows.sentences += plan.old.sentence_counts_of(old.rows)  # type: ignore[union-attr]
            order += old.rows
            counts = [len(old.lines[name]) for name in PART_FILES]
        else:
            chunks, items, questions = parts
            for chunk in chunks:
                vid = vector_id(chunk)
                rows.vector_ids.append(vid)
                rows.sentences.append(len(statements(chunk)))
                rows.new_chunks[vid] = chunk
                rows.lines["chunks"].append(json_line(chunk))
                order.append(-1 - len(new_tokens))
                new_tokens.append(tokenizer(chunk.index_text))
            rows.lines["items"] += [json_line(item) for item in items]
            rows.lines["questions"] += [json_line(question) for question in questions]
            counts = [len(chunks), len(items), len(questions)]
        rows.layout.append([record.doc_id, *counts])
    fresh = TermCounts.count(new_tokens)
    if len(new_tokens) == len(order):
        rows.counts = fresh
        return rows
    old_counts = plan.old.term_counts(tokenizer)  # type: ignore[union-attr]
    selected = np.array(order, dtype=np.int64)
    selected[selected < 0] = old_counts.matrix.shape[0] - 1 - selected[selected < 0]
    rows.counts = old_counts.stack(fresh).rows(selected).compact()
    return rows


def load_options(settings: Settings) -> LoadOptions:
    return LoadOptions(
        ocr_cache=settings.ocr_cache_path,
        ocr_dpi=settings.ocr_dpi,
        max_ocr_pages=settings.max_ocr_pages,
        max_image_pixels=settings.max_image_pixels,
        low_confidence=settings.ocr_low_confidence,
        # LibreOffice must give up before the worker is killed, or its process would outlive the worker.
        convert_seconds=settings.max_file_seconds * 0.8,
    )


def plan_ingest(
    settings: Settings,
    previous: Manifest | None,
    model_name: str,
    enrich: Enrich | None = None,
    write_questions: QuestionWriter | None = None,
    progress: bool = False,
) -> _Plan:
    options = load_options(settings)
    with IsolatedLoader(settings.max_file_seconds, options, settings.ocr_page_seconds, progress) as loader:
        return read_corpus(settings, previous, model_name, loader, enrich, write_questions)


def read_corpus(
    settings: Settings,
    previous: Manifest | None,
    model_name: str,
    loader: IsolatedLoader,
    enrich: Enrich | None = None,
    write_questions: QuestionWriter | None = None,
) -> _Plan:
    """Load new and changed files, reuse the chunks of unchanged ones, note failures and removals."""
    reusable = previous is not None and (
        previous.embedding_model == model_name
        and previous.chunk_size == settings.chunk_size
        and previous.pipeline_version == PIPELINE_VERSION
    )
    old_records = {r.doc_id: r for r in previous.documents} if previous else {}
    plan = _Plan(old=PreviousBuild(settings, previous) if previous else None)
    seen: set[str] = set()
    files, skipped = scan_corpus(settings.corpus_dir)
    plan.report.files.extend(skipped)
    hashes, keepers = content_hashes(settings, files, old_records)
    notices, attachments = read_notices(settings, files, hashes, keepers, loader)
    with_questions = questions_files(settings.corpus_dir)

    def notice_changed(doc_id: str) -> bool:
        """The notice an attachment takes its metadata from is new or changed."""
        notice_id = attachments.get(doc_id, ("", ""))[0]
        return bool(notice_id) and (notice_id not in old_records or old_records[notice_id].sha256 != hashes.get(notice_id))

    for path in files:
        doc_id = doc_id_of(settings.corpus_dir, path)
        seen.add(doc_id)
        sha = hashes.get(doc_id)
        if sha is None:
            size_mb = path.stat().st_size / 1_000_000
            reason = f"{path.name}: {size_mb:.1f} MB is over the {settings.max_file_mb:g} MB limit per file (POLICY_QA_MAX_FILE_MB)"
            old = old_records.get(doc_id)
            plan.report.files.append(_failure(reason, doc_id, old if reusable else None, plan))
            continue
        if keepers[sha] != doc_id:
            message = f"the same content as {keepers[sha]}, which is indexed; delete one of the two"
            plan.report.files.append(FileReport(doc_id, "duplicate", 0, message))
            continue
        attached = questions_file(settings.corpus_dir, doc_id) if may_have_questions(doc_id, with_questions) else None
        questions_sha = file_sha256(attached) if attached in with_questions.values() else ""
        old = old_records.get(doc_id)
        if reusable and old and old.sha256 == sha and old.questions_sha256 == questions_sha and not notice_changed(doc_id):
            plan.keep_old(old)
            plan.report.files.append(FileReport(doc_id, "unchanged", old.chunks))
            continue
        try:
            document = notices.get(doc_id) or loader.load(path)
            if isinstance(document, LoadError):
                raise document
            if doc_id in attachments:
                notice_id, link_text = attachments[doc_id]
                document = inherit(document, notices[notice_id], link_text)
            chunks = chunk_document(document, doc_id, settings.chunk_size)
            if not chunks:
                raise LoadError(f"{path.name}: no text to index")
        except LoadError as error:
            plan.report.files.append(_failure(str(error), doc_id, old if reusable else None, plan))
            continue
        except Exception as error:  # a bug or a library error on one file must not stop the batch
            reason = f"{path.name}: unexpected error while reading ({error.__class__.__name__}: {error})"
            plan.report.files.append(_failure(reason, doc_id, old if reusable else None, plan))
            continue
        planted = planted_lines(document.text) + planted_metadata(document)
        flag_chunks(chunks, planted)
        record = DocumentRecord(
            doc_id=doc_id,
            file=doc_id,
            sha256=sha,
            chunks=len(chunks),
            warnings=document.warnings,
            questions_sha256=questions_sha,
            flagged_lines=len(planted),
            **document.meta(),
        )
        items = extract_items(document, doc_id, chunks)
        questions, problems = attached_questions(attached, doc_id, bool(questions_sha)) if attached else ([], [])
        if not questions and not problems and write_questions:
            questions = write_questions(items)
        sections = {chunk.section for chunk in chunks}
        questions = match_sections(questions, sections)
        orphans = sum(1 for q in questions if q.section not in sections)
        warnings = [*document.warnings, *problems] + ([f"{orphans} attached questions name no section of the document"] if orphans else [])
        if planted:
            warnings.append(describe(planted))
        plan.keep(record, chunks, enrich(items) if enrich else items, [q for q in questions if q.section in sections])
        status = "changed" if old else "added"
        plan.report.files.append(FileReport(doc_id, status, len(chunks), "; ".join(warnings)))
    for doc_id in sorted(set(old_records) - seen):
        plan.report.files.append(FileReport(doc_id, "removed", old_records[doc_id].chunks))
    return plan


def questions_files(corpus_dir: Path) -> dict[str, Path]:
    """The attached questions files by their name without `.jsonl`, listed once: building and asking for each
    document's questions path took most of a second over 10,000 documents."""
    folder = corpus_dir / QUESTIONS_FOLDER
    return {doc_id_of(folder, path)[: -len(".jsonl")]: path for path in folder.rglob("*.jsonl")}


def may_have_questions(doc_id: str, listed: dict[str, Path]) -> bool:
    """Whether a questions file may be a document's (questions_file says which path is): its name without
    suffix is listed, or its name ends in a way splitext and pathlib read differently."""
    return bool(listed) and (posixpath.splitext(doc_id)[0] in listed or doc_id.endswith("."))


def read_notices(
    settings: Settings, files: list[Path], hashes: dict[str, str], keepers: dict[str, str], loader: IsolatedLoader
) -> tuple[dict[str, LoadedDocument | LoadError], dict[str, tuple[str, str]]]:
    """The HTML pages, read first (cheaply) because an attachment they link takes their metadata: each page
    read (or why not), and for each attached document its notice and the link's text."""
    notices: dict[str, LoadedDocument | LoadError] = {}
    attached: dict[str, tuple[str, str]] = {}
    documents = {doc_id for doc_id, sha in hashes.items() if keepers.get(sha) == doc_id}
    for path in files:
        doc_id = doc_id_of(settings.corpus_dir, path)
        if doc_id not in documents or not doc_id.lower().endswith(HTML_SUFFIXES):
            continue
        try:
            notices[doc_id] = loader.load(path)
        except LoadError as error:
            notices[doc_id] = error
            continue
        except Exception as error:  # reported when the page's turn comes, like any other file's failure
            notices[doc_id] = LoadError(f"{path.name}: unexpected error while reading ({error.__class__.__name__}: {error})")
            continue
        for attachment, text in linked_files(doc_id, notices[doc_id], documents).items():
            attached.setdefault(attachment, (doc_id, text))
    return notices, attached


def content_hashes(settings: Settings, files: list[Path], old_records: dict[str, DocumentRecord]) -> tuple[dict[str, str], dict[str, str]]:
    """Each file's content hash (none for a file over the size limit, which is not read), and for each hash the
    one document indexed with it: the one already indexed with that content, else the first by name."""
    hashes = {}
    for path in files:
        if path.stat().st_size <= settings.max_file_mb * 1_000_000:
            hashes[doc_id_of(settings.corpus_dir, path)] = file_sha256(path)

    def indexed_with(doc_id: str, sha: str) -> bool:
        old = old_records.get(doc_id)
        return old is not None and old.sha256 == sha

    keepers: dict[str, str] = {}
    for doc_id, sha in hashes.items():  # in name order
        keeper = keepers.setdefault(sha, doc_id)
        if keeper != doc_id and indexed_with(doc_id, sha) and not indexed_with(keeper, sha):
            keepers[sha] = doc_id
    return hashes, keepers


def planted_metadata(document: LoadedDocument) -> list[PlantedLine]:
    """A title, 文号 or authority that reads as an instruction is copied into every passage: it withholds the
    whole document (the line spans all of its text)."""
    found = []
    for name in ("title", "doc_number", "authority", "level", "region"):
        value = str(getattr(document, name) or "")
        why = why_planted(value)
        if why:
            found.append(PlantedLine(0, 0, len(document.text), f"{name}: {value}", why))
    return found


def flag_chunks(chunks: list[Chunk], planted: list[PlantedLine]) -> None:
    """Mark each chunk that holds a planted line with why (search keeps such chunks out of answers)."""
    for chunk in chunks:
        reasons = [p.why for p in planted if p.start < chunk.end and chunk.start < p.end]
        if reasons:
            chunk.flagged = "; ".join(dict.fromkeys(reasons))


def attached_questions(path: Path, doc_id: str, exists: bool) -> tuple[list[AttachedQuestion], list[str]]:
    """A document's questions file, read; a malformed one costs the document its questions, not its place in
    the index, and the report says which line to fix."""
    if not exists:
        return [], []
    try:
        return read_questions_file(path, doc_id), []
    except LoadError as error:
        return [], [f"{error}; the document is indexed without its attached questions"]


def _failure(reason: str, doc_id: str, old: DocumentRecord | None, plan: _Plan) -> FileReport:
    if old is None:
        return FileReport(doc_id, "failed", 0, reason)
    # Losing nothing: the version indexed before stays searchable until the file is fixed.
    plan.keep_old(old)
    return FileReport(doc_id, "failed", old.chunks, f"{reason} (the previously indexed version is kept)")


def ingest(
    settings: Settings,
    rebuild: bool = False,
    progress: bool = False,
    enrich: Enrich | None = None,
    write_questions: QuestionWriter | None = None,
) -> IngestReport:
    started = time.perf_counter()
    with ingest_lock(settings):
        provider = make_provider(settings)
        embedder = CachedEmbeddings(provider, settings.embedding_cache_path, settings.embedding_batch_size, progress)
        previous = read_manifest(settings)
        plan = plan_ingest(settings, None if rebuild else previous, embedder.name, enrich, write_questions, progress)
        report = plan.report
        report.chunks = sum(record.chunks for record in plan.records)
        # Nothing could be indexed, or nothing changed: the previous index (if any) stays as it is.
        if plan.records and (rebuild or previous is None or plan.changed or outdated(settings, previous)):
            report.build_id = write_build(settings, embedder, plan, None if rebuild else previous)
            report.embedded, report.cached = embedder.misses, embedder.hits
            # The build just replaced stays one more round: a running app may still be answering from it.
            remove_stale_builds(settings, keep=previous)
    report.seconds = time.perf_counter() - started
    return report


def outdated(settings: Settings, manifest: Manifest) -> bool:
    """The live build lacks what this version writes into every build; the next ingest writes a new one, every
    vector and term count reused, even when no document changed."""
    return lacks_expanded_bm25(settings, manifest) or searches_narrowly(settings, manifest)


def search_width(collection) -> int:
    """How widely a collection's graph search looks (a collection without an HNSW graph counts as wide enough)."""
    return (collection.configuration_json.get("hnsw") or {}).get("ef_search", SEARCH_WIDTH)


def widen_search(collection) -> None:
    """A collection written before SEARCH_WIDTH searches as widely as a new one."""
    if search_width(collection) < SEARCH_WIDTH:
        collection.modify(configuration={"hnsw": {"ef_search": SEARCH_WIDTH}})


def searches_narrowly(settings: Settings, manifest: Manifest) -> bool:
    """The live build's chunk vectors were written before SEARCH_WIDTH: a one-off upgrade, like the expanded BM25."""
    client = chroma_client(settings, manifest.chroma_dir)
    try:
        return search_width(client.get_collection(manifest.collection)) < SEARCH_WIDTH
    except Exception:  # no such collection: the build is broken in another way, which search reports
        return False
    finally:
        client.close()


def lacks_expanded_bm25(settings: Settings, manifest: Manifest) -> bool:
    """A build written before BM25 read the passages with their attached questions' words: it has questions and no
    such index. The next ingest writes a new build (every vector and term count reused) so that search gets it."""
    return bool(manifest.questions_collection) and not (build_dir(settings, manifest.build_id) / EXPANDED_BM25).is_dir()


@dataclass
class _Vectors:
    """The Chroma collection a build's chunk vectors go into, and what it held before this build touched it."""

    client: Any
    collection: Any
    present: set[str]  # vector ids in the collection before this build
    created: bool  # a new collection (else the previous build's, or a copy of it)
    chroma_dir: str  # the build's own embedded Chroma folder, "" on a server
    added: list[str] = field(default_factory=list)


def write_build(settings: Settings, embedder: CachedEmbeddings, plan: _Plan, previous: Manifest | None = None) -> str:
    """Write a new build and switch the manifest to it. The chunk vectors go into the previous build's collection
    when most of them are there already (re-adding 100,000 vectors for one changed document would take minutes),
    else into a new collection: on a server the previous build's collection itself, in embedded Chroma a copy of
    the previous build's Chroma folder, made for this build."""
    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    folder = build_dir(settings, build_id)
    tokenizer = Tokenizer(cache_dir=settings.index_dir)
    rows = build_rows(plan, tokenizer)
    questions_name = QUESTIONS_PREFIX + build_id if rows.questions else ""
    reusable = previous is not None and previous.embedding_model == embedder.name and previous.pipeline_version == PIPELINE_VERSION
    vectors = open_vectors(settings, plan.old if reusable else None, build_id, rows.all_vector_ids)
    try:
        others = update_vectors(vectors, embedder, rows, plan.old)
        plan.report.reused = len(vectors.present & set(rows.vector_ids))
        folder.mkdir(parents=True)
        write_rows(folder, rows, others, tokenizer)
        if questions_name:
            question_tokens = [tokenizer(q.text) for q in rows.questions]
            write_questions_index(vectors.client, embedder, rows.questions, question_tokens, questions_name, folder, tokenizer)
            write_expanded_passages(folder, rows, question_tokens, tokenizer)
        manifest = Manifest(
            build_id=build_id,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            embedding_model=embedder.name,
            chunk_size=settings.chunk_size,
            pipeline_version=PIPELINE_VERSION,
            collection=vectors.collection.name,
            documents=plan.records,
            questions_collection=questions_name,
            chroma_dir=vectors.chroma_dir,
        )
        temporary = manifest_path(settings).with_suffix(".json.tmp")
        temporary.write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
        os.replace(temporary, manifest_path(settings))  # the switch: atomic on POSIX
    except BaseException:
        # The manifest still names the previous build; drop this one's pieces.
        shutil.rmtree(folder, ignore_errors=True)
        discard_vectors(settings, vectors, questions_name)
        raise
    vectors.client.close()  # chromadb keeps a folder's database open until its last client closes
    return build_id


def open_vectors(settings: Settings, old: PreviousBuild | None, build_id: str, wanted: list[str]) -> _Vectors:
    """The collection for a build's chunk vectors: the previous build's (on a server) or a copy of its Chroma
    folder (embedded) when it holds most of the wanted vectors, else a new one (building a graph afresh beats
    patching most of another)."""
    chroma_dir = "" if settings.chroma_host else build_chroma_dir(build_id)
    reused = (reuse_server_collection if settings.chroma_host else copy_previous_folder)(settings, old, chroma_dir, wanted) if old else None
    if reused is not None:
        widen_search(reused.collection)
        return reused
    client = chroma_client(settings, chroma_dir)
    collection = client.create_collection(COLLECTION_PREFIX + build_id, configuration=HNSW_CONFIGURATION, embedding_function=None)
    return _Vectors(client, collection, set(), True, chroma_dir)


def mostly_present(present: set[str], wanted: list[str]) -> bool:
    return len(present.intersection(wanted)) >= len(set(wanted) - present)


def recorded_ids(old: PreviousBuild) -> set[str] | None:
    """The vector ids in the previous build's collection, as it recorded them (None when it did not)."""
    others = old.other_vector_ids
    return None if others is None else set(old.all_vector_ids) | set(others)


def reuse_server_collection(settings: Settings, old: PreviousBuild, chroma_dir: str, wanted: list[str]) -> _Vectors | None:
    client = chroma_client(settings)
    try:
        collection = client.get_collection(old.manifest.collection)
    except Exception:  # gone (deleted by hand, or another Chroma server): build afresh
        client.close()
        return None
    present = recorded_ids(old)
    present = vector_ids(collection) if present is None else present
    if not mostly_present(present, wanted):
        client.close()
        return None
    return _Vectors(client, collection, present, False, chroma_dir)


def copy_previous_folder(settings: Settings, old: PreviousBuild, chroma_dir: str, wanted: list[str]) -> _Vectors | None:
    source = old.manifest.chroma_dir
    present = recorded_ids(old)
    if not source or not (settings.index_dir / source).is_dir() or present is None or not mostly_present(present, wanted):
        return None
    copy_folder(settings.index_dir / source, settings.index_dir / chroma_dir)
    client = chroma_client(settings, chroma_dir)
    try:
        return _Vectors(client, client.get_collection(old.manifest.collection), present, False, chroma_dir)
    except Exception:  # the folder holds no such collection (changed by hand): build afresh
        client.close()
        shutil.rmtree(settings.index_dir / chroma_dir, ignore_errors=True)
        return None


def copy_folder(source: Path, target: Path) -> None:
    """A copy of a Chroma folder: a reflink where the file system has them (instant), else a plain copy (0.3 s
    for the 0.38 GB of 95,000 vectors from the page cache)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(target)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):  # no GNU cp
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)


def update_vectors(vectors: _Vectors, embedder: CachedEmbeddings, rows: _Rows, old: PreviousBuild | None) -> list[str]:
    """Delete the vectors the build does not need and add those it lacks. On a server the previous build's
    vectors stay beside the new ones (running apps may still read them) until the build after; a copied folder
    serves only this build. Returns the ids of the vectors left in the collection that are not this build's."""
    wanted = set(rows.all_vector_ids)
    retired = set(old.all_vector_ids) - wanted if old is not None and vectors.chroma_dir == "" and vectors.present else set()
    if vectors.chroma_dir and not vectors.created:  # the copy holds the previous build's questions too
        for name in collection_names(vectors.client):
            if name != vectors.collection.name:
                vectors.client.delete_collection(name)
    stale = sorted(vectors.present - wanted - retired)
    for start in range(0, len(stale), 5000):
        vectors.collection.delete(ids=stale[start : start + 5000])
    missing = [vid for vid in rows.all_vector_ids if vid not in vectors.present]
    vectors.added = missing
    add_vectors(vectors.collection, embedder, [rows.key(vid) for vid in missing])
    return sorted(retired & vectors.present)


def discard_vectors(settings: Settings, vectors: _Vectors, questions_name: str) -> None:
    """Undo a failed build's vectors: its own folder, or what it created or added on the server. Vectors left
    behind in a reused collection are unknown to the live build (search skips them)."""
    try:
        if vectors.chroma_dir:
            return
        for name in filter(None, (vectors.collection.name if vectors.created else "", questions_name)):
            try:
                vectors.client.delete_collection(name)
            except Exception:
                pass
        if not vectors.created and vectors.added:
            for start in range(0, len(vectors.added), 5000):
                vectors.collection.delete(ids=vectors.added[start : start + 5000])
    except Exception:
        pass
    finally:
        vectors.client.close()
        if vectors.chroma_dir:
            shutil.rmtree(settings.index_dir / vectors.chroma_dir, ignore_errors=True)


def write_rows(folder: Path, rows: _Rows, others: list[str], tokenizer: Tokenizer) -> None:
    """The build's files: its chunks and items (questions come with their index), which lines are whose, the
    vector ids, and the BM25 index with the term counts it was computed from."""
    for name in ("chunks", "items"):
        with (folder / f"{name}.jsonl").open("wb") as out:
            out.writelines(rows.lines[name])
    (folder / "layout.json").write_text(json.dumps(rows.layout, ensure_ascii=False), encoding="utf-8")
    (folder / "vectors.json").write_text(
        json.dumps({"chunks": rows.vector_ids, "sentences": rows.sentences, "others": others}, ensure_ascii=False), encoding="utf-8"
    )
    rows.counts.save(folder, tokenizer.signature)  # type: ignore[union-attr]
    LexicalIndex.from_counts(rows.chunk_ids, rows.counts, tokenizer).save(folder / "bm25")  # type: ignore[arg-type]


def vector_ids(collection: Any) -> set[str]:
    ids: set[str] = set()
    while True:
        page = collection.get(include=[], limit=10_000, offset=len(ids))["ids"]
        ids.update(page)
        if len(page) < 10_000:
            return ids


def add_vectors(collection: Any, embedder: CachedEmbeddings, keys: list[VectorKey]) -> None:
    """Embed the chunks and their sentences (vectors from the cache where it has them) and add them, 500 at a time.
    Upserted: a crashed ingest may have left some of them in a reused collection."""
    vectors = embedder.embed_documents([key.text for key in keys])
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        collection.upsert(
            ids=[key.id for key in batch],
            embeddings=vectors[start : start + 500],
            documents=[key.chunk.text if key.sentence is None else key.text for key in batch],
            metadatas=[chunk_metadata(key.chunk) for key in batch],
        )


def write_questions_index(
    client: "chromadb.ClientAPI",
    embedder: CachedEmbeddings,
    questions: list[AttachedQuestion],
    tokens: list[list[str]],
    name: str,
    folder: Path,
    tokenizer: Tokenizer,
) -> None:
    """The attached questions as search keys: their own BM25 index and their own Chroma collection, each row
    naming the question, whose section points to the passage."""
    texts = [q.text for q in questions]
    vectors = embedder.embed_documents(texts)
    collection = client.create_collection(name, configuration=HNSW_CONFIGURATION, embedding_function=None)
    for start in range(0, len(questions), 500):
        batch = questions[start : start + 500]
        collection.add(ids=[q.question_id for q in batch], embeddings=vectors[start : start + 500], documents=texts[start : start + 500])
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as out:
        for question in questions:
            out.write(question.model_dump_json() + "\n")
    LexicalIndex.from_tokens([q.question_id for q in questions], tokens, tokenizer).save(folder / "bm25-questions")


def write_expanded_passages(folder: Path, rows: _Rows, question_tokens: list[list[str]], tokenizer: Tokenizer) -> None:
    """BM25 over each passage with the words of the questions attached to its section added (document expansion,
    as docT5query does with generated questions): a question that shares some words with the passage and others
    with its questions finds it by both. Computed from the term counts, so unchanged passages are not tokenised
    again."""
    # Only the chunks of documents with questions are read for their section (a chunk id is `<doc id>#<n>`): a
    # previous build's line is parsed to read it, and most of a large corpus has no questions.
    with_questions = {q.doc_id for q, tokens in zip(rows.questions, question_tokens) if tokens}
    rows_of_section: dict[tuple[str, str], list[int]] = {}
    for row, (chunk_id, vid) in enumerate(zip(rows.chunk_ids, rows.vector_ids)):
        if chunk_id.rpartition("#")[0] in with_questions:
            chunk = rows.chunk(vid)
            rows_of_section.setdefault((chunk.doc_id, chunk.section), []).append(row)
    # A question with no words (all stop words) adds nothing, not even bm25s's stand-in token for an empty row.
    pairs = [
        (row, j)
        for j, (q, tokens) in enumerate(zip(rows.questions, question_tokens))
        if tokens
        for row in rows_of_section.get((q.doc_id, q.section), [])
    ]
    counts = rows.counts.with_attached(TermCounts.count(question_tokens), pairs)  # type: ignore[union-attr]
    LexicalIndex.from_counts(rows.chunk_ids, counts, tokenizer).save(folder / EXPANDED_BM25)
