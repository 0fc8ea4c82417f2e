"""PDF loader (pypdf): page numbers kept, layout line breaks rejoined, page-number lines dropped."""

import logging
import re
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError

from assistant.documents.loaders.base import LoadedDocument, LoadError
from assistant.documents.loaders.metadata import fill_missing
from assistant.documents.loaders.repair import join_separator
from assistant.documents.structure import PARAGRAPH_END, is_heading

# pypdf logs its repairs of damaged files; the loader reports what matters to the user itself.
logging.getLogger("pypdf").setLevel(logging.ERROR)

PAGE_NUMBER = re.compile(r"^\s*(?:[—–\-－]+\s*\d+\s*[—–\-－]+|第\s*\d+\s*页(?:\s*[，,/]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|\d{1,4})\s*$")
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


def ends_paragraph(line: str, following: str, full_width: int) -> bool:
    if line.endswith(tuple(PARAGRAPH_END)) or is_heading(following):
        return True
    return len(line) < _FULL_LINE_RATIO * full_width


def read_lines(reader: PdfReader, warnings: list[str]) -> list[tuple[int, str, int]]:
    """Every text line as (page number, line, longest line on its page)."""
    result = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            lines = page_lines(page.extract_text() or "")
        except Exception as error:  # pypdf raises many types on damaged content streams
            warnings.append(f"page {number}: unreadable content ({error.__class__.__name__}), skipped")
            continue
        if not lines:
            warnings.append(f"page {number}: scanned page, no text layer")
            continue
        full_width = max(len(line) for line in lines)
        result.extend((number, line, full_width) for line in lines)
    return result


def load_pdf(path: Path) -> LoadedDocument:
    reader = open_pdf(path)
    warnings: list[str] = []
    lines = read_lines(reader, warnings)
    if not lines:
        raise LoadError(f"{path.name}: scanned PDF, no text layer on any page; run OCR on it first")
    text = ""
    pages: list[tuple[int, int]] = []
    previous: tuple[int, str, int] | None = None
    for number, line, full_width in lines:
        if previous and not ends_paragraph(previous[1], line, previous[2]):
            text += join_separator(text, line)
        elif text:
            text += "\n\n"
        if not pages or pages[-1][1] != number:
            pages.append((len(text), number))
        text += line
        previous = (number, line, full_width)
    metadata = reader.metadata or {}
    title = str(metadata.get("/Title") or "").strip()
    return fill_missing(LoadedDocument(path=path, text=text, title=title, pages=pages, warnings=warnings))
