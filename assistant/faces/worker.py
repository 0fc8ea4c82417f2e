"""Where answering work runs. Answering is CPU work: on a 2-core machine more threads at it only fight over the
interpreter's lock, and the event loop (which answers /healthz and notices clients leaving) waits behind them.
So every answering step of every route runs here, at most `concurrency_limit` at once; the rest wait their turn
(and the request guard bounds how many may wait).
"""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread


class Worker:
    def __init__(self, limit: int):
        self.limiter = anyio.CapacityLimiter(limit)

    async def __call__(self, function: Callable, *args) -> Any:
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)

    async def iterate(self, pieces: Iterator, *closing: Iterator) -> AsyncIterator:
        """A stream's pieces, each made here. When the client leaves, Starlette stops asking for pieces; the
        generators are then closed at once (a language model's stream with them), not when collected."""
        try:
            while (piece := await self(next, pieces, None)) is not None:
                yield piece
        finally:
            for generator in (pieces, *closing):
                generator.close()
