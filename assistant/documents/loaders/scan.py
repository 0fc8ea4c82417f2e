"""Scanned pages read by OCR: PDF pages without a text layer rendered with pypdfium2, and image files (.png,
.jpg, .tif). Each page's OCR boxes become lines in reading order (layout.py); running headers and footers are
dropped, the printed page number is kept as the page's label, and lines read with low confidence are listed as
warnings for the ingest report. The work is bounded: pages to OCR per file, and pixels per page image.
"""

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from assistant.documents.loaders.base import LoadedDocument, LoadError, LoadOptions
from assistant.documents.loaders.layout import PageLayout, running_lines
from assistant.documents.loaders.metadata import fill_missing
from assistant.documents.loaders.ocr import OcrCache, ocr_page, report_progress
from assistant.documents.loaders.repair import PageLine, assemble

# OCR'd images are scaled down to this longer side: more pixels add time, not accuracy (a 300 dpi A4 page is 3508).
MAX_SIDE = 3600
# How many low-confidence lines a warning quotes.
_QUOTED = 3
# Chinese documents write full-width punctuation; the recogniser often returns the ASCII look-alike.
_CJK = r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef“”]"
_FULL_WIDTH = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！"}
# The year of a 文号 is bracketed 〔〕 (GB/T 9704); the recogniser reads one of the pair as 【】, [] or （）.
_DOC_NUMBER_YEAR = re.compile(r"[〔【\[（(](\d{4})[〕】\]）)](?=\d+号)")


@dataclass
class ReadPages:
    lines: list[PageLine] = field(default_factory=list)
    confidence: dict[int, float] = field(default_factory=dict)  # page → mean confidence of its lines
    labels: dict[int, str] = field(default_factory=dict)  # page → printed page number
    warnings: list[str] = field(default_factory=list)


def check_page_count(path: Path, count: int, options: LoadOptions) -> None:
    if count > options.max_ocr_pages:
        raise LoadError(
            f"{path.name}: {count} scanned pages to OCR, over the limit of {options.max_ocr_pages} per file "
            "(POLICY_QA_MAX_OCR_PAGES); split the file or raise the limit"
        )


def render_scale(width_pt: float, height_pt: float, options: LoadOptions) -> float:
    """Pixels per point at the configured dpi, lowered for a page so large it would pass the pixel limit."""
    scale = options.ocr_dpi / 72
    pixels = width_pt * height_pt * scale * scale
    if pixels > options.max_image_pixels:
        scale *= (options.max_image_pixels / pixels) ** 0.5
    return scale


def read_pdf_pages(path: Path, numbers: list[int], options: LoadOptions) -> ReadPages:
    """OCR of the given pages (1-based) of a PDF."""
    import pypdfium2

    check_page_count(path, len(numbers), options)
    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as error:
        raise LoadError(f"{path.name}: the scanned pages cannot be rendered ({error}); re-export the PDF and try again") from None
    layouts: dict[int, PageLayout] = {}
    cache = OcrCache(options.ocr_cache)
    try:
        for done, number in enumerate(numbers):
            page = pdf[number - 1]
            width, height = page.get_size()
            image = page.render(scale=render_scale(width, height, options), grayscale=False).to_pil()
            layouts[number] = ocr_page(image, cache).layout
            report_progress(done + 1, len(numbers))
    finally:
        pdf.close()
    return page_lines(layouts, options)


def open_image(path: Path, options: LoadOptions):
    """The image, its size checked before any pixel is decoded (a few KB of PNG can decode to gigabytes)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except Image.DecompressionBombError:  # Pillow's own bound, far above ours, caught first
        raise LoadError(
            f"{path.name}: the image is over the limit of {options.max_image_pixels:,} pixels (POLICY_QA_MAX_IMAGE_PIXELS); scan it at 300 dpi or less"
        ) from None
    except (UnidentifiedImageError, OSError) as error:
        raise LoadError(f"{path.name}: not a readable image ({error.__class__.__name__}); save it as PNG or JPEG") from None
    width, height = image.size
    if width * height > options.max_image_pixels:
        raise LoadError(
            f"{path.name}: the image is {width}×{height} pixels, over the limit of {options.max_image_pixels:,} "
            "(POLICY_QA_MAX_IMAGE_PIXELS); scan it at 300 dpi or less"
        )
    return image


def image_frames(path: Path, options: LoadOptions) -> list:
    """Each page of the image file (a TIFF may hold several) as an RGB image of bounded size."""
    image = open_image(path, options)
    count = getattr(image, "n_frames", 1)
    check_page_count(path, count, options)
    frames = []
    try:
        for index in range(count):
            image.seek(index)
            frame = image.convert("RGB")
            if max(frame.size) > MAX_SIDE:
                ratio = MAX_SIDE / max(frame.size)
                frame = frame.resize((round(frame.width * ratio), round(frame.height * ratio)))
            frames.append(frame)
    except (OSError, ValueError) as error:
        raise LoadError(f"{path.name}: the image is damaged ({error.__class__.__name__}); save it again and retry") from None
    return frames


def load_image(path: Path, options: LoadOptions | None = None) -> LoadedDocument:
    options = options or LoadOptions()
    cache = OcrCache(options.ocr_cache)
    frames = image_frames(path, options)
    layouts = {}
    for index, frame in enumerate(frames):
        layouts[index + 1] = ocr_page(frame, cache).layout
        report_progress(index + 1, len(frames))
    read = page_lines(layouts, options)
    if not read.lines:
        raise LoadError(f"{path.name}: OCR found no text in the image; check that it is a legible scan")
    text, pages = assemble(read.lines)
    document = LoadedDocument(path=path, text=text, pages=pages, ocr_pages=read.confidence, page_labels=read.labels, warnings=read.warnings)
    return fill_missing(document)


def full_width_punctuation(lines: list[str]) -> list[str]:
    """ASCII , : ; ? ! ( ) next to Chinese text made full-width, straight quotes made “ ” in turn (the turn
    carries over line ends, as a quotation may), and a 文号's year bracketed 〔〕."""
    result, open_quote = [], False
    for line in lines:
        line = _DOC_NUMBER_YEAR.sub(r"〔\1〕", line)
        line = re.sub(rf"(?<={_CJK})([,:;?!])", lambda m: _FULL_WIDTH[m.group(1)], line)
        line = re.sub(rf"\((?={_CJK})|(?<={_CJK})\((?=\S)", "（", line)
        line = re.sub(rf"(?<={_CJK})\)|\)(?={_CJK})", "）", line)
        quoted = []
        for char in line:
            if char in '"“”':
                char = "”" if (char == "”" or char == '"' and open_quote) else "“"
                open_quote = char == "“"
            quoted.append(char)
        result.append("".join(quoted))
    return result


def page_lines(layouts: dict[int, PageLayout], options: LoadOptions) -> ReadPages:
    """The pages' lines without running headers and footers, with confidences, labels and warnings."""
    read = ReadPages()
    running = running_lines(list(layouts.values()))
    for number, layout in sorted(layouts.items()):
        lines = layout.without(running)
        if layout.label:
            read.labels[number] = layout.label
        if not lines:
            read.warnings.append(f"page {number}: OCR found no text on the scanned page")
            continue
        texts = full_width_punctuation([line.text for line in lines])
        read.lines.extend(PageLine(number, text, line.full, placed=True) for text, line in zip(texts, lines))
        read.confidence[number] = round(statistics.fmean(line.score for line in lines), 4)
        doubtful = [line.text for line in lines if line.score < options.low_confidence]
        if doubtful:
            quoted = "、".join(f"「{text[:30]}」" for text in doubtful[:_QUOTED])
            read.warnings.append(
                f"page {number}: {len(doubtful)} line(s) read by OCR with low confidence (below {options.low_confidence:g}), "
                f"check them against the original: {quoted}"
            )
    return read
