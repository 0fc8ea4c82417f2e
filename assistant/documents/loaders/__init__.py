"""Loaders turn a policy file (Markdown, text, PDF — scanned too —, Word, WPS, OFD, HTML, page images) into a
`LoadedDocument`, one module per format."""

import importlib
from pathlib import Path

from assistant.documents.loaders.base import LoadedDocument, LoadError, LoadOptions

# Suffix → the loader, as "module:function": a loader's libraries (pypdf, python-docx, BeautifulSoup, RapidOCR,
# pypdfium2) are imported only when a file of its kind is read, not by everything that reads a chunk.
LOADERS: dict[str, str] = {
    ".md": "text:load_text",
    ".markdown": "text:load_text",
    ".txt": "text:load_text",
    ".pdf": "pdf:load_pdf",
    ".docx": "docx:load_docx",
    ".doc": "legacy_word:load_legacy_word",
    ".wps": "legacy_word:load_legacy_word",
    ".ofd": "ofd:load_ofd",
    ".png": "scan:load_image",
    ".jpg": "scan:load_image",
    ".jpeg": "scan:load_image",
    ".tif": "scan:load_image",
    ".tiff": "scan:load_image",
    ".html": "html:load_html",
    ".htm": "html:load_html",
}
SUPPORTED = sorted(LOADERS)
# The loaders whose work is bounded by `LoadOptions` (OCR, conversion, page counts); the others need none.
_TAKE_OPTIONS = {"pdf", "scan", "ofd", "legacy_word"}


def load_file(path: Path, options: LoadOptions | None = None) -> LoadedDocument:
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
    return loader(path, options or LoadOptions()) if module in _TAKE_OPTIONS else loader(path)


__all__ = ["LoadError", "LoadOptions", "LoadedDocument", "load_file", "SUPPORTED"]
