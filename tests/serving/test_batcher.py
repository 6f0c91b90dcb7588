"""Dynamic batching gathers concurrent requests into one analyzer call, in order, without mixing options."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.errors import AnalysisFailed, InputError
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


class PoisonableAnalyzer(RecordingAnalyzer):
    """The real analyzer, except that a batch holding the marker text breaks, as a model library might:
    by default with an error whose message quotes the input."""

    def __init__(self, lexicon_analyzer, marker: str, error: Exception | None = None) -> None:
        super().__init__(lexicon_analyzer)
        self.marker = marker
        self.error = error or ValueError(f"cannot tokenize {marker!r}")
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str], options: AnalyzeOptions) -> list[bytes]:
        with self.lock:
            self.calls.append(list(texts))
        if self.marker in texts:
            raise self.error
        return [r.model_dump_json().encode() for r in self.analyzer.analyze(texts, options)]


def test_a_poisoned_request_fails_alone_and_its_text_is_never_quoted(lexicon_analyzer, caplog):
    marker = "poisoned review, secret customer name"
    run = PoisonableAnalyzer(lexicon_analyzer, marker)
    batcher = DynamicBatcher(run, "test-poison", max_size=64, max_wait_ms=20)
    good = [f"review {i} is {'great' if i % 2 else 'awful'}" for i in range(20)]
    submitted = [*good[:10], marker, *good[10:]]
    options = AnalyzeOptions(aspects=False)  # no aspect tagger to load: the test stays fast

    async def main() -> list[list[bytes] | BaseException]:
        return await asyncio.gather(*(batcher.submit([t], options) for t in submitted), return_exceptions=True)

    with caplog.at_level(logging.DEBUG, logger="opinara.serving.batcher"):
        outcomes = asyncio.run(main())
    batcher.close()

    failed = outcomes.pop(10)
    assert isinstance(failed, AnalysisFailed)
    assert failed.message == "the analyzer failed on this input (ValueError)"
    assert marker not in str(failed) and failed.__cause__ is None
    expected = [r.model_dump_json().encode() for r in lexicon_analyzer.analyze(good, options)]
    assert outcomes == [[e] for e in expected]
    assert run.calls[0] == submitted and len(run.calls) == 1 + 21  # the whole batch, then each on its own
    assert "ValueError" in caplog.text and marker not in caplog.text
    assert batcher.queued_texts == 0


def test_a_lone_failing_request_is_not_retried_and_opinara_errors_pass_through(lexicon_analyzer):
    marker = "a text the model cannot take"

    async def failure(run: PoisonableAnalyzer) -> Exception:
        batcher = DynamicBatcher(run, "test-lone", max_wait_ms=1)
        try:
            await batcher.submit([marker], AnalyzeOptions(aspects=False))
        except Exception as exc:
            return exc
        finally:
            batcher.close()
        pytest.fail("the request should have failed")

    plain = PoisonableAnalyzer(lexicon_analyzer, marker, RuntimeError(f"bad input {marker}"))
    error = asyncio.run(failure(plain))
    assert isinstance(error, AnalysisFailed) and marker not in str(error)
    assert len(plain.calls) == 1
    # An error raised on purpose (a text over a limit) already says what is wrong without quoting the text.
    limit = InputError("text 0 has 28 characters; the limit is 10")
    assert asyncio.run(failure(PoisonableAnalyzer(lexicon_analyzer, marker, limit))) is limit
