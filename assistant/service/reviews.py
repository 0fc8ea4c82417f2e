"""Policy interpreters' verdicts on answers, kept in SQLite: 正确 / 有误 with an optional correction and comment,
stored with the question, the answer, its citations, mode and settings. An answer marked 正确 becomes the
verified answer for its question: asked again (after normalisation), it is shown first, until a later
verdict on the same question says 有误.
"""

import csv
import hashlib
import hmac
import io
import json
import re
import secrets
import sqlite3
import threading
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from assistant.documents.amendments import Amendment
from assistant.errors import PolicyQAError

Verdict = Literal["正确", "有误"]
VERDICTS: tuple[Verdict, ...] = ("正确", "有误")
_PUNCTUATION = re.compile(r"[\s\W_]+")

SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    question TEXT NOT NULL,
    normalised TEXT NOT NULL,
    verdict TEXT NOT NULL,
    correction TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    settings TEXT NOT NULL,
    reviewer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reviews_normalised ON reviews (normalised, verdict);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS amendments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    note TEXT NOT NULL
);
"""


class ReviewError(PolicyQAError):
    """A verdict that cannot be stored; the message says why."""


class Review(BaseModel):
    id: int
    created: str  # ISO 8601, local time with offset
    question: str
    verdict: Verdict
    correction: str = ""
    comment: str = ""
    mode: str
    answer: str
    citations: list[dict]
    settings: dict
    reviewer: str = ""  # the interpreter whose token recorded the verdict


def normalise_question(question: str) -> str:
    """Full-width and half-width forms, case, spaces and punctuation do not make another question."""
    return _PUNCTUATION.sub("", unicodedata.normalize("NFKC", question)).lower()


class ReviewStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.executescript(SCHEMA)
            columns = {row["name"] for row in self._db.execute("PRAGMA table_info(reviews)")}
            if "reviewer" not in columns:  # a database written before verdicts recorded their interpreter
                self._db.execute("ALTER TABLE reviews ADD COLUMN reviewer TEXT NOT NULL DEFAULT ''")
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (secrets.token_hex(32),))
            self._secret = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()[0].encode()

    def sign(self, answer: dict) -> str:
        """An id for an answer this server gave: a verdict is only taken on such an answer, so nobody can
        post text of their own and have it shown as "checked by an interpreter"."""
        content = {key: answer.get(key) for key in ("question", "answer", "mode", "citations")}
        message = json.dumps(content, ensure_ascii=False, sort_keys=True).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def is_genuine(self, answer: dict) -> bool:
        return hmac.compare_digest(str(answer.get("answer_id", "")), self.sign(answer))

    def record(
        self, answer: dict, verdict: Verdict, correction: str = "", comment: str = "", settings: dict | None = None, reviewer: str = ""
    ) -> Review:
        """Store a verdict on an answer (the `policy-qa ask --json` object)."""
        if verdict not in VERDICTS:
            raise ReviewError(f"verdict must be 正确 or 有误, not {verdict!r}")
        if not self.is_genuine(answer):
            raise ReviewError(
                "this answer was not given by this server (answer_id missing or not matching); ask again and review that answer"
            )
        # Local time with its offset: the date filter then follows the interpreters' calendar.
        created = datetime.now().astimezone().isoformat(timespec="seconds")
        row = (
            created,
            answer["question"],
            normalise_question(answer["question"]),
            verdict,
            correction.strip(),
            comment.strip(),
            answer.get("mode", ""),
            answer["answer"],
            json.dumps(answer.get("citations", []), ensure_ascii=False),
            json.dumps(settings or {}, ensure_ascii=False),
            reviewer,
        )
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO reviews (created, question, normalised, verdict, correction, comment, mode, answer, citations, settings, reviewer)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        return self.get(cursor.lastrowid)

    def get(self, review_id: int) -> Review:
        with self._lock:
            row = self._db.execute("SELECT * FROM reviews WHERE id = ?", (review_id,)).fetchone()
        return to_review(row)

    def list(self, verdict: str | None = None, since: str | None = None, until: str | None = None) -> list[Review]:
        """Newest first; `since` and `until` are dates (YYYY-MM-DD), both inclusive."""
        clauses, params = [], []
        if verdict:
            clauses.append("verdict = ?")
            params.append(verdict)
        if since:
            clauses.append("substr(created, 1, 10) >= ?")
            params.append(since)
        if until:
            clauses.append("substr(created, 1, 10) <= ?")
            params.append(until)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM reviews {where} ORDER BY id DESC", params).fetchall()
        return [to_review(row) for row in rows]

    def verified(self, question: str) -> Review | None:
        """The answer marked 正确 for this question, unless a later verdict on the question says 有误."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM reviews WHERE normalised = ? ORDER BY id DESC LIMIT 1", (normalise_question(question),)
            ).fetchone()
        return to_review(row) if row and row["verdict"] == "正确" else None


class AmendmentBook:
    """Interpreters' amendment notes, kept beside their verdicts (the shipped ones are corpus/amendments.yaml)."""

    def __init__(self, store: "ReviewStore"):
        self.store = store

    def add(self, note: Amendment) -> Amendment:
        with self.store._lock, self.store._db:
            cursor = self.store._db.execute("INSERT INTO amendments (note) VALUES (?)", (note.model_dump_json(),))
        return note.model_copy(update={"note_id": f"db-{cursor.lastrowid}"})

    def list(self) -> list[Amendment]:
        with self.store._lock:
            rows = self.store._db.execute("SELECT id, note FROM amendments ORDER BY id").fetchall()
        return [Amendment.model_validate_json(row["note"]).model_copy(update={"note_id": f"db-{row['id']}"}) for row in rows]

    def remove(self, note_id: str) -> bool:
        if not note_id.startswith("db-") or not note_id[3:].isdigit():
            return False
        with self.store._lock, self.store._db:
            return self.store._db.execute("DELETE FROM amendments WHERE id = ?", (int(note_id[3:]),)).rowcount > 0


def to_review(row: sqlite3.Row) -> Review:
    data = dict(row)
    data.pop("normalised")
    data["citations"] = json.loads(data["citations"])
    data["settings"] = json.loads(data["settings"])
    return Review(**data)


CSV_COLUMNS = ["id", "created", "verdict", "reviewer", "question", "answer", "correction", "comment", "mode", "citations"]


def to_csv(reviews: list[Review]) -> str:
    rows = []
    for r in reviews:
        sources = "；".join(f"[{c.get('n')}] {c.get('doc_title', '')} {c.get('section', '')}" for c in r.citations)
        rows.append([r.id, r.created, r.verdict, r.reviewer, r.question, r.answer, r.correction, r.comment, r.mode, sources])
    return csv_text(CSV_COLUMNS, rows)


AMENDMENT_COLUMNS = [
    "note_id",
    "doc_id",
    "clause",
    "change",
    "source_title",
    "source_number",
    "effective",
    "superseded",
    "recorded_by",
    "recorded_at",
]


def amendments_csv(notes: list[Amendment]) -> str:
    """The amendment notes, for export beside the reviews."""
    rows = [
        [getattr(note, column) if column != "superseded" else "、".join(note.superseded) for column in AMENDMENT_COLUMNS] for note in notes
    ]
    return csv_text(AMENDMENT_COLUMNS, rows)


def csv_text(columns: list[str], rows: list[list]) -> str:
    """UTF-8 with a BOM, so that Excel opens the Chinese text correctly; no cell can run as a formula."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return out.getvalue()


def spreadsheet_safe(cell: object) -> object:
    """A text cell starting with = + - @ would run as a formula in Excel; a leading ' keeps it text."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@"):
        return "'" + cell
    return cell
