"""Top-level comments on a YouTube video or channel (``connector.youtube.v1``), through the YouTube Data API v3
``commentThreads.list`` (``order=time``), with an API key.

The API lists newest first and has no "since" filter, so a run pages down from the top and stops at the
first comment older than the cursor's newest ``publishedAt`` (comments at that same instant are told apart
by the ids the cursor keeps). When a run stops early (a limit, or a page that failed after others
succeeded), what it took is the newest part; the older part is kept as a ``backlog`` that starts at the
page token where the run stopped, and the next run reads it first. Page tokens are the only way down a
comment list; an expired one makes the run fail (YouTube answers 400), like any other error.

Cursor::

    {"published_at": "2024-01-02T03:04:05Z", "ids": ["UgzX..."],           # newest instant taken, ids at it
     "backlog": {"page_token": "QURTSl...",                                  # where the unread part starts
                 "after": "2024-01-01T00:00:00Z", "after_ids": ["Ugy..."],   # down to this instant...
                 "until": "2024-01-01T12:00:00Z", "until_ids": ["Ugw..."]}}  # ...from this one (ids taken)

The API key is a query parameter; the session never puts URLs into messages, and nothing here does either.
"""

from __future__ import annotations

import re
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
from opinara.monitors.text import html_text

DEFAULT_BASE_URL = "https://www.googleapis.com"
COMMENT_URL = "https://www.youtube.com/watch?v={video}&lc={comment}"
PER_PAGE = 100  # commentThreads' maximum; kept the same on every page, so a stored token stays valid
EXCERPT = 120
_ID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


@dataclass
class Thread:
    """One comment thread as read: its id and instant (None when it lacks them) and what it reads as."""

    external_id: str | None
    published_at: datetime | None
    entry: Item | Rejected


def parse_page(payload: Any) -> tuple[list[Thread], str | None]:
    """The threads of one ``commentThreadListResponse`` (newest first) and its ``nextPageToken``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items", []), list):
        raise SourceError("the YouTube answer has no items list")
    token = payload.get("nextPageToken")
    return [parse_thread(thread) for thread in payload.get("items", [])], token if isinstance(token, str) else None


def parse_thread(thread: Any) -> Thread:
    """A thread's top-level comment as an :class:`Item` (``textDisplay`` is HTML; ``textOriginal`` is the
    fallback, returned to the comment's author only)."""
    if not isinstance(thread, dict):
        return Thread(None, None, Rejected("the thread is not an object", str(thread)[:EXCERPT]))
    snippet = _dict(thread.get("snippet"))
    comment = _dict(snippet.get("topLevelComment"))
    details = _dict(comment.get("snippet"))
    thread_id = thread.get("id") or comment.get("id")
    published = parse_time(details.get("publishedAt"))
    display = details.get("textDisplay")
    text = html_text(display) if isinstance(display, str) else ""
    if not text and isinstance(details.get("textOriginal"), str):
        text = details["textOriginal"].strip()
    if not isinstance(thread_id, str) or not thread_id.strip():
        return Thread(None, published, Rejected("the thread has no id", text[:EXCERPT]))
    if not text:
        return Thread(thread_id, published, Rejected("the comment has no text", thread_id))
    video = details.get("videoId") or snippet.get("videoId")
    author = _dict(details.get("authorChannelId")).get("value") or details.get("authorDisplayName")
    return Thread(
        thread_id,
        published,
        Item(
            external_id=thread_id,
            text=text,
            url=COMMENT_URL.format(video=video, comment=comment.get("id") or thread_id) if video else None,
            author=author if isinstance(author, str) and author else None,
            published_at=published,
        ),
    )


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time (``2024-01-02T03:04:05Z``) as an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def format_time(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class Window:
    """Threads from ``token`` down: newer than ``until`` skipped (taken), older than ``after`` the end."""

    token: str | None = None
    after: datetime | None = None
    after_ids: set[str] = field(default_factory=set)
    until: datetime | None = None
    until_ids: set[str] = field(default_factory=set)

    def taken(self, thread: Thread) -> bool:
        at, thread_id = thread.published_at, thread.external_id
        if at is None:
            return False
        newer = self.until is not None and (at > self.until or (at == self.until and thread_id in self.until_ids))
        return newer or (at == self.after and thread_id in self.after_ids)

    def ended(self, thread: Thread) -> bool:
        return self.after is not None and thread.published_at is not None and thread.published_at < self.after


class YouTubeConnector:
    """Comments on one video (``video_id``) or everything related to a channel (``channel_id``)."""

    name = "connector.youtube.v1"
    secret_params: frozenset[str] = frozenset({"api_key"})

    def validate(self, params: Mapping[str, str]) -> dict[str, str]:
        video, channel = (params.get("video_id") or "").strip(), (params.get("channel_id") or "").strip()
        if bool(video) == bool(channel):
            raise FieldError("video_id", "give exactly one of video_id and channel_id")
        for name, value in (("video_id", video), ("channel_id", channel)):
            if value and not _ID.match(value):
                raise FieldError(name, "is not a YouTube id (letters, digits, - and _)")
        key = (params.get("api_key") or "").strip()
        if not key:
            raise FieldError("api_key", "is required: a YouTube Data API key")
        base_url = (params.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise FieldError("base_url", "must be an http:// or https:// address")
        target = {"video_id": video} if video else {"channel_id": channel}
        return {**target, "api_key": key, "base_url": base_url}

    def fetch(self, session: Any, params: Mapping[str, str], cursor: Cursor, limits: Limits) -> FetchResult:
        params = self.validate(params)
        run = Run(limits)
        newest, newest_ids = parse_time(cursor.get("published_at")), set(cursor.get("ids") or [])
        backlog = cursor.get("backlog")
        if backlog:
            window = Window(backlog.get("page_token"), parse_time(backlog.get("after")))
            window.after_ids = set(backlog.get("after_ids") or [])
            window.until, window.until_ids = parse_time(backlog.get("until")), set(backlog.get("until_ids") or [])
            left, _ = self._read(session, params, window, run)
            if left is not None:  # the backlog is not done yet: newer comments wait for it
                return _result(run, newest, newest_ids, left)
        window = Window(None, newest, newest_ids)
        left, reached = self._read(session, params, window, run)
        placed = [(t.published_at, t.external_id) for t in reached if t.published_at and t.external_id]
        if placed:
            instant = max(at for at, _ in placed)
            ids = {str(thread_id) for at, thread_id in placed if at == instant}
            newest, newest_ids = instant, (newest_ids | ids) if instant == newest else ids
        elif left is window:  # none of it was read (the backlog used the pages): the same cursor, no backlog
            return _result(run, newest, newest_ids, None, partial=True)
        return _result(run, newest, newest_ids, left)

    def _read(
        self, session: Any, params: Mapping[str, str], window: Window, run: Run
    ) -> tuple[Window | None, list[Thread]]:
        """Takes ``window`` from its token down. Returns what of it is left (None when it was read to its
        end) and the threads dealt with (taken or rejected), newest first."""
        reached: list[Thread] = []
        token, tokens = window.token, {window.token}
        while True:
            if run.pages >= run.limits.max_pages or len(run.items) >= run.limits.max_items:
                return _rest(window, reached, token), reached  # a page not asked for costs no quota
            try:
                threads, next_token = parse_page(session.get(self._url(params), self._query(params, token)).json())
            except SourceError:
                if run.pages == 0:
                    raise
                return _rest(window, reached, token), reached  # keep what earlier pages gave; the rest waits
            run.pages += 1
            for thread in threads:
                if window.ended(thread):
                    return None, reached
                if thread.external_id is not None and (thread.external_id in run.ids or window.taken(thread)):
                    continue
                if isinstance(thread.entry, Item):
                    if len(run.items) >= run.limits.max_items:
                        return _rest(window, reached, token), reached  # this page again, less what was taken
                    run.items.append(thread.entry)
                else:
                    run.rejected.append(thread.entry)
                if thread.external_id is not None:
                    run.ids.add(thread.external_id)
                reached.append(thread)
            if next_token is None or next_token in tokens:
                return None, reached  # the last page, or a token seen before: the list loops, stop here
            token = next_token
            tokens.add(token)

    @staticmethod
    def _url(params: Mapping[str, str]) -> str:
        return f"{params['base_url']}/youtube/v3/commentThreads"

    @staticmethod
    def _query(params: Mapping[str, str], token: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {"part": "snippet", "order": "time", "maxResults": PER_PAGE, "textFormat": "html"}
        if "video_id" in params:
            query["videoId"] = params["video_id"]
        else:
            query["allThreadsRelatedToChannelId"] = params["channel_id"]
        if token:
            query["pageToken"] = token
        query["key"] = params["api_key"]
        return query


def _rest(window: Window, reached: list[Thread], token: str | None) -> Window:
    """The part of ``window`` from ``token`` down, older than the oldest thread reached."""
    placed = [t for t in reached if t.published_at is not None and t.external_id is not None]
    if not placed:
        if token == window.token:
            return window
        return Window(token, window.after, window.after_ids, window.until, window.until_ids)
    oldest = min(t.published_at for t in placed if t.published_at is not None)
    ids = {str(t.external_id) for t in placed if t.published_at == oldest}
    if oldest == window.until:
        ids |= window.until_ids
    return Window(token, window.after, window.after_ids, oldest, ids)


def _result(
    run: Run, newest: datetime | None, ids: set[str], left: Window | None, partial: bool = False
) -> FetchResult:
    cursor: Cursor = {"published_at": format_time(newest), "ids": sorted(ids)} if newest is not None else {}
    if left is not None:
        cursor["backlog"] = {
            "page_token": left.token,
            "after": format_time(left.after),
            "after_ids": sorted(left.after_ids),
            "until": format_time(left.until),
            "until_ids": sorted(left.until_ids),
        }
    items = sorted(run.items, key=lambda item: item.published_at or datetime.min.replace(tzinfo=UTC))
    return FetchResult(items=items, rejected=run.rejected, cursor=cursor, partial=partial or left is not None)


@CONNECTORS.register(YouTubeConnector.name)
def youtube_connector() -> YouTubeConnector:
    return YouTubeConnector()
