"""Admins' approvals of documents whose lines read as instructions (see `instructions`): `corpus/approvals.yaml`,
versioned with the corpus and reviewed like it. An approval names the document and the content hash it was
given for, so a changed file must be approved again.
"""

from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel

APPROVALS_FILE = "approvals.yaml"


class Approval(BaseModel):
    doc_id: str
    sha256: str
    approved_at: str


def approvals_path(corpus_dir: Path) -> Path:
    return corpus_dir / APPROVALS_FILE


def read_approvals(corpus_dir: Path) -> list[Approval]:
    path = approvals_path(corpus_dir)
    if not path.is_file():
        return []
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        return [Approval(**entry) for entry in entries]
    except (yaml.YAMLError, TypeError, ValueError) as error:
        # Failing closed: without readable approvals, flagged passages stay out of answers.
        raise ValueError(f"{path} cannot be read ({type(error).__name__}); fix it or delete it") from None


def approved(corpus_dir: Path) -> set[tuple[str, str]]:
    """(document, content hash) pairs an admin has approved."""
    try:
        return {(a.doc_id, a.sha256) for a in read_approvals(corpus_dir)}
    except ValueError:
        return set()


def add_approval(corpus_dir: Path, doc_id: str, sha256: str) -> Approval:
    entries = [a for a in read_approvals(corpus_dir) if a.doc_id != doc_id]
    approval = Approval(doc_id=doc_id, sha256=sha256, approved_at=datetime.now().astimezone().isoformat(timespec="seconds"))
    entries.append(approval)
    text = yaml.safe_dump([a.model_dump() for a in entries], allow_unicode=True, sort_keys=False)
    temporary = corpus_dir / f".{APPROVALS_FILE}.tmp"  # hidden: a scan of the corpus never reads it as a document
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(approvals_path(corpus_dir))
    return approval
