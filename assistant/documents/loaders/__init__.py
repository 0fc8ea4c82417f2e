"""Loaders turn a policy file (Markdown, text, PDF, Word, HTML) into a `LoadedDocument`, one module per format."""

import importlib
from pathlib import Path

from assistant.documents.loaders.base import LoadedDocument, LoadError

# Suffix → the loader, as "module:function": a loader's libraries (pypdf, python-docx, BeautifulSoup) are
# imported only when a file of its kind is read, not by everything that reads a chunk.
LOADERS: dict[str, str] = {
    ".md": "text:load_text",
    ".markdown": "text:load_text",
    ".txt": "text:load_text",
    ".pdf": "pdf:load_pdf",
    ".docx": "docx:load_docx",
    ".html": "html:load_html",
    ".htm": "html:load_html",
}
SUPPORTED = sorted(LOADERS)


def load_file(path: Path) -> LoadedDocument:
    """Load one file or raise LoadError with a one-line reason naming it."""
    name = LOADERS.get(path.suffix.lower())
    if name is None:
        raise LoadError(f"{path.name}: unsupported file type '{path.suffix or '(none)'}'; supported: {', '.join(SUPPORTED)}")
    if not path.is_file():
        raise LoadError(f"{path.name}: not a readable file")
    if path.stat().st_size == 0:
        raise LoadError(f"{path.name}: the file is empty")
    module, function = name.split(":")
    loader = getattr(importlib.import_module(f"assistant.documents.loaders.{module}"), function)
    return loader(path)


__all__ = ["LoadError", "LoadedDocument", "load_file", "SUPPORTED"]
