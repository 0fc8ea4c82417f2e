"""What every loader returns, and the error it raises for input it cannot use."""

from pathlib import Path

from pydantic import BaseModel

from assistant.errors import PolicyQAError


class LoadError(PolicyQAError):
    """A file that cannot be ingested; the message is one line saying why and what to do."""


class DocumentMeta(BaseModel):
    """What a document says about itself, declared once: the loaded document and the index's record of it
    both carry these fields (chunks, items and citations copy the ones they show, as `doc_*`)."""

    title: str = ""
    doc_number: str = ""  # 文号
    date: str = ""
    authority: str = ""
    level: str = ""  # e.g. "国家/法律", "市级/规范性文件"
    region: str = ""

    def meta(self) -> dict[str, str]:
        """Only these fields, to build another model that carries them."""
        return {name: getattr(self, name) for name in DocumentMeta.model_fields}


class LoadedDocument(DocumentMeta):
    path: Path
    text: str  # the cleaned full text; chunk offsets point into it
    # (offset into text, page number) for each page start; empty for formats without pages.
    pages: list[tuple[int, int]] = []
    warnings: list[str] = []

    def page_at(self, offset: int) -> int | None:
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = number
        return page
