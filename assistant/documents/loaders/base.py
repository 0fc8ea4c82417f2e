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


class LoadOptions(BaseModel):
    """What reading a file may use and how much work it may cause (set from `Settings` by the ingest)."""

    ocr_cache: Path | None = None  # OCR results by page hash; None: no cache
    ocr_dpi: int = Field(150, ge=72, le=600)  # scanned PDF pages are rendered at this resolution for OCR
    max_ocr_pages: int = Field(300, ge=1)  # a file with more pages to OCR is refused
    max_image_pixels: int = Field(60_000_000, ge=1)  # an image (or rendered page) larger than this is refused
    low_confidence: float = Field(0.9, ge=0.0, le=1.0)  # OCR lines below it are listed in the ingest report
    convert_seconds: float = Field(120.0, gt=0)  # LibreOffice's time to convert one .doc/.wps file


class LoadedDocument(DocumentMeta):
    path: Path
    text: str  # the cleaned full text; chunk offsets point into it
    # (offset into text, page number) for each page start; empty for formats without pages.
    pages: list[tuple[int, int]] = []
    # Pages whose text was read by OCR, with the mean confidence of their lines (an image file is page 1).
    ocr_pages: dict[int, float] = {}
    # The page number printed on a page, where it differs from its place in the file or was read from it.
    page_labels: dict[int, str] = {}
    # Links in an HTML notice's body to local files (href, link text): its attachments.
    links: list[tuple[str, str]] = []
    warnings: list[str] = []

    def ocr_confidence(self, first: int | None, last: int | None) -> float | None:
        """The lowest OCR confidence of the pages first..last, or None when none of them was OCR'd."""
        if first is None or not self.ocr_pages:
            return None
        scores = [self.ocr_pages[n] for n in range(first, (last or first) + 1) if n in self.ocr_pages]
        return min(scores) if scores else None

    def page_at(self, offset: int) -> int | None:
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = number
        return page
