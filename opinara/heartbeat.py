"""A heartbeat on a thread of its own, beside long work: a job's chunk or a monitor's run.

``beat()`` records that the work is alive and returns False once the work is no longer this worker's
(cancelled, or taken over after a lease expired); ``lost`` is then set and beating stops. A beat that
fails (the database briefly away) is retried at the next interval."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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
