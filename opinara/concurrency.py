"""An ordered, bounded map over worker processes: results come back in input order, and only a few
batches are in flight at once, so memory stays flat on any input size."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from opinara.errors import OpinaraError

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...] = (),
    in_flight_per_worker: int = 2,
) -> Iterator[R]:
    """``fn`` over ``items`` in ``workers`` processes (``initializer`` runs once in each); with one
    worker, everything runs here in this process. Results keep the order of ``items``."""
    if workers <= 1:
        initializer(*initargs)
        for item in items:
            yield fn(item)
        return
    # spawn, not fork: the parent may hold threads (ONNX Runtime, tokenizers) that fork would copy broken.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs) as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= workers * in_flight_per_worker:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool as exc:
            raise OpinaraError(f"a worker process failed ({exc}); see the messages above") from exc
