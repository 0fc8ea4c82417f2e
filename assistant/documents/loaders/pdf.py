"""PDF loader (pypdf): page numbers kept, layout line breaks rejoined, page-number lines dropped; pages without a
text layer (scans) are read by OCR."""

import logging
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError

from assistant.documents.loaders.base import LoadedDocument, LoadError, LoadOptions
from assistant.documents.loaders.layout import PAGE_NUMBER
from assistant.documents.loaders.metadata import fill_missing
from assistant.documents.loaders.repair import PageLine, assemble

# pypdf logs its repairs of damaged files; the loader reports what matters to the user itself.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# A line this much shorter than the page's longest line ended its paragraph on purpose.
_FULL_LINE_RATIO = 0.8


def open_pdf(path: Path) -> PdfReader:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(f"{path.name}: the PDF is encrypted with a password; save an unprotected copy and ingest that")
        _ = len(reader.pages)
        return reader
    except (FileNotDecryptedError, NotImplementedError):
        raise LoadError(f"{path.name}: the PDF is encrypted; save an unprotected copy and ingest that") from None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise LoadError(f"{path.name}: corrupt or unreadable PDF ({error.__class__.__name__}); re-export it and try again") from None


def page_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not PAGE_NUMBER.match(line)]


def read_lines(reader: PdfReader, warnings: list[str]) -> tuple[list[PageLine], list[int]]:
    """The text layer's lines, and the pages that have none (scanned pages, for OCR)."""
    result: list[PageLine] = []
    scanned: list[int] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            lines = page_lines(page.extract_text() or "")
        except Exception as error:  # pypdf raises many types on damaged content streams
            warnings.append(f"page {number}: unreadable content ({error.__class__.__name__}), skipped")
            continue
        if not lines:
            scanned.append(number)
            continue
        full_width = max(len(line) for line in lines)
        result.extend(PageLine(number, line, len(line) >= _FULL_LINE_RATIO * full_width) for line in lines)
    return result, scanned


def load_pdf(path: Path, options: LoadOptions | None = None) -> LoadedDocument:
    options = options or LoadOptions()
    reader = open_pdf(path)
    warnings: list[str] = []
    lines, scanned = read_lines(reader, warnings)
    ocr_pages: dict[int, float] = {}
    labels: dict[int, str] = {}
    if scanned:
        # Only the pages without a text layer are OCR'd; the rest keep their exact text.
        from assistant.documents.loaders.scan import read_pdf_pages

        read = read_pdf_pages(path, scanned, options)
        lines = sorted(lines + read.lines, key=lambda line: line.page)  # stable: each page keeps its line order
        ocr_pages, labels = read.confidence, read.labels
        warnings.extend(read.warnings)
    if not lines:
        raise LoadError(f"{path.name}: no text on any page, not even by OCR; check that the scan is legible")
    text, pages = assemble(lines)
    metadata = reader.metadata or {}
    title = str(metadata.get("/Title") or "").strip()
    document = LoadedDocument(path=path, text=text, title=title, pages=pages, warnings=warnings, ocr_pages=ocr_pages, page_labels=labels)
    return fill_missing(document)
