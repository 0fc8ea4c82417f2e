"""Builders for documents as government sites publish them: scanned PDFs (page images of real policy text,
drawn with a CJK font, one skewed, one with a red masthead and a seal), OFD files and legacy Word .doc.

Each scanned page is drawn from known text, so what OCR reads back can be scored against it.
"""

import math
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from documents import FONT_CJK, FONT_LATIN

# A4 at 200 dpi, with the margins and the 三号 (16 pt) size of official documents (GB/T 9704).
PAGE_SIZE = (1654, 2339)
DPI = 200
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 220, 260, 260
FONT_PX = 44
LINE_PX = 74
RED = (220, 20, 30)


@dataclass
class ScannedPage:
    lines: list[str]  # the body as drawn, line by line (a paragraph's first line indented two characters)
    masthead: str = ""  # drawn large and red above the body (红头)
    seal: bool = False  # a red seal circle over the bottom right of the text
    skew: float = 0.0  # degrees the page is turned, as a sheet laid crooked on the scanner
    page_label: str = ""  # the printed page number at the foot ("- 2 -")

    @property
    def text(self) -> str:
        """The page's words without any whitespace: what character accuracy is measured against."""
        return "".join("".join(line.split()) for line in [self.masthead, *self.lines])


class Face:
    """The CJK font at one size, with DejaVu for the glyphs it lacks (digits, Latin letters, “”, %, ‰), as a
    word processor falls back from one font to another."""

    _cmap: set[int] | None = None

    def __init__(self, size: int):
        from PIL import ImageFont

        self.cjk = ImageFont.truetype(str(FONT_CJK), size)
        self.latin = ImageFont.truetype(str(FONT_LATIN), size)
        if Face._cmap is None:
            from fontTools.ttLib import TTFont

            Face._cmap = set(TTFont(str(FONT_CJK)).getBestCmap())

    def font_for(self, char: str):
        return self.cjk if ord(char) in Face._cmap else self.latin

    def getlength(self, text: str) -> float:
        return sum(self.font_for(char).getlength(char) for char in text)

    def draw(self, draw, xy: tuple[float, float], text: str, fill) -> None:
        x, y = xy
        for char in text:
            draw.text((x, y), char, font=self.font_for(char), fill=fill)
            x += self.font_for(char).getlength(char)


def font(size: int) -> Face:
    return Face(size)


def wrap(paragraph: str, width: int, face) -> list[str]:
    """Lines of at most `width` pixels; the first line indented two characters, as Chinese paragraphs are."""
    lines, line = [], "\u3000\u3000"
    for char in paragraph:
        if face.getlength(line + char) > width:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line.strip() else lines


def lay_out(paragraphs: list[str], first_page_lines: int | None = None) -> list[list[str]]:
    """The paragraphs' lines, page by page (a paragraph runs over onto the next page where it must)."""
    face = font(FONT_PX)
    per_page = (PAGE_SIZE[1] - MARGIN_TOP - MARGIN_BOTTOM) // LINE_PX
    lines = [line for paragraph in paragraphs for line in wrap(paragraph, PAGE_SIZE[0] - 2 * MARGIN_X, face)]
    first = first_page_lines or per_page
    pages = [lines[:first]]
    pages += [lines[start : start + per_page] for start in range(first, len(lines), per_page)]
    return [page for page in pages if page]


def render_page(page: ScannedPage):
    """The page as an RGB image (dark grey text on white), turned by `page.skew` degrees."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", PAGE_SIZE, "white")
    draw = ImageDraw.Draw(image)
    y = MARGIN_TOP
    if page.masthead:
        big = font(64)
        scale = min(1.0, (PAGE_SIZE[0] - 2 * MARGIN_X) / big.getlength(page.masthead))
        face = font(int(64 * scale))
        face.draw(draw, ((PAGE_SIZE[0] - face.getlength(page.masthead)) / 2, y), page.masthead, RED)
        y += 110
        draw.line([(MARGIN_X, y), (PAGE_SIZE[0] - MARGIN_X, y)], fill=RED, width=5)
        y += 50
    face = font(FONT_PX)
    for line in page.lines:
        face.draw(draw, (MARGIN_X, y), line, (25, 25, 25))
        y += LINE_PX
    if page.page_label:
        small = font(32)
        small.draw(draw, ((PAGE_SIZE[0] - small.getlength(page.page_label)) / 2, PAGE_SIZE[1] - 150), page.page_label, "black")
    if page.seal:
        draw_seal(draw, (PAGE_SIZE[0] - MARGIN_X - 260, y - 200))
    if page.skew:
        image = image.rotate(page.skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor="white")
    return image


def draw_seal(draw, centre: tuple[int, int], radius: int = 180) -> None:
    """A red round seal with a star, overprinting the text below it."""
    x, y = centre
    for width in range(8):
        r = radius - width
        draw.ellipse([x - r, y - r, x + r, y + r], outline=RED)
    star = []
    for i in range(10):
        r = 70 if i % 2 == 0 else 28
        angle = math.pi / 2 + i * math.pi / 5
        star.append((x + r * math.cos(angle), y - r * math.sin(angle)))
    draw.polygon(star, fill=RED)


def make_scanned_pdf(path: Path, pages: list[ScannedPage]) -> Path:
    """An image-only PDF (no text layer), one page image per page, as a scanner writes it."""
    images = [render_page(page) for page in pages]
    images[0].save(path, "PDF", resolution=DPI, save_all=True, append_images=images[1:])
    return path


def make_image(path: Path, page: ScannedPage) -> Path:
    render_page(page).save(path)
    return path


OFD_NS = "http://www.ofdspec.org/2016"


def make_ofd(path: Path, pages: list[list[str]], title: str = "", chars_per_line: int = 28) -> Path:
    """An OFD package (GB/T 33190): OFD.xml → Document.xml → one Content.xml per page, each line of text a
    TextObject at its place on an A4 page (millimetres)."""
    documents = [f'<ofd:Page ID="{i + 10}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in range(len(pages))]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(
            "OFD.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{OFD_NS}" Version="1.0" DocType="OFD"><ofd:DocBody>'
            f"<ofd:DocInfo><ofd:DocID>0</ofd:DocID><ofd:Title>{title}</ofd:Title></ofd:DocInfo>"
            "<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        )
        package.writestr(
            "Doc_0/Document.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{OFD_NS}"><ofd:CommonData><ofd:MaxUnitID>999</ofd:MaxUnitID>'
            "<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes>"
            f"</ofd:CommonData><ofd:Pages>{''.join(documents)}</ofd:Pages></ofd:Document>",
        )
        package.writestr(
            "Doc_0/PublicRes.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Res xmlns:ofd="{OFD_NS}" BaseLoc="Res"><ofd:Fonts>'
            '<ofd:Font ID="1" FontName="仿宋" FamilyName="仿宋"/></ofd:Fonts></ofd:Res>',
        )
        for number, paragraphs in enumerate(pages):
            objects, y, object_id = [], 37.0, 100
            for paragraph in paragraphs:
                # The first line indented by two characters, each line a TextObject.
                lines = [paragraph[: chars_per_line - 2]]
                lines += [paragraph[start : start + chars_per_line] for start in range(chars_per_line - 2, len(paragraph), chars_per_line)]
                for index, line in enumerate(lines):
                    x = 26 + (11.2 if index == 0 else 0)
                    line = line.replace("&", "&amp;").replace("<", "&lt;")
                    deltas = f"g {len(line) - 1} 5.6" if len(line) > 1 else ""
                    objects.append(
                        f'<ofd:TextObject ID="{object_id}" Boundary="{x:.1f} {y:.1f} 158 7" Font="1" Size="5.6">'
                        f'<ofd:TextCode X="0" Y="5.6" DeltaX="{deltas}">{line}</ofd:TextCode></ofd:TextObject>'
                    )
                    y += 9.5
                    object_id += 1
            objects.append(
                f'<ofd:TextObject ID="{object_id}" Boundary="95 280 20 6" Font="1" Size="4.9">'
                f'<ofd:TextCode X="0" Y="4.9">- {number + 1} -</ofd:TextCode></ofd:TextObject>'
            )
            package.writestr(
                f"Doc_0/Pages/Page_{number}/Content.xml",
                f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content><ofd:Layer ID="{number + 2}">'
                f"{''.join(objects)}</ofd:Layer></ofd:Content></ofd:Page>",
            )
    return path


def make_doc(path: Path, docx_path: Path) -> Path:
    """A legacy Word .doc: the .docx at `docx_path` converted by LibreOffice, as an office would save it."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is needed to build the .doc fixture (make dev-install installs libreoffice-writer-nogui)"
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{work}/profile",
                "--headless",
                "--convert-to",
                "doc",
                "--outdir",
                work,
                str(docx_path),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        shutil.move(Path(work) / (docx_path.stem + ".doc"), path)
    return path


def plan_paragraphs(plan: Path) -> list[str]:
    """The plan's paragraphs as its loader reads them (the notice's masthead first)."""
    from assistant.documents.loaders import load_file

    return load_file(plan).text.split("\n\n")


def plan_scan(plan: Path) -> list[ScannedPage]:
    """Three pages as a scanner sees the plan: the notice under its red masthead with the seal over its signature,
    a clean page of the plan, and the next page laid 2° crooked."""
    paragraphs = plan_paragraphs(plan)
    notice = lay_out(paragraphs[1:8])  # 文号, title, addressees, text, signatures and date
    body = lay_out(paragraphs[8:])
    return [
        ScannedPage(notice[0], masthead=paragraphs[0], seal=True),
        ScannedPage(body[0], page_label="- 2 -"),
        ScannedPage(body[1], skew=2.0, page_label="- 3 -"),
    ]


def whole_plan_scan(plan: Path) -> list[ScannedPage]:
    """Every page of the plan scanned, numbered at the foot: the copy the gold questions are asked of."""
    paragraphs = plan_paragraphs(plan)
    pages = [ScannedPage(lay_out(paragraphs[1:8])[0], masthead=paragraphs[0], seal=True)]
    pages += [ScannedPage(lines, page_label=f"- {n} -") for n, lines in enumerate(lay_out(paragraphs[8:]), start=2)]
    return pages


def character_accuracy(read: str, truth: str) -> float:
    """1 − edit distance / length, over the characters without whitespace; full- and half-width forms of a
    character count as the same (the source itself mixes （一） and (一))."""
    from rapidfuzz.distance import Levenshtein

    read, truth = (unicodedata.normalize("NFKC", "".join(text.split())) for text in (read, truth))
    return 1 - Levenshtein.distance(read, truth) / len(truth)
