"""Heartbeats beside long work: a job's chunk or a monitor's run.

``beat()`` records that the work is alive and returns False once the work is no longer this worker's
(cancelled, or taken over after a lease expired); ``lost`` is then set and beating stops. A beat that
fails (the database briefly away) is retried at the next interval.

``Heartbeat`` beats on a thread of its own; ``Heartbeats`` beats many short works on one shared thread
(most monitor runs end well within their first interval and should not cost a thread each)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, beat: Callable[[], bool], interval: float, name: str) -> None:
        self.beat = beat
        self.interval = interval
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.beat():
                    self.lost.set()
                    return
            except Exception as exc:
                log.warning("heartbeat failed (%s); retrying", type(exc).__name__)


@dataclass(eq=False)
class _Held:
    beat: Callable[[], bool]
    next_beat: float  # time.monotonic()
    lost: threading.Event = field(default_factory=threading.Event)


class Heartbeats:
    """Beats every work held for each ``interval`` it lasts, all on one thread started on first use."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._held: set[_Held] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, beat: Callable[[], bool]) -> Iterator[threading.Event]:
        """Beat while the block runs; yields the event set once the work is no longer this worker's."""
        held = _Held(beat, time.monotonic() + self.interval)
        with self._lock:
            self._held.add(held)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()
        try:
            yield held.lost
        finally:
            with self._lock:
                self._held.discard(held)

    def _run(self) -> None:
        while True:
            with self._lock:
                current = time.monotonic()
                due = [held for held in self._held if held.next_beat <= current]
                # A work held later beats no sooner than one interval from now.
                wake = min((held.next_beat for held in self._held), default=current + self.interval)
            for held in due:
                held.next_beat += self.interval
                try:
                    if not held.beat():
                        held.lost.set()
                        with self._lock:
                            self._held.discard(held)
                except Exception as exc:
                    log.warning("heartbeat failed (%s); retrying", type(exc).__name__)
            if not due:
                time.sleep(max(wake - time.monotonic(), 0.0))
