"""Loaders turn a policy file (Markdown, text, PDF, Word, HTML) into a `LoadedDocument`, one module per format."""

from collections.abc import Callable
from pathlib import Path

from assistant.loaders.base import LoadError, LoadedDocument
from assistant.loaders.docx import load_docx
from assistant.loaders.html import load_html
from assistant.loaders.pdf import load_pdf
from assistant.loaders.text import load_text

LOADERS: dict[str, Callable[[Path], LoadedDocument]] = {
    ".md": load_text,
    ".markdown": load_text,
    ".txt": load_text,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".html": load_html,
    ".htm": load_html,
}
SUPPORTED = sorted(LOADERS)


def load_file(path: Path) -> LoadedDocument:
    """Load one file or raise LoadError with a one-line reason naming it."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(f"{path.name}: unsupported file type '{path.suffix or '(none)'}'; supported: {', '.join(SUPPORTED)}")
    if not path.is_file():
        raise LoadError(f"{path.name}: not a readable file")
    if path.stat().st_size == 0:
        raise LoadError(f"{path.name}: the file is empty")
    return loader(path)


__all__ = ["LoadError", "LoadedDocument", "load_file", "SUPPORTED"]
