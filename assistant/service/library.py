"""The document library as maintainers change it from the app or the API: uploaded files are checked (type,
size, name), copied into the corpus and ingested; a file that fails is taken out again (or its previous
version put back), so nothing already indexed is lost. Deleting a document removes its file and re-ingests.
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from assistant.documents.loaders import SUPPORTED
from assistant.errors import PolicyQAError
from assistant.index.ingest import CORPUS_DATA_FILES, Enrich, IngestReport, QuestionWriter, has_control_characters, ingest
from assistant.index.store import KnowledgeBaseError
from assistant.settings import Settings


class LibraryError(PolicyQAError):
    """The change cannot be made; the message says why and what to do."""


@dataclass
class Upload:
    name: str  # the file name the user gave
    path: Path  # where its bytes are now


@dataclass
class FileResult:
    file: str
    status: str  # added | changed | unchanged | failed | duplicate | rejected
    chunks: int = 0
    message: str = ""


def file_name(upload: Upload) -> str:
    """Only the last part of the name counts: a path sent with the file never places it outside the corpus."""
    return upload.name.replace("\\", "/").split("/")[-1].strip()


def check_upload(upload: Upload, settings: Settings) -> str:
    """Why an upload is refused before ingest, or "" when it may go ahead."""
    name = file_name(upload)
    if not name or name.startswith("."):
        return f"'{upload.name}' is not a usable file name"
    if has_control_characters(name):
        return f"{name!r}: the file name holds a control character (such as a newline); rename the file and upload it again"
    if Path(name).suffix.lower() not in SUPPORTED:
        return f"{name}: unsupported type; upload one of {', '.join(sorted(SUPPORTED))}"
    size_mb = upload.path.stat().st_size / 1_000_000
    if size_mb > settings.max_upload_mb:
        return f"{name}: {size_mb:.1f} MB is over the {settings.max_upload_mb:g} MB limit (POLICY_QA_MAX_UPLOAD_MB)"
    if upload.path.stat().st_size == 0:
        return f"{name}: the file is empty"
    return ""


def add_documents(
    settings: Settings,
    uploads: list[Upload],
    progress: bool = False,
    enrich: Enrich | None = None,
    write_questions: QuestionWriter | None = None,
) -> tuple[list[FileResult], IngestReport | None]:
    """Refused files first, then one result per file that went into the ingest."""
    refused: list[FileResult] = []
    accepted: list[str] = []
    with tempfile.TemporaryDirectory() as backup_dir:
        backups = Path(backup_dir)
        try:
            for upload in uploads:
                name = file_name(upload)
                problem = check_upload(upload, settings) or ("the same file name twice in one upload" if name in accepted else "")
                if not problem:
                    problem = place(upload, name, settings, backups)
                if problem:
                    refused.append(FileResult(upload.name, "rejected", message=problem))
                else:
                    accepted.append(name)
            report = run_ingest(settings, progress, enrich, write_questions) if accepted else None
        except BaseException:
            restore(settings, accepted, backups)  # whatever went wrong, the corpus is as it was
            raise
        by_file = {f.file: f for f in report.files} if report else {}
        results = []
        for name in accepted:
            f = by_file.get(name)
            if f is None or f.status in ("failed", "duplicate"):
                restore(settings, [name], backups)
                message = f.message if f else "not ingested"
                results.append(FileResult(name, f.status if f else "failed", message=message + "; the file was not added"))
            else:
                results.append(FileResult(name, f.status, f.chunks, f.message))
    return refused + results, report


def place(upload: Upload, name: str, settings: Settings, backups: Path) -> str:
    """Copy an upload into the corpus, keeping the file it replaces in `backups`; "" or why it failed."""
    target = settings.corpus_dir / name
    try:
        settings.corpus_dir.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.copy2(target, backups / name)
    except OSError as error:  # nothing written yet
        return f"{name}: cannot be saved ({error.strerror or error})"
    try:
        shutil.copyfile(upload.path, target)
    except OSError as error:
        restore(settings, [name], backups)
        return f"{name}: cannot be saved ({error.strerror or error})"
    return ""


def remove_document(
    settings: Settings, doc_id: str, progress: bool = False, enrich: Enrich | None = None, write_questions: QuestionWriter | None = None
) -> IngestReport:
    target = settings.corpus_dir / doc_id
    if "/" in doc_id.replace("\\", "/") or not target.is_file() or doc_id in CORPUS_DATA_FILES:
        raise LibraryError(f"no document '{doc_id}' in the corpus; list them with GET /api/documents")
    if sum(1 for p in settings.corpus_dir.iterdir() if p.is_file() and p.name not in CORPUS_DATA_FILES) == 1:
        raise LibraryError(f"'{doc_id}' is the last document; add another before deleting it")
    with tempfile.TemporaryDirectory() as backup_dir:
        backup = Path(backup_dir) / doc_id
        shutil.move(target, backup)
        try:
            return run_ingest(settings, progress, enrich, write_questions)
        except BaseException:
            shutil.move(backup, target)
            raise


def run_ingest(settings: Settings, progress: bool, enrich: Enrich | None, write_questions: QuestionWriter | None) -> IngestReport:
    try:
        return ingest(settings, progress=progress, enrich=enrich, write_questions=write_questions)
    except KnowledgeBaseError as error:
        raise LibraryError(f"{error}; the corpus and the index are unchanged") from None


def restore(settings: Settings, names: list[str], backups: Path) -> None:
    """Put back the previous version of each file, or remove it if it is new."""
    for name in names:
        target = settings.corpus_dir / name
        if (backups / name).exists():
            shutil.copy2(backups / name, target)
        else:
            target.unlink(missing_ok=True)
