"""Reading files in a worker process with a time limit: a file built to keep a parser busy (a PDF with a
pathological object graph, say) costs at most `max_file_seconds`, after which the worker is killed and the
file reported as failed. OCR is slow by nature, so each page the worker has OCR'd adds `ocr_page_seconds` to
that file's limit: a long scan finishes, a stuck page does not hold the batch. The worker reports its pages,
which also drive a progress bar. One worker serves a whole batch; it is started on the first file to read.
"""

import multiprocessing
import time
from multiprocessing.pool import Pool
from pathlib import Path

from assistant.documents.loaders import load_file
from assistant.documents.loaders.base import LoadedDocument, LoadError, LoadOptions

# How often the parent looks at the worker's page count (and moves the progress bar).
_POLL_SECONDS = 0.25


def ready() -> bool:
    return True


def watch_pages(done, total) -> None:
    """In the worker: publish OCR progress through the shared counters."""
    from assistant.documents.loaders import ocr

    def publish(pages_done: int, pages_total: int) -> None:
        total.value, done.value = pages_total, pages_done

    ocr.progress_hook = publish


class IsolatedLoader:
    def __init__(self, seconds: float, options: LoadOptions | None = None, page_seconds: float = 0.0, progress: bool = False):
        self.seconds = seconds
        self.options = options or LoadOptions()
        self.page_seconds = page_seconds
        self.progress = progress
        self._pool: Pool | None = None
        self._done = self._total = None

    def start(self) -> Pool:
        if self._pool is None:
            # spawn, not fork: the ingest may run inside a server with threads, which fork does not copy safely.
            context = multiprocessing.get_context("spawn")
            self._done, self._total = context.Value("i", 0), context.Value("i", 0)
            self._pool = context.Pool(1, initializer=watch_pages, initargs=(self._done, self._total))
            self._pool.apply(ready)  # the worker's start-up (imports) is not counted against a file
        return self._pool

    def load(self, path: Path) -> LoadedDocument:
        pool = self.start()
        self._done.value = self._total.value = 0
        pending = pool.apply_async(load_file, (path, self.options))
        started = time.monotonic()
        bar = None
        try:
            while True:
                limit = self.seconds + self._done.value * self.page_seconds
                left = started + limit - time.monotonic()
                if left <= 0:
                    self.close()
                    raise LoadError(self.timeout_message(path, limit))
                try:
                    return pending.get(min(left, _POLL_SECONDS))
                except multiprocessing.TimeoutError:
                    bar = self.show_progress(bar, path)
        finally:
            if bar is not None:
                bar.close()

    def show_progress(self, bar, path: Path):
        """A bar per file that OCRs pages, once the worker says how many."""
        if not self.progress or self._total.value == 0:
            return bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=self._total.value, desc=f"OCR {path.name}", unit="page", leave=False)
        bar.update(self._done.value - bar.n)
        return bar

    def timeout_message(self, path: Path, limit: float) -> str:
        pages = f" ({self._done.value} pages OCR'd at {self.page_seconds:g} s each, POLICY_QA_OCR_PAGE_SECONDS)" if self._done.value else ""
        return (
            f"{path.name}: reading it took more than {limit:g} s (POLICY_QA_MAX_FILE_SECONDS){pages}; "
            "the file may be damaged, or save it in a simpler format"
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> "IsolatedLoader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
