"""Dynamic batching: concurrent requests are gathered into one analyzer call.

The collector takes the first waiting request, everything else already waiting, and whatever else
arrives within ``max_wait_ms``, up to ``max_size`` texts; then it runs them in one call on its own
inference thread. While a batch runs, new requests queue up and form the next batch, so under load
batches grow by themselves, and a lone request waits at most ``max_wait_ms`` extra."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.observability.metrics import BATCH_SIZE, INFERENCE_LATENCY

RunBatch = Callable[[list[str], AnalyzeOptions], list[bytes]]


@dataclass
class _Request:
    texts: list[str]
    options: AnalyzeOptions
    future: asyncio.Future[list[bytes]] = field(repr=False)


class DynamicBatcher:
    def __init__(self, run: RunBatch, label: str, max_size: int = 64, max_wait_ms: float = 2.0) -> None:
        self.run = run
        self.label = label
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inference-{label}")
        self._queue: asyncio.Queue[_Request] | None = None
        self._task: asyncio.Task[None] | None = None

    def _ensure_started(self) -> asyncio.Queue[_Request]:
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(
                self._collect(self._queue), name=f"batcher-{self.label}"
            )
        return self._queue

    async def submit(self, texts: list[str], options: AnalyzeOptions) -> list[bytes]:
        """Serialized results for ``texts``, in order, computed in a batch with other callers' texts."""
        queue = self._ensure_started()
        future: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        queue.put_nowait(_Request(texts, options, future))
        return await future

    async def _collect(self, queue: asyncio.Queue[_Request]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            size = len(batch[0].texts)
            deadline = loop.time() + self.max_wait
            while size < self.max_size:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                batch.append(item)
                size += len(item.texts)
            await self._run(batch)

    async def _run(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        groups: dict[AnalyzeOptions, list[_Request]] = {}
        for request in batch:
            if not request.future.done():  # the caller went away
                groups.setdefault(request.options, []).append(request)
        for options, requests in groups.items():
            texts = [text for request in requests for text in request.texts]
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.run, texts, options)
            except Exception as exc:  # handed to every caller of the group, who turns it into a response
                for request in requests:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            INFERENCE_LATENCY.labels(self.label).observe(time.perf_counter() - started)
            BATCH_SIZE.labels(self.label).observe(len(texts))
            offset = 0
            for request in requests:
                part = results[offset : offset + len(request.texts)]
                offset += len(request.texts)
                if not request.future.done():
                    request.future.set_result(part)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
