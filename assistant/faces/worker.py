"""Where answering work runs. Answering is CPU work: on a 2-core machine more threads at it only fight over the
interpreter's lock, and the event loop (which answers /healthz and notices clients leaving) waits behind them.
So every answering step of every route runs here, at most `concurrency_limit` at once; the rest wait their turn
(and the request guard bounds how many may wait).
"""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import Request


class Worker:
    def __init__(self, limit: int):
        self.limiter = anyio.CapacityLimiter(limit)

    async def __call__(self, function: Callable, *args) -> Any:
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)

    async def answer(self, events: Iterator, request: Request) -> Any | None:
        """A service stream worked to its answer step by step; None if the client left first (the work stops
        after the step it was on, and the stream is closed)."""
        try:
            while (event := await self(next, events, None)) is not None:
                if event.answer is not None:
                    return event.answer
                if await request.is_disconnected():
                    return None
            raise AssertionError("the service's stream always ends with an answer")
        finally:
            events.close()

    async def iterate(self, pieces: Iterator, *closing: Iterator) -> AsyncIterator:
        """A stream's pieces, each made here. When the client leaves, Starlette stops asking for pieces; the
        generators are then closed at once (a language model's stream with them), not when collected."""
        try:
            while (piece := await self(next, pieces, None)) is not None:
                yield piece
        finally:
            for generator in (pieces, *closing):
                generator.close()
