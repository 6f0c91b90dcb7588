"""Hacker News stories and comments that match a query (``connector.hackernews.v1``), through the Algolia
HN Search API (``GET /api/v1/search_by_date``), which any mirror or proxy can serve at ``base_url``.

The API lists newest first, pages by number, and filters on ``created_at_i``; there is no "oldest first".
So a run reads a time window from its top down: everything after the cursor's second. When a run stops
early (a limit, or a page that failed after others succeeded), what it took is the newest part of the
window; the older part it did not reach is kept as a ``backlog`` window, which the next run reads first,
before anything newer. Nothing is skipped and nothing is taken twice.

Cursor::

    {"created_at_i": 1704164645, "ids": ["38851234"],          # newest second taken, ids taken at it
     "backlog": {"after": 1704160000, "after_ids": ["38850001"],  # still to read: after this second...
                 "until": 1704162000, "until_ids": ["38850999"]}} # ...up to this one (ids at it taken)

``after`` is None when the backlog reaches back to the start (a first run that stopped early). Equal
seconds are read again (``>=``) and the ids taken at them skipped, since more posts may share a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from opinara.errors import FieldError
from opinara.monitors.connectors.base import (
    CONNECTORS,
    Cursor,
    FetchResult,
    Item,
    Limits,
    Rejected,
    Run,
    SourceError,
)
from opinara.monitors.text import html_text, join_title

DEFAULT_BASE_URL = "https://hn.algolia.com"
ITEM_URL = "https://news.ycombinator.com/item?id={id}"
TAGS = {
    "story": "story",
    "comment": "comment",
    "(story,comment)": "(story,comment)",
    "story,comment": "(story,comment)",
}
MAX_HITS_PER_PAGE = 100
EXCERPT = 120


@dataclass
class Hit:
    """One hit as read: its id and second (None when the hit lacks them) and what it reads as."""

    external_id: str | None
    created_at_i: int | None
    entry: Item | Rejected


def parse_page(payload: Any) -> tuple[list[Hit], int, int]:
    """The hits of one ``search_by_date`` answer, in its order (newest first), ``nbPages`` and ``nbHits``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("hits"), list):
        raise SourceError("the HN Search answer has no hits list")
    pages, total = payload.get("nbPages"), payload.get("nbHits")
    return (
        [parse_hit(hit) for hit in payload["hits"]],
        pages if isinstance(pages, int) else 0,
        total if isinstance(total, int) else 0,
    )


def parse_hit(hit: Any) -> Hit:
    """A story (title, ``story_text``) or a comment (``comment_text``) as an :class:`Item`."""
    if not isinstance(hit, dict):
        return Hit(None, None, Rejected("the hit is not an object", str(hit)[:EXCERPT]))
    object_id = hit.get("objectID")
    created = hit.get("created_at_i")
    created = created if isinstance(created, int) and not isinstance(created, bool) else None
    title = (hit.get("title") or "").strip()
    body = html_text(hit.get("story_text") or hit.get("comment_text") or "")
    if not isinstance(object_id, str | int) or isinstance(object_id, bool) or not str(object_id).strip():
        return Hit(None, created, Rejected("the hit has no objectID", join_title(title, body)[:EXCERPT]))
    object_id = str(object_id).strip()
    text = join_title(title, body)
    if not text:
        return Hit(object_id, created, Rejected("the hit has no title and no text (deleted or dead)", object_id))
    return Hit(
        object_id,
        created,
        Item(
            external_id=object_id,
            text=text,
            url=ITEM_URL.format(id=object_id),  # where the mention and its discussion are
            author=hit.get("author") or None,
            published_at=_published(created, hit.get("created_at")),
            title=title or None,
        ),
    )


def _published(created_at_i: int | None, created_at: Any) -> datetime | None:
    if created_at_i is not None:
        return datetime.fromtimestamp(created_at_i, UTC)
    if isinstance(created_at, str):
        try:
            moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


@dataclass
class Window:
    """Seconds ``after`` to ``until`` (None: open), both included, less the ids already taken at either end."""

    after: int | None = None
    after_ids: set[str] = field(default_factory=set)
    until: int | None = None
    until_ids: set[str] = field(default_factory=set)

    def filters(self) -> str:
        """Algolia's ``numericFilters`` (a comma means "and")."""
        bounds = []
        if self.after is not None:
            bounds.append(f"created_at_i>={self.after}")
        if self.until is not None:
            bounds.append(f"created_at_i<={self.until}")
        return ",".join(bounds)

    def taken(self, hit: Hit) -> bool:
        return (hit.created_at_i == self.after and hit.external_id in self.after_ids) or (
            hit.created_at_i == self.until and hit.external_id in self.until_ids
        )


class HackerNewsConnector:
    """Searches HN by date for ``query``; see the module's docstring for the cursor."""

    name = "connector.hackernews.v1"
    secret_params: frozenset[str] = frozenset()

    def validate(self, params: Mapping[str, str]) -> dict[str, str]:
        query = (params.get("query") or "").strip()
        if not query:
            raise FieldError("query", "is required: the words to search Hacker News for")
        tags = TAGS.get((params.get("tags") or "story").replace(" ", ""))
        if tags is None:
            raise FieldError("tags", "must be story, comment or (story,comment)")
        base_url = (params.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise FieldError("base_url", "must be an http:// or https:// address")
        return {"query": query, "tags": tags, "base_url": base_url}

    def fetch(self, session: Any, params: Mapping[str, str], cursor: Cursor, limits: Limits) -> FetchResult:
        params = self.validate(params)
        run = Run(limits)
        newest = cursor.get("created_at_i")
        newest_ids = set(cursor.get("ids") or [])
        backlog = cursor.get("backlog")
        if backlog:
            window = Window(backlog.get("after"), set(backlog.get("after_ids") or []), backlog.get("until"))
            window.until_ids = set(backlog.get("until_ids") or [])
            left, _ = self._read(session, params, window, run)
            if left is not None:  # the backlog is not done yet: newer posts wait for it
                return _result(run, newest, newest_ids, left)
        window = Window(newest, newest_ids)
        left, reached = self._read(session, params, window, run)
        placed = [(hit.created_at_i, hit.external_id) for hit in reached if hit.created_at_i is not None]
        if placed:
            second = max(at for at, _ in placed)
            ids = {str(hit_id) for at, hit_id in placed if at == second}
            newest, newest_ids = second, (newest_ids | ids) if second == newest else ids
        elif left is window:  # none of it was read (the backlog used the pages): the same cursor, no backlog
            return _result(run, newest, newest_ids, None, partial=True)
        return _result(run, newest, newest_ids, left)

    def _read(
        self, session: Any, params: Mapping[str, str], window: Window, run: Run
    ) -> tuple[Window | None, list[Hit]]:
        """Takes ``window`` from the top down. Returns what of it is left (None when it was read to the end)
        and the hits dealt with (taken or rejected), newest first."""
        reached: list[Hit] = []
        page = shown = 0  # shown: hits the pages of this search have listed
        per_page = min(MAX_HITS_PER_PAGE, run.limits.max_items)
        while True:
            if run.pages >= run.limits.max_pages or len(run.items) >= run.limits.max_items:
                return _rest(window, reached), reached
            query: dict[str, Any] = {"query": params["query"], "tags": params["tags"], "hitsPerPage": per_page}
            query.update({"page": page, **({"numericFilters": window.filters()} if window.filters() else {})})
            try:
                answer = session.get(f"{params['base_url']}/api/v1/search_by_date", query)
                hits, pages, total = parse_page(answer.json())
            except SourceError:
                if run.pages == 0:
                    raise
                return _rest(window, reached), reached  # keep what earlier pages gave; the rest waits
            run.pages += 1
            shown += len(hits)
            repeated = 0
            for hit in hits:
                if hit.external_id is not None and hit.external_id in run.ids:
                    repeated += 1  # a page boundary that moved as posts arrived
                    continue
                if window.taken(hit):
                    continue  # the window's edge: taken by an earlier run
                if isinstance(hit.entry, Item):
                    if len(run.items) >= run.limits.max_items:
                        return _rest(window, reached), reached
                    run.items.append(hit.entry)
                else:
                    run.rejected.append(hit.entry)
                if hit.external_id is not None:
                    run.ids.add(hit.external_id)
                reached.append(hit)
            page += 1
            if page > 1 and hits and repeated == len(hits):
                return _rest(window, reached), reached  # a later page all of this run's hits: the service loops
            if not hits:
                return None, reached
            if page < pages:
                continue
            if total <= shown:
                return None, reached
            # Algolia lists the first 1000 hits of a search only: search again below the oldest reached.
            narrower = _rest(window, reached)
            if narrower is window:
                return None, reached
            window, page, shown = narrower, 0, 0


def _result(run: Run, newest: int | None, ids: set[str], left: Window | None, partial: bool = False) -> FetchResult:
    cursor: Cursor = {"created_at_i": newest, "ids": sorted(ids)} if newest is not None else {}
    if left is not None:
        cursor["backlog"] = {
            "after": left.after,
            "after_ids": sorted(left.after_ids),
            "until": left.until,
            "until_ids": sorted(left.until_ids),
        }
    items = sorted(run.items, key=lambda item: item.published_at or datetime.min.replace(tzinfo=UTC))
    return FetchResult(items=items, rejected=run.rejected, cursor=cursor, partial=partial or left is not None)


def _rest(window: Window, reached: list[Hit]) -> Window:
    """The part of ``window`` older than the oldest hit reached (ids reached at that second excluded)."""
    placed = [hit for hit in reached if hit.created_at_i is not None and hit.external_id is not None]
    if not placed:
        return window
    oldest = min(hit.created_at_i for hit in placed if hit.created_at_i is not None)
    ids = {hit.external_id for hit in placed if hit.created_at_i == oldest and hit.external_id is not None}
    if oldest == window.until:
        ids |= window.until_ids
    return Window(window.after, window.after_ids, oldest, ids)


@CONNECTORS.register(HackerNewsConnector.name)
def hackernews_connector() -> HackerNewsConnector:
    return HackerNewsConnector()
