"""The previous build as the next build reads it: each document's lines of chunks.jsonl, items.jsonl and
questions.jsonl, and its chunks' rows in the build's vector ids and BM25 term counts.

Unchanged documents are copied into the next build line by line: no line is parsed and no text hashed or cut
into tokens again (at 100,000 chunks, parsing the chunks and items took 1.4 s, hashing the vector ids 0.6 s and
reading and writing the tokens 0.8 s). A build records which lines belong to which document (layout.json) and
its vector ids (vectors.json); a build made before it did is read the slow way, once.
"""

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from assistant.documents.chunking import Chunk
from assistant.documents.sentences import statements
from assistant.index.lexical import TermCounts, Tokenizer, read_tokens
from assistant.index.store import Manifest, build_dir, sentence_vector_ids, vector_id
from assistant.settings import Settings

# The files of a build with one JSON object a line, each naming its document (doc_id).
PART_FILES = ("chunks", "items", "questions")


@dataclass
class DocumentRows:
    """One document's lines (bytes, each with its newline: copied, never decoded) in each part file, and the rows
    of its chunks (in chunks.jsonl, the vector ids and the term counts alike)."""

    lines: dict[str, list[bytes]] = field(default_factory=lambda: {name: [] for name in PART_FILES})
    rows: range | list[int] = field(default_factory=list)


class PreviousBuild:
    """Read on first use: an ingest that finds nothing changed reads nothing of the previous build."""

    def __init__(self, settings: Settings, manifest: Manifest):
        self.settings = settings
        self.manifest = manifest
        self.folder = build_dir(settings, manifest.build_id)

    @cached_property
    def documents(self) -> dict[str, DocumentRows]:
        files = {name: read_lines(self.folder / f"{name}.jsonl") for name in PART_FILES}
        layout = self._layout()
        return by_layout(files, layout) if layout is not None else by_doc_id(files)

    def of(self, doc_id: str) -> DocumentRows:
        return self.documents.get(doc_id) or DocumentRows()

    def _layout(self) -> list[list] | None:
        try:
            return json.loads((self.folder / "layout.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @cached_property
    def _vectors(self) -> dict:
        try:
            return json.loads((self.folder / "vectors.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    @cached_property
    def vector_ids(self) -> list[str]:
        """The vector id of each chunk row."""
        if "chunks" in self._vectors:
            return self._vectors["chunks"]
        return [vector_id(chunk) for chunk in self.chunks()]

    @cached_property
    def sentence_counts(self) -> list[int]:
        """How many sentence vectors each chunk row has."""
        if "sentences" in self._vectors:
            return self._vectors["sentences"]
        return [len(statements(chunk)) for chunk in self.chunks()]

    @cached_property
    def all_vector_ids(self) -> list[str]:
        """The ids of every vector of the build: each chunk's own and its sentences'."""
        return sentence_vector_ids(self.vector_ids, self.sentence_counts)

    @property
    def other_vector_ids(self) -> list[str] | None:
        """The ids of the other vectors in its collection (those the build before it still used, on a Chroma
        server); None when the build did not record them."""
        return self._vectors.get("others")

    def chunks(self) -> list[Chunk]:
        """Every chunk row, parsed: only for builds that recorded neither vector ids nor term counts."""
        return [Chunk.model_validate_json(line) for line in read_lines(self.folder / "chunks.jsonl")]

    def vector_ids_of(self, rows: range | list[int]) -> list[str]:
        if isinstance(rows, range):
            return self.vector_ids[rows.start : rows.stop]
        return [self.vector_ids[row] for row in rows]

    def sentence_counts_of(self, rows: range | list[int]) -> list[int]:
        if isinstance(rows, range):
            return self.sentence_counts[rows.start : rows.stop]
        return [self.sentence_counts[row] for row in rows]

    def term_counts(self, tokenizer: Tokenizer) -> TermCounts:
        """The term counts of every chunk row: as kept, else from the tokens kept by older builds, else cut again."""
        counts = TermCounts.load(self.folder, tokenizer.signature)
        if counts is not None:
            return counts
        kept = read_tokens(self.folder, tokenizer.signature)
        return TermCounts.count([kept[c.chunk_id] if c.chunk_id in kept else tokenizer(c.index_text) for c in self.chunks()])


def read_lines(path: Path) -> list[bytes]:
    """The non-empty lines of a JSON-lines file as bytes, each with its newline; none when the file is missing.
    Split on newlines only: JSON escapes every newline inside a string, but not U+2028 and its kind, at which
    str.splitlines would also split."""
    if not path.exists():
        return []
    return [line + b"\n" for line in path.read_bytes().split(b"\n") if line.strip()]


def by_layout(files: dict[str, list[bytes]], layout: list[list]) -> dict[str, DocumentRows]:
    """Split each file by the line counts the build recorded: [doc_id, chunks, items, questions] per document,
    in file order (a document appears once)."""
    documents: dict[str, DocumentRows] = {}
    starts = dict.fromkeys(PART_FILES, 0)
    for doc_id, *counts in layout:
        rows = DocumentRows()
        for name, count in zip(PART_FILES, counts):
            rows.lines[name] = files[name][starts[name] : starts[name] + count]
            starts[name] += count
        rows.rows = range(starts["chunks"] - counts[0], starts["chunks"])
        documents[doc_id] = rows
    return documents


def by_doc_id(files: dict[str, list[bytes]]) -> dict[str, DocumentRows]:
    """Group each file's lines by the document each names (a build made before layout.json was written)."""
    documents: dict[str, DocumentRows] = {}
    for name, lines in files.items():
        for row, line in enumerate(lines):
            rows = documents.setdefault(json.loads(line)["doc_id"], DocumentRows())
            rows.lines[name].append(line)
            if name == "chunks":
                rows.rows.append(row)  # type: ignore[union-attr]
    return documents
