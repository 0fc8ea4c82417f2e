"""Amendment notes: a clause of the corpus that a later source has changed. One record per changed clause — the
document, the clause (its section path, such as 第九十五条, or a sentence quoted from it), what changed in one
sentence, the newer source's title, 文号 and effective date, the figures it makes outdated, and who recorded it
when. The shipped notes are `corpus/amendments.yaml`, reviewed like code; interpreters add more from the app
(kept in the review database by the service). A note never changes the quoted text: it is shown beside it.
"""

import hashlib
from datetime import date
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, Field, StringConstraints

AMENDMENTS_FILE = "amendments.yaml"


class AmendmentFields(BaseModel):
    """What a note says; who recorded it and when are added when it is recorded."""

    doc_id: str = Field(max_length=300)
    clause: str = Field(min_length=2, max_length=500)  # section path (第九十五条) or a sentence quoted from the clause
    change: str = Field(min_length=2, max_length=1000)  # what changed, in one sentence
    source_title: str = Field(min_length=2, max_length=300)
    source_number: str = Field("", max_length=200)  # 文号
    effective: str = Field("", max_length=40)  # the newer source's effective date, YYYY-MM-DD
    superseded: list[Annotated[str, StringConstraints(max_length=50)]] = Field(
        default_factory=list, max_length=20
    )  # figures it makes outdated


class Amendment(AmendmentFields):
    recorded_by: str = Field("", max_length=100)
    recorded_at: str = Field("", max_length=40)
    note_id: str = ""  # stable id: of the shipped file's entry, or the review database's row

    def model_post_init(self, _context) -> None:
        if not self.note_id:
            key = f"{self.doc_id}\n{self.clause}\n{self.source_number}\n{self.change}"
            self.note_id = "file-" + hashlib.sha256(key.encode()).hexdigest()[:12]

    def applies_to(self, doc_id: str, section: str, text: str) -> bool:
        """Whether the note is about this text (a quote, or a whole passage) of that document and section: the
        section path ends with the clause (第九十五条 matches "第四章 税收优惠 > 第九十五条"), or the clause is a
        quoted sentence that the text holds or is part of."""
        if doc_id != self.doc_id:
            return False
        clause = self.clause.strip()
        return section.split(" > ")[-1].strip() == clause or clause in text or (len(text) >= 8 and text in clause)

    def sentence(self) -> str:
        """How an answer shows it: 此条款已调整：… 见《…》（…），自…起施行。"""
        number = f"（{self.source_number}）" if self.source_number else ""
        since = f"，自{self.effective}起施行" if self.effective else ""
        change = self.change.rstrip("。")
        return f"此条款已调整：{change}。见《{self.source_title}》{number}{since}。"


def read_amendments(corpus_dir: Path) -> list[Amendment]:
    """The shipped notes; a malformed file is an error that says which entry (they are reviewed like code)."""
    path = corpus_dir / AMENDMENTS_FILE
    if not path.is_file():
        return []
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML ({type(error).__name__}); fix it") from None
    notes = []
    for n, entry in enumerate(entries, start=1):
        try:
            # YAML reads 2023-01-01 as a date: the notes keep dates as text.
            notes.append(Amendment(**{k: v.isoformat() if isinstance(v, date) else v for k, v in entry.items()}))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}, entry {n}: {error}") from None
    return notes
