"""Word (.docx) loader (python-docx): paragraphs and tables in document order, table rows as `a | b | c`."""

import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from assistant.documents.loaders.base import LoadedDocument, LoadError
from assistant.documents.loaders.metadata import fill_missing


def table_rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            # A merged cell is returned once per grid column it spans.
            if not cells or text != cells[-1]:
                cells.append(text)
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def load_docx(path: Path) -> LoadedDocument:
    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as error:
        raise LoadError(f"{path.name}: not a valid Word .docx file ({error.__class__.__name__}); re-save it as .docx") from None
    blocks: list[str] = []
    title = ""
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            if not title and (style.startswith("Heading") or style == "Title"):
                title = text
            blocks.append(text)
        else:
            blocks.extend(table_rows(block))
    if not blocks:
        raise LoadError(f"{path.name}: the Word document has no text")
    core_title = (document.core_properties.title or "").strip()
    return fill_missing(LoadedDocument(path=path, text="\n\n".join(blocks), title=title or core_title))
