"""RSS 2.0 and Atom feeds (``connector.rss.v1``), parsed by feedparser from the bytes the session fetched.

feedparser never fetches anything itself here: it would bypass the guard, the size cap and the host limiter,
and given ``bytes`` it even tries them as a local file name first, so it only ever sees a stream.

Feeds have no "since" parameter, so a run asks conditionally (``If-None-Match`` / ``If-Modified-Since``
from the last answer: a 304 costs the service nothing) and takes the entries whose id it has not seen.

Cursor::

    {"etag": "\"abc\"", "last_modified": "Tue, 02 Jan 2024 03:04:05 GMT",
     "seen": ["tag:example.com,2024:3", "tag:example.com,2024:2", ...]}   # newest first, bounded

The validators are kept only after a run that took everything new: a run stopped at ``max_items`` must not
earn a 304 next time for the entries it left behind. A rejected entry's id is kept too, so it is reported
once, not on every poll.
"""

from __future__ import annotations

import io
import xml.sax
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser

from opinara.errors import FieldError
from opinara.monitors.connectors.base import (
    CONNECTORS,
    Cursor,
    FetchResult,
    Item,
    Limits,
    Rejected,
    SourceError,
)
from opinara.monitors.text import html_text, join_title

SEEN_MAX = 500  # ids remembered beyond those still in the feed
EXCERPT = 120


Entry = tuple[str | None, Item | Rejected]  # the entry's id (None when it has none) and what it reads as


def parse_feed(content: bytes, content_type: str = "", location: str = "") -> list[Entry]:
    """Entries of a feed document, in document order.

    :class:`SourceError` when the bytes are not a feed (an HTML page, garbage, a document cut short before
    any entry); a feed with a recoverable fault (feedparser's "bozo") is read for what it holds, as readers do.
    """
    headers = {"content-type": content_type} if content_type else {}
    if location:
        headers["content-location"] = location  # relative links resolve against the feed's address
    parsed = feedparser.parse(io.BytesIO(content), response_headers=headers)
    fault = parsed.get("bozo_exception") if parsed.get("bozo") else None
    broken = isinstance(fault, xml.sax.SAXException)  # not well-formed (a charset mix-up is only a warning)
    if not parsed.get("entries") and (broken or not parsed.get("version")):
        problem = type(fault).__name__ if fault else "no feed elements"
        raise SourceError(f"the document is not an RSS or Atom feed ({problem})")
    return [parse_entry(entry) for entry in parsed.entries]


def parse_entry(entry: Mapping[str, Any]) -> Entry:
    """One feed entry as an :class:`Item`; a :class:`Rejected` when it has no id or no text."""
    title = _detail_text(entry, "title")
    body = _body(entry)
    link = entry.get("link") or None
    external_id = (entry.get("id") or "").strip() or link
    if not external_id:
        return None, Rejected("the entry has no id (guid) and no link", (title or body or "")[:EXCERPT])
    text = join_title(title, body)
    if not text:
        return external_id, Rejected("the entry has no title and no text", external_id[:EXCERPT])
    author = entry.get("author") or None
    return external_id, Item(
        external_id=external_id,
        text=text,
        url=link,
        author=author.strip() if isinstance(author, str) and author.strip() else None,
        published_at=_published(entry),
        title=title or None,
    )


def _body(entry: Mapping[str, Any]) -> str:
    """The fullest text an entry has: Atom ``content`` / ``content:encoded`` before the summary."""
    for content in entry.get("content") or []:
        text = _as_text(content.get("value", ""), content.get("type", ""))
        if text:
            return text
    return _detail_text(entry, "summary")


def _detail_text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key) or ""
    detail = entry.get(f"{key}_detail") or {}
    return _as_text(value, detail.get("type", "text/html"))


def _as_text(value: str, kind: str) -> str:
    # feedparser has already decoded entities of plain-text constructs; only markup needs html_text.
    return html_text(value) if "html" in kind else value.strip()


def _published(entry: Mapping[str, Any]) -> datetime | None:
    moment = entry.get("published_parsed") or entry.get("updated_parsed")  # struct_time in UTC
    return datetime(*moment[:6], tzinfo=UTC) if moment else None


class RssConnector:
    """Polls one feed; new entries are those whose ids the cursor has not seen."""

    name = "connector.rss.v1"
    secret_params: frozenset[str] = frozenset()

    def validate(self, params: Mapping[str, str]) -> dict[str, str]:
        url = (params.get("url") or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FieldError("url", "must be the feed's http:// or https:// address")
        return {"url": url}  # base_url means nothing for a feed (the url is the feed) and is dropped

    def fetch(self, session: Any, params: Mapping[str, str], cursor: Cursor, limits: Limits) -> FetchResult:
        url = self.validate(params)["url"]
        headers = {}
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = cursor["last_modified"]
        page = session.get(url, headers=headers)
        if page.status == 304:
            return FetchResult(cursor=dict(cursor))
        if not 200 <= page.status < 300:
            raise SourceError(f"{urlsplit(page.url).hostname} answered {page.status} for a feed")
        entries = parse_feed(page.content, page.headers.get("content-type", ""), page.url)
        return take_new(entries, cursor, limits, page.headers.get("etag"), page.headers.get("last-modified"))


def take_new(
    entries: list[Entry],
    cursor: Cursor,
    limits: Limits,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """The entries the cursor has not seen, oldest first, at most ``limits.max_items``; the next cursor.

    A rejected entry with an id is remembered too, so it is reported once rather than on every poll.
    """
    seen = list(cursor.get("seen") or [])
    known = set(seen)
    fresh: list[Item] = []
    rejected: list[Rejected] = []
    for external_id, entry in entries:
        if external_id is not None and external_id in known:
            continue
        if external_id is not None:
            known.add(external_id)  # a feed that lists an entry twice yields it once
        if isinstance(entry, Rejected):
            rejected.append(entry)
        else:
            fresh.append(entry)
    fresh = _oldest_first(fresh)
    taken, left = fresh[: limits.max_items], {item.external_id for item in fresh[limits.max_items :]}
    partial = bool(left)
    remembered = [i for i in dict.fromkeys(i for i, _ in entries) if i is not None and i not in left]
    next_cursor: Cursor = {"seen": _bounded(remembered, seen)}
    if not partial:  # after a partial run the next one must get the whole feed, not a 304
        next_cursor.update({key: value for key, value in (("etag", etag), ("last_modified", last_modified)) if value})
    return FetchResult(items=taken, rejected=rejected, cursor=next_cursor, partial=partial)


def _oldest_first(items: list[Item]) -> list[Item]:
    if items and all(item.published_at for item in items):
        return sorted(items, key=lambda item: item.published_at or datetime.min.replace(tzinfo=UTC))
    return items[::-1]  # feeds list the newest first


def _bounded(in_feed: list[str], seen: list[str]) -> list[str]:
    """Every seen id still in the feed (forgetting one would take it again), then the ones seen before,
    newest first, up to :data:`SEEN_MAX` in all."""
    listed = set(in_feed)
    older = [i for i in seen if i not in listed]
    return in_feed + older[: max(SEEN_MAX - len(in_feed), 0)]


@CONNECTORS.register(RssConnector.name)
def rss_connector() -> RssConnector:
    return RssConnector()
