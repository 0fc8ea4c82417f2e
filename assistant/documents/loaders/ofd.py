"""OFD loader (GB/T 33190, the fixed-layout format of Chinese e-government): the text layer read straight from
the package's XML — OFD.xml names the document, Document.xml its pages, each page's Content.xml holds
TextObjects placed on the page in millimetres. Lines are rebuilt from their positions as for OCR (layout.py),
so page numbers, running headers and paragraph breaks are handled the same way. Page numbers are kept.

The package is a zip: members are read with a size bound and the XML parsed without entities or network access.
"""

import posixpath
import zipfile
from pathlib import Path, PurePosixPath

from lxml import etree

from assistant.documents.loaders.base import LoadedDocument, LoadError, LoadOptions
from assistant.documents.loaders.layout import Box, PageLayout, page_layout, running_lines
from assistant.documents.loaders.metadata import fill_missing
from assistant.documents.loaders.repair import PageLine, assemble

NS = {"ofd": "http://www.ofdspec.org/2016"}
# Bounds on what one package may make the loader read: one XML member, and all of them together.
MAX_MEMBER_BYTES = 20_000_000
MAX_TOTAL_BYTES = 200_000_000
_A4 = (210.0, 297.0)
_MAX_REPEAT = 10_000
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


class _Package:
    """The zip, read member by member within the size bounds."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError):
            raise LoadError(f"{path.name}: not a valid OFD file (an OFD is a zip package); export it again") from None
        self.read_bytes = 0

    def xml(self, name: str):
        name = name.lstrip("/")
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            raise LoadError(f"{self.path.name}: the OFD package lacks {name}; export it again") from None
        self.read_bytes += info.file_size
        if info.file_size > MAX_MEMBER_BYTES or self.read_bytes > MAX_TOTAL_BYTES:
            raise LoadError(f"{self.path.name}: {name} is too large to read ({info.file_size:,} bytes); the file may be damaged")
        try:
            return etree.fromstring(self.zip.read(info), _PARSER)
        except (etree.XMLSyntaxError, zipfile.BadZipFile, OSError, ValueError) as error:
            raise LoadError(f"{self.path.name}: {name} is not readable XML ({error.__class__.__name__}); export the OFD again") from None


def number_list(value: str | None) -> list[float]:
    """OFD's space-separated numbers; `g n d` in DeltaX repeats d n times."""
    tokens = (value or "").split()
    numbers: list[float] = []
    index = 0
    while index < len(tokens):
        if tokens[index] == "g" and index + 2 < len(tokens):
            # The count is bounded: "g 1e12 5" must not fill the memory.
            numbers.extend([float(tokens[index + 2])] * min(int(float(tokens[index + 1])), _MAX_REPEAT))
            index += 3
        else:
            numbers.append(float(tokens[index]))
            index += 1
    return numbers


def text_boxes(content) -> list[Box]:
    """A box per TextCode: its text at the TextObject's place (Boundary = x y width height, mm)."""
    boxes = []
    for obj in content.iterfind(".//ofd:TextObject", NS):
        bx, by, _, _ = (number_list(obj.get("Boundary")) + [0.0] * 4)[:4]
        size = (number_list(obj.get("Size")) or [3.5])[0]
        for code in obj.iterfind("ofd:TextCode", NS):
            text = code.text or ""
            if not text.strip():
                continue
            x = bx + float(code.get("X") or 0)
            baseline = by + float(code.get("Y") or size)
            deltas = number_list(code.get("DeltaX"))
            width = sum(deltas[: len(text) - 1]) + size if deltas else size * len(text)
            top = baseline - size
            boxes.append(Box(text, [(x, top), (x + width, top), (x + width, baseline), (x, baseline)]))
    return boxes


def page_size(document) -> tuple[float, float]:
    box = number_list(document.findtext(".//ofd:CommonData/ofd:PageArea/ofd:PhysicalBox", namespaces=NS))
    return (box[2], box[3]) if len(box) == 4 and box[2] > 0 and box[3] > 0 else _A4


def load_ofd(path: Path, options: LoadOptions | None = None) -> LoadedDocument:
    options = options or LoadOptions()
    package = _Package(path)
    root = package.xml("OFD.xml")
    doc_root = root.findtext(".//ofd:DocBody/ofd:DocRoot", namespaces=NS)
    if not doc_root:
        raise LoadError(f"{path.name}: OFD.xml names no document (DocRoot); export the OFD again")
    document = package.xml(doc_root)
    base = PurePosixPath(doc_root.lstrip("/")).parent
    page_refs = [page.get("BaseLoc") for page in document.iterfind(".//ofd:Pages/ofd:Page", NS)]
    if len(page_refs) > options.max_ocr_pages * 10:
        raise LoadError(f"{path.name}: {len(page_refs)} pages is more than this assistant reads from one file; split it")
    size = page_size(document)
    layouts: dict[int, PageLayout] = {}
    for number, ref in enumerate(page_refs, start=1):
        if not ref:
            continue
        # BaseLoc is relative to the document's folder, or absolute from the package root.
        member = ref.lstrip("/") if ref.startswith("/") else posixpath.normpath(str(base / ref))
        layouts[number] = page_layout(text_boxes(package.xml(member)), size)
    running = running_lines(list(layouts.values()))
    lines: list[PageLine] = []
    labels: dict[int, str] = {}
    for number, layout in sorted(layouts.items()):
        lines.extend(PageLine(number, line.text, line.full, placed=True) for line in layout.without(running))
        if layout.label:
            labels[number] = layout.label
    if not lines:
        raise LoadError(f"{path.name}: the OFD has no text layer (its pages are images); print it to PDF and ingest that for OCR")
    text, pages = assemble(lines)
    title = (root.findtext(".//ofd:DocInfo/ofd:Title", namespaces=NS) or "").strip()
    return fill_missing(LoadedDocument(path=path, text=text, title=title, pages=pages, page_labels=labels))
