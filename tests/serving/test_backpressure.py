"""Backpressure: a full batcher says "busy" at once, and callers that went away are never computed.

The batcher runs with its injection seam, a ``run`` function that can hold the inference thread, and
the disconnect watcher with a real uvicorn server and a raw TCP client that hangs up."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest
import uvicorn
from fastapi import FastAPI, Request
from prometheus_client import REGISTRY
from pydantic import BaseModel

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.api.disconnect import unless_disconnected
from opinara.errors import AnalysisFailed, Unavailable
from opinara.serving.batcher import DynamicBatcher

OPTIONS = AnalyzeOptions(aspects=False)


class GatedRun:
    """A run function that records every call; texts starting with "hold" keep the inference thread
    busy until the gate opens, texts starting with "fail" make the call fail."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.gate = threading.Event()

    def __call__(self, texts: list[str], options: AnalyzeOptions) -> list[bytes]:
        self.calls.append(list(texts))
        if any(text.startswith("hold") for text in texts):
            self.started.set()
            self.gate.wait(timeout=5)  # bounded: a failing test must not leave the thread stuck
        if any(text.startswith("fail") for text in texts):
            raise ValueError(f"cannot analyze {texts!r}")
        return [text.upper().encode() for text in texts]

    @property
    def sent(self) -> list[str]:
        return [text for call in self.calls for text in call]


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait for what another task or thread brings about; fail the test rather than hang."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


def gauge(label: str) -> float | None:
    return REGISTRY.get_sample_value("opinara_batch_queue_texts", {"backend": label})


def test_a_request_over_the_text_bound_is_refused_at_once():
    run = GatedRun()
    batcher = DynamicBatcher(run, "test-bounded", max_wait_ms=1, max_queued_texts=3)

    async def main() -> None:
        holding = asyncio.create_task(batcher.submit(["hold 1", "hold 2"], OPTIONS))
        await until(run.started.is_set)
        waiting = asyncio.create_task(batcher.submit(["fits"], OPTIONS))
        await asyncio.sleep(0)
        assert batcher.queued_texts == 3 and gauge("test-bounded") == 3

        with pytest.raises(Unavailable) as refused:
            await batcher.submit(["one too many"], OPTIONS)
        assert refused.value.retry_after >= 1
        assert refused.value.message == "the analyzer is busy: 3 texts are waiting; try again shortly"

        run.gate.set()
        assert await holding == [b"HOLD 1", b"HOLD 2"]
        assert await waiting == [b"FITS"]
        assert batcher.queued_texts == 0 and batcher.queued_chars == 0 and gauge("test-bounded") == 0
        # With nothing waiting, a request larger than the bound is admitted, or it could never run.
        assert await batcher.submit(["x"] * 5, OPTIONS) == [b"X"] * 5

    asyncio.run(main())
    batcher.close()
    assert "one too many" not in run.sent


def test_the_character_bound_refuses_too():
    run = GatedRun()
    batcher = DynamicBatcher(run, "test-chars", max_wait_ms=1, max_queued_texts=100, max_queued_chars=20)

    async def main() -> None:
        long_text = "hold" + "." * 30  # over the bound, admitted because nothing waits
        holding = asyncio.create_task(batcher.submit([long_text], OPTIONS))
        await until(run.started.is_set)
        with pytest.raises(Unavailable):
            await batcher.submit(["short"], OPTIONS)
        run.gate.set()
        await holding
        assert batcher.queued_chars == 0

    asyncio.run(main())
    batcher.close()


def test_queued_counts_return_to_zero_after_failures_and_cancellations():
    run = GatedRun()
    batcher = DynamicBatcher(run, "test-counts", max_wait_ms=5, max_queued_texts=10)

    async def main() -> None:
        holding = asyncio.create_task(batcher.submit(["hold"], OPTIONS))
        await until(run.started.is_set)
        others = [asyncio.create_task(batcher.submit([text], OPTIONS)) for text in ("fail a", "fail b", "ok")]
        leaving = asyncio.create_task(batcher.submit(["leaving"], OPTIONS))
        await asyncio.sleep(0)
        assert batcher.queued_texts == 5
        leaving.cancel()
        await asyncio.sleep(0)
        assert batcher.queued_texts == 4  # it will never run, so it stops counting at once

        run.gate.set()
        outcomes = await asyncio.gather(holding, *others, return_exceptions=True)
        assert [type(outcome) for outcome in outcomes] == [list, AnalysisFailed, AnalysisFailed, list]
        assert batcher.queued_texts == 0 and batcher.queued_chars == 0 and gauge("test-counts") == 0

        # Cancelled while its call runs: the thread is still busy with it, so it counts until the call ends.
        run.gate.clear()
        run.started.clear()
        running = asyncio.create_task(batcher.submit(["hold again"], OPTIONS))
        await until(run.started.is_set)
        running.cancel()
        await asyncio.sleep(0)
        assert batcher.queued_texts == 1
        run.gate.set()
        await until(lambda: batcher.queued_texts == 0)

    asyncio.run(main())
    batcher.close()
    assert "leaving" not in run.sent


def test_a_caller_that_leaves_after_its_batch_formed_is_not_computed():
    run = GatedRun()
    batcher = DynamicBatcher(run, "test-leaving", max_wait_ms=20)

    async def main() -> None:
        # One batch, two groups (options are never mixed): the second caller leaves while the first runs.
        running = asyncio.create_task(batcher.submit(["hold"], AnalyzeOptions(aspects=True)))
        leaving = asyncio.create_task(batcher.submit(["left"], OPTIONS))
        await until(run.started.is_set)
        leaving.cancel()
        await asyncio.sleep(0)
        assert batcher.queued_texts == 1
        run.gate.set()
        await running
        assert batcher.queued_texts == 0

    asyncio.run(main())
    batcher.close()
    assert run.calls == [["hold"]]


def test_close_answers_waiting_callers_instead_of_leaving_them_hanging():
    run = GatedRun()
    batcher = DynamicBatcher(run, "test-close", max_wait_ms=1)

    async def main() -> None:
        holding = asyncio.create_task(batcher.submit(["hold"], OPTIONS))
        await until(run.started.is_set)
        waiting = asyncio.create_task(batcher.submit(["waiting"], OPTIONS))
        await asyncio.sleep(0)
        batcher.close()
        for caller in (holding, waiting):
            with pytest.raises(Unavailable):
                await caller
        assert batcher.queued_texts == 0

    try:
        asyncio.run(main())
    finally:
        run.gate.set()


class Work(BaseModel):
    text: str
    seconds: float = 0.0


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[int]:
    """A real uvicorn server on a free local port, in this event loop."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done())
    if task.done():
        task.result()  # the server could not start: its own error says why
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)


async def post(port: int, work: Work) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a request on a raw connection; the caller reads the answer or hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = work.model_dump_json().encode()
    head = f"POST /work HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
    await writer.drain()
    return reader, writer


def test_work_is_cancelled_when_the_client_disconnects():
    async def main() -> None:
        started, ended = asyncio.Event(), asyncio.Event()
        cancelled: list[str] = []
        app = FastAPI()

        @app.post("/work")
        async def work(body: Work, request: Request) -> dict[str, str]:
            async def slow_work() -> str:
                started.set()
                try:
                    await asyncio.sleep(body.seconds)
                    return body.text.upper()
                except asyncio.CancelledError:
                    cancelled.append(body.text)
                    raise
                finally:
                    ended.set()

            return {"text": await unless_disconnected(request, slow_work())}

        async with serving(app) as port:
            reader, writer = await post(port, Work(text="stays"))
            answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"text":"STAYS"}')

            started.clear()
            ended.clear()
            _, writer = await post(port, Work(text="leaves", seconds=30))
            await asyncio.wait_for(started.wait(), 1)
            writer.close()  # the client hangs up
            await asyncio.wait_for(ended.wait(), 1)
            assert cancelled == ["leaves"]

    asyncio.run(main())


def test_a_disconnected_clients_texts_leave_the_batcher_queue():
    run = GatedRun()
    batcher = DynamicBatcher(run, "test-disconnect", max_wait_ms=1)

    async def main() -> None:
        app = FastAPI()

        @app.post("/work")
        async def work(body: Work, request: Request) -> list[str]:
            results = await unless_disconnected(request, batcher.submit([body.text], OPTIONS))
            return [result.decode() for result in results]

        async with serving(app) as port:
            holding = asyncio.create_task(batcher.submit(["hold"], OPTIONS))
            await until(run.started.is_set)
            _, writer = await post(port, Work(text="nobody waits for this"))
            await until(lambda: batcher.queued_texts == 2)
            writer.close()  # the client hangs up
            await until(lambda: batcher.queued_texts == 1, timeout=1)
            run.gate.set()
            await holding
            assert batcher.queued_texts == 0

    asyncio.run(main())
    batcher.close()
    assert run.calls == [["hold"]]
