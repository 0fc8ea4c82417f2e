"""What every loader returns, and the error it raises for input it cannot use."""

from dataclasses import dataclass, field
from pathlib import Path


class LoadError(Exception):
    """A file that cannot be ingested; the message is one line saying why and what to do."""


@dataclass
class LoadedDocument:
    path: Path
    text: str  # the cleaned full text; chunk offsets point into it
    title: str = ""
    doc_number: str = ""  # 文号
    date: str = ""
    authority: str = ""
    level: str = ""  # e.g. "国家/法律", "市级/规范性文件"
    region: str = ""
    # (offset into text, page number) for each page start; empty for formats without pages.
    pages: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def page_at(self, offset: int) -> int | None:
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = number
        return page
