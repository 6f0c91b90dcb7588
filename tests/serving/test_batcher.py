"""Dynamic batching gathers concurrent requests into one analyzer call, in order, without mixing options."""

from __future__ import annotations

import asyncio
import threading
import time

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.serving.batcher import DynamicBatcher


class RecordingAnalyzer:
    """A real analyzer call, slowed like a model would be, that records the batches it saw."""

    def __init__(self, lexicon_analyzer) -> None:
        self.analyzer = lexicon_analyzer
        self.batches: list[tuple[int, AnalyzeOptions]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str], options: AnalyzeOptions) -> list[bytes]:
        with self.lock:
            self.batches.append((len(texts), options))
        time.sleep(0.02)
        return [r.model_dump_json().encode() for r in self.analyzer.analyze(texts, options)]


def test_concurrent_requests_share_batches_and_get_their_own_results(lexicon_analyzer):
    run = RecordingAnalyzer(lexicon_analyzer)
    batcher = DynamicBatcher(run, "test", max_size=16, max_wait_ms=5)
    texts = [f"text number {i} is {'good' if i % 2 else 'bad'}" for i in range(40)]
    options = AnalyzeOptions(aspects=False)

    async def main() -> list[list[bytes]]:
        return await asyncio.gather(*(batcher.submit([t], options) for t in texts))

    results = asyncio.run(main())
    batcher.close()
    assert [len(r) for r in results] == [1] * 40
    assert [int(r[0].split(b'"text_length":')[1].split(b",")[0]) for r in results] == [len(t) for t in texts]
    sizes = [size for size, _ in run.batches]
    assert sum(sizes) == 40 and len(sizes) < 10 and max(sizes) <= 16


def test_a_lone_request_is_not_held_back(lexicon_analyzer):
    run = RecordingAnalyzer(lexicon_analyzer)
    batcher = DynamicBatcher(run, "test", max_size=64, max_wait_ms=2)

    asyncio.run(batcher.submit(["just one"], AnalyzeOptions()))
    batcher.close()
    assert run.batches == [(1, AnalyzeOptions())]


def test_requests_with_different_options_are_never_mixed(lexicon_analyzer):
    run = RecordingAnalyzer(lexicon_analyzer)
    batcher = DynamicBatcher(run, "test", max_size=64, max_wait_ms=20)
    with_aspects, without = AnalyzeOptions(aspects=True), AnalyzeOptions(aspects=False)

    async def main() -> None:
        await asyncio.gather(*(batcher.submit([f"t{i}"], with_aspects if i % 2 else without) for i in range(10)))

    asyncio.run(main())
    batcher.close()
    assert sorted(size for size, _ in run.batches) == [5, 5]
    assert {options for _, options in run.batches} == {with_aspects, without}
