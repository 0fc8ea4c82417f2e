"""Reading files in a worker process with a time limit: a file built to keep a parser busy (a PDF with a
pathological object graph, say) costs at most `max_file_seconds`, after which the worker is killed and the
file reported as failed. One worker serves a whole batch; it is started on the first file that needs reading.
"""

import multiprocessing
from multiprocessing.pool import Pool
from pathlib import Path

from assistant.documents.loaders import load_file
from assistant.documents.loaders.base import LoadedDocument, LoadError


def ready() -> bool:
    return True


class IsolatedLoader:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._pool: Pool | None = None

    def load(self, path: Path) -> LoadedDocument:
        if self._pool is None:
            # spawn, not fork: the ingest may run inside a server with threads, which fork does not copy safely.
            self._pool = multiprocessing.get_context("spawn").Pool(1)
            self._pool.apply(ready)  # the worker's start-up (imports) is not counted against a file
        pending = self._pool.apply_async(load_file, (path,))
        try:
            return pending.get(self.seconds)
        except multiprocessing.TimeoutError:
            self.close()
            raise LoadError(
                f"{path.name}: reading it took more than {self.seconds:g} s (POLICY_QA_MAX_FILE_SECONDS); "
                "the file may be damaged, or save it in a simpler format"
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> "IsolatedLoader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
