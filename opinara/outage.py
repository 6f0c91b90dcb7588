"""A shared dependency that may be down (Redis): skip it for a while after a failure, log once.

The cache and the rate limiter both fall back to in-process state when Redis fails; this is the one
place that decides when to try Redis again and says when an outage starts and ends."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class Outage:
    def __init__(self, what: str, fallback: str, retry_after: float = 5.0) -> None:
        self.what = what
        self.fallback = fallback
        self.retry_after = retry_after
        self._since: float | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def skip(self) -> bool:
        """True while the dependency failed less than ``retry_after`` seconds ago."""
        return self._since is not None and time.monotonic() - self._since < self.retry_after

    def failed(self, exc: Exception) -> None:
        if self._since is None:
            log.warning("%s unavailable (%s); %s", self.what, type(exc).__name__, self.fallback)
        self._since = time.monotonic()

    def succeeded(self) -> None:
        if self._since is not None:
            log.info("%s is back", self.what)
            self._since = None
