"""What every loader returns, and the error it raises for input it cannot use."""

from pathlib import Path

from pydantic import BaseModel, Field

from assistant.errors import PolicyQAError


class LoadError(PolicyQAError):
    """A file that cannot be ingested; the message is one line saying why and what to do."""


class Supersession(BaseModel):
    """A header's `supersedes:` entry: the older document and clause this one changes, and how (optional)."""

    doc: str = Field(max_length=300)
    clause: str = Field(min_length=2, max_length=500)
    change: str = Field("", max_length=1000)


class DocumentMeta(BaseModel):
    """What a document says about itself, declared once: the loaded document and the index's record of it
    both carry these fields (chunks, items and citations copy the ones they show, as `doc_*`)."""

    title: str = ""
    doc_number: str = ""  # 文号
    date: str = ""
    authority: str = ""
    level: str = ""  # e.g. "国家/法律", "市级/规范性文件"
    region: str = ""
    effective_date: str = ""  # 施行日期, YYYY-MM-DD
    expiry_date: str = ""  # 失效日期, YYYY-MM-DD ("" when the document sets none)
    status: str = ""  # 现行有效 / 已修订 / 已废止 / 部分失效, when the header says so ("" = judged from the dates)
    supersedes: list[Supersession] = []  # clauses of older documents this one changes (from the header)

    def validity(self, today: str, amended: bool = False) -> str:
        """现行有效 unless the header says otherwise or the dates do: 已失效 past the 失效日期, 尚未施行 before the
        施行日期; 部分条款已调整 when amendment notes name clauses of it."""
        if self.status:
            return self.status
        if self.expiry_date and self.expiry_date < today:
            return "已失效"
        if self.effective_date and self.effective_date > today:
            return "尚未施行"
        return "部分条款已调整" if amended else "现行有效"

    def meta(self) -> dict:
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
