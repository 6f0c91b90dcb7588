"""What every connector is: a pure parser of its service's wire format plus a small fetch step.

A connector reads pages through an :class:`~opinara.monitors.http.HttpSession` (guarded, capped,
counted), starting from the monitor's cursor, and returns the new items and the next cursor. It never
stores anything and never sees a database: the monitor runner does that. Errors say what the runner
should do: :class:`SourceRateLimited` (wait), :class:`SourceAuthError` (pause the monitor),
:class:`SourceError` (back off, pause after many in a row).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from opinara.errors import OpinaraError
from opinara.registry import Registry

Cursor = dict[str, Any]


@dataclass(frozen=True)
class Item:
    """One post, comment or feed entry, as a reader sees it."""

    external_id: str  # the service's id, unique within the source
    text: str  # title and body as one text; HTML stripped, entities decoded, links kept as URLs
    url: str | None = None
    author: str | None = None  # the service's author id or handle; stored only as a keyed pseudonym
    published_at: datetime | None = None  # timezone-aware
    title: str | None = None


@dataclass(frozen=True)
class Rejected:
    """An entry of a page that could not be read (no id, no text, a wrong type)."""

    reason: str
    excerpt: str = ""


@dataclass(frozen=True)
class Limits:
    max_items: int = 500  # per run
    max_pages: int = 10  # per run


@dataclass
class Run:
    """One run's budget and what it has gathered so far."""

    limits: Limits
    items: list[Item] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    pages: int = 0
    ids: set[str] = field(default_factory=set)


@dataclass
class FetchResult:
    items: list[Item] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    cursor: Cursor = field(default_factory=dict)  # what the next run starts from
    partial: bool = False  # stopped at a limit (items, pages) or an error after some pages: more remains


class SourceError(OpinaraError):
    """The service failed (5xx, a timeout, a malformed page, a blocked address): back off and retry."""

    code = "E600"


class SourceAuthError(SourceError):
    """The service refused the credentials (401, 403): the monitor is paused until someone fixes them."""

    code = "E601"


class SourceRateLimited(SourceError):
    """The service said to slow down (429, a quota answer); ``retry_after`` seconds, when it said."""

    code = "E602"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Connector(Protocol):
    """A service's connector. ``params`` are the monitor's (secrets already resolved)."""

    name: str  # the registered name: connector.rss.v1
    secret_params: frozenset[str]  # params that are credentials: encrypted at rest, masked when shown

    def validate(self, params: Mapping[str, str]) -> dict[str, str]:
        """The params, checked and normalized; :class:`opinara.errors.InputError` naming what is wrong."""
        ...

    def fetch(self, session: Any, params: Mapping[str, str], cursor: Cursor, limits: Limits) -> FetchResult:
        """New items since ``cursor``, oldest first where the service allows, and the next cursor."""
        ...


CONNECTORS: Registry[Connector] = Registry("connector")
