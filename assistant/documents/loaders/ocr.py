"""Offline OCR of page images with RapidOCR (the PP-OCRv4 Chinese detection and recognition models ship inside
its wheel; nothing is downloaded). Results are cached by a hash of the page's pixels, so a re-ingest of the
same scan does no OCR. Pages are reported to an optional progress hook, which the isolated loader uses for its
progress bar and to give each OCR'd page its own share of the time limit.
"""

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from assistant.documents.loaders.base import LoadError
from assistant.documents.loaders.layout import Box, PageLayout, page_layout

# Bump when the engine or its settings change, so that cached results of the old engine are not reused.
ENGINE_VERSION = "rapidocr-onnxruntime/PP-OCRv4/2"
# Scanned pages stand upright, and the angle classifier turned whole lines upside down (a line opening with
# ”。 was read as garbage); wider boxes keep a line's last 。 inside the box the recogniser reads.
ENGINE_OPTIONS = {"use_cls": False, "det_unclip_ratio": 2.0}
# Boxes below this confidence are noise (a seal's curved rim, a speck), not text.
MIN_BOX_SCORE = 0.5

# Called with (pages done, pages to OCR) as each page is read; set by the worker that runs the loaders.
ProgressHook = Callable[[int, int], None]
progress_hook: ProgressHook | None = None

_engine = None
_engine_lock = threading.Lock()


def engine():
    """The OCR engine, loaded once per process (about a second)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise LoadError("OCR is not installed (rapidocr-onnxruntime); run `make install` to read scanned pages") from None
            _engine = RapidOCR(**ENGINE_OPTIONS)
        return _engine


@dataclass
class OcrPage:
    boxes: list[Box]
    size: tuple[int, int]  # pixels

    @property
    def layout(self) -> PageLayout:
        return page_layout(self.boxes, self.size)


class OcrCache:
    """OCR results by page hash in one SQLite file; `None` path: no cache."""

    def __init__(self, path: Path | None):
        self.path = path

    def get(self, key: str) -> list[Box] | None:
        if self.path is None or not self.path.exists():
            return None
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.execute("CREATE TABLE IF NOT EXISTS ocr (key TEXT PRIMARY KEY, boxes TEXT NOT NULL)")
            row = db.execute("SELECT boxes FROM ocr WHERE key = ?", (key,)).fetchone()
        return [Box(text, [tuple(c) for c in corners], score) for text, corners, score in json.loads(row[0])] if row else None

    def put(self, key: str, boxes: list[Box]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps([[b.text, b.corners, b.score] for b in boxes], ensure_ascii=False)
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS ocr (key TEXT PRIMARY KEY, boxes TEXT NOT NULL)")
            db.execute("INSERT OR REPLACE INTO ocr VALUES (?, ?)", (key, data))


def page_key(image) -> str:
    """The hash of a page image's pixels and of the engine that reads it."""
    digest = hashlib.sha256(ENGINE_VERSION.encode())
    digest.update(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def recognise(image) -> list[Box]:
    """The text boxes RapidOCR finds on an RGB page image, the noise left out."""
    import numpy

    # RapidOCR reads arrays in OpenCV's BGR order.
    found, _ = engine()(numpy.asarray(image.convert("RGB"))[:, :, ::-1])
    boxes = [Box(str(text), [(float(x), float(y)) for x, y in corners], float(score)) for corners, text, score in found or []]
    return [b for b in boxes if b.score >= MIN_BOX_SCORE and b.text.strip()]


def ocr_page(image, cache: OcrCache) -> OcrPage:
    key = page_key(image)
    boxes = cache.get(key)
    if boxes is None:
        boxes = recognise(image)
        cache.put(key, boxes)
    return OcrPage(boxes, image.size)


def report_progress(done: int, total: int) -> None:
    if progress_hook is not None:
        progress_hook(done, total)
