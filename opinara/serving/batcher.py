"""Dynamic batching: concurrent requests are gathered into one analyzer call.

The collector takes the first waiting request, everything else already waiting, and whatever else
arrives within ``max_wait_ms``, up to ``max_size`` texts; then it runs them in one call on its own
inference thread. While a batch runs, new requests queue up and form the next batch, so under load
batches grow by themselves, and a lone request waits at most ``max_wait_ms`` extra.

Three rules keep one caller from harming the others:

- Backpressure: what waits (from ``submit`` until its call ends) is bounded in texts and characters;
  a request over either bound is refused with :class:`Unavailable` (503 + Retry-After) at once, so
  an overload shows as quick refusals instead of every caller's latency growing without end.
- Isolation: when a call fails, each request of it is retried on its own, so one input that breaks
  the model fails alone. Its error names the exception type only: messages of model libraries may
  quote the input, and raw text must never reach an answer or a log.
- Callers that went away (their future is cancelled) are dropped, never computed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.errors import AnalysisFailed, OpinaraError, Unavailable
from opinara.observability.metrics import BATCH_QUEUE_TEXTS, BATCH_SIZE, INFERENCE_LATENCY

log = logging.getLogger(__name__)

RunBatch = Callable[[list[str], AnalyzeOptions], list[bytes]]


@dataclass(eq=False)
class _Request:
    texts: list[str] = field(repr=False)  # never in a repr: a logged request must not leak its text
    options: AnalyzeOptions
    future: asyncio.Future[list[bytes]] = field(repr=False)
    chars: int = 0
    handed_over: bool = False  # taken into an analyzer call: the batcher releases it when the call ends
    released: bool = False  # no longer counted against the queue bounds


class DynamicBatcher:
    def __init__(
        self,
        run: RunBatch,
        label: str,
        max_size: int = 64,
        max_wait_ms: float = 2.0,
        max_queued_texts: int = 4096,
        max_queued_chars: int = 8_000_000,
    ) -> None:
        self.run = run
        self.label = label
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queued_texts = max_queued_texts
        self.max_queued_chars = max_queued_chars
        self._queued_texts = 0
        self._queued_chars = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"inference-{label}")
        self._queue: asyncio.Queue[_Request] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def queued_texts(self) -> int:
        """Texts submitted whose analyzer call has not ended yet (waiting or running)."""
        return self._queued_texts

    @property
    def queued_chars(self) -> int:
        return self._queued_chars

    def _ensure_started(self) -> asyncio.Queue[_Request]:
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(
                self._collect(self._queue), name=f"batcher-{self.label}"
            )
        return self._queue

    async def submit(self, texts: list[str], options: AnalyzeOptions) -> list[bytes]:
        """Serialized results for ``texts``, in order, computed in a batch with other callers' texts.

        Raises :class:`Unavailable` when the queue is full, :class:`AnalysisFailed` when the analyzer
        fails on these texts on their own. Cancelling the caller drops the texts if not yet running."""
        queue = self._ensure_started()
        request = self._admit(texts, options)
        queue.put_nowait(request)
        try:
            return await request.future
        finally:
            if not request.handed_over:  # cancelled while waiting: it will be dropped, so it stops counting now
                self._release(request)

    def _admit(self, texts: list[str], options: AnalyzeOptions) -> _Request:
        chars = sum(len(text) for text in texts)
        waiting = self._queued_texts
        # Checked only when something waits, so a request larger than a bound can still run on its own.
        if waiting and (
            waiting + len(texts) > self.max_queued_texts or self._queued_chars + chars > self.max_queued_chars
        ):
            raise Unavailable(f"the analyzer is busy: {waiting} texts are waiting; try again shortly", retry_after=1)
        self._queued_texts += len(texts)
        self._queued_chars += chars
        BATCH_QUEUE_TEXTS.labels(self.label).inc(len(texts))
        future: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        return _Request(texts, options, future, chars)

    def _release(self, request: _Request) -> None:
        """Stop counting a request; safe to call from every path that ends it, as it counts down once."""
        if request.released:
            return
        request.released = True
        self._queued_texts -= len(request.texts)
        self._queued_chars -= request.chars
        BATCH_QUEUE_TEXTS.labels(self.label).dec(len(request.texts))

    async def _collect(self, queue: asyncio.Queue[_Request]) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Request] = []
        try:
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
                batch = []
        finally:
            # Closed, or the loop is going away: nothing will run what waits, so its callers hear it now.
            while not queue.empty():
                batch.append(queue.get_nowait())
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(Unavailable("the analyzer is shutting down; try again shortly"))
                self._release(request)

    async def _run(self, batch: list[_Request]) -> None:
        groups: dict[AnalyzeOptions, list[_Request]] = {}
        for request in batch:
            groups.setdefault(request.options, []).append(request)
        for options, requests in groups.items():
            live: list[_Request] = []
            for request in requests:  # checked per group: a caller may leave while an earlier group runs
                if request.future.done():  # the caller went away: its texts are not computed
                    self._release(request)
                else:
                    request.handed_over = True
                    live.append(request)
            if not live:
                continue
            try:
                await self._run_group(live, options)
            finally:
                for request in live:
                    self._release(request)

    async def _run_group(self, requests: list[_Request], options: AnalyzeOptions) -> None:
        try:
            results = await self._call([text for request in requests for text in request.texts], options)
        except Exception as exc:
            if len(requests) == 1:
                self._fail(requests[0], exc)
                return
            log.warning(
                "analyzer call failed (%s) on a batch of %d requests; retrying each on its own",
                type(exc).__name__,
                len(requests),
            )
            for request in requests:
                await self._run_alone(request, options)
            return
        offset = 0
        for request in requests:
            self._settle(request, results[offset : offset + len(request.texts)])
            offset += len(request.texts)

    async def _run_alone(self, request: _Request, options: AnalyzeOptions) -> None:
        if request.future.done():  # went away while the requests before it were retried
            self._release(request)
            return
        try:
            results = await self._call(request.texts, options)
        except Exception as exc:
            self._fail(request, exc)
        else:
            self._settle(request, results)

    async def _call(self, texts: list[str], options: AnalyzeOptions) -> list[bytes]:
        started = time.perf_counter()
        results = await asyncio.get_running_loop().run_in_executor(self._executor, self.run, texts, options)
        if len(results) != len(texts):  # sliced by offset, a short answer would hand callers others' results
            raise RuntimeError(f"the analyzer returned {len(results)} results for {len(texts)} texts")
        INFERENCE_LATENCY.labels(self.label).observe(time.perf_counter() - started)
        BATCH_SIZE.labels(self.label).observe(len(texts))
        return results

    def _settle(self, request: _Request, results: list[bytes]) -> None:
        if not request.future.done():
            request.future.set_result(results)
        self._release(request)

    def _fail(self, request: _Request, exc: Exception) -> None:
        # The type only, here and in the answer: the message of a model library's error may quote the text.
        log.warning("analyzer call failed (%s) on one request of %d texts", type(exc).__name__, len(request.texts))
        if isinstance(exc, OpinaraError):  # raised on purpose; its message never quotes the text
            error: Exception = exc
        else:  # not chained with ``from exc``: a logged traceback of the cause would print its message
            error = AnalysisFailed(f"the analyzer failed on this input ({type(exc).__name__})")
        if not request.future.done():
            request.future.set_exception(error)
        self._release(request)

    def close(self) -> None:
        """Stop the collector (callers still waiting get :class:`Unavailable`) and the inference thread."""
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
