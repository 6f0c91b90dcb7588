"""Reddit: a subreddit's new posts or comments, or a search, from Reddit's JSON listings.

Listings (``{"kind": "Listing", "data": {"children": [...], "after": ...}}``) are newest first and paged
backwards with ``after`` (the fullname of the last thing seen). A run walks down from the newest entry
until it meets the cursor (the newest ``created_utc`` of the last run and the fullnames seen at that
second, since several entries can share one), so it reads only what is new.

When a run stops before meeting the cursor (a limit, or an error after the first page) the cursor keeps
its old mark and adds ``resume``: where the walk stopped and the mark to adopt once the gap is read. The
next run finishes the gap first, so nothing between the two runs is skipped.

Reddit's JSON escapes ``&``, ``<`` and ``>`` in every string (unless ``raw_json=1``), so text fields are
unescaped once, and the ``*_html`` fields unescaped and then stripped. With ``client_id`` and
``client_secret`` the connector uses app-only OAuth (higher limits, and the API Reddit asks tools to use).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from opinara.errors import FieldError
from opinara.monitors.connectors.base import (
    CONNECTORS,
    Cursor,
    FetchResult,
    Item,
    Limits,
    Rejected,
    SourceAuthError,
    SourceError,
)
from opinara.monitors.text import html_text, join_title, unescape

PAGE_SIZE = 100  # the most a listing gives per request
_SUBREDDIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")
_GONE = frozenset({"[deleted]", "[removed]"})
_PARAMS = frozenset(
    {"subreddit", "kind", "query", "base_url", "auth_url", "oauth_base_url", "client_id", "client_secret"}
)


@dataclass(frozen=True)
class Entry:
    """One child of a listing: its fullname and time (what paging compares) and what it reads as."""

    name: str | None
    created: float | None
    result: Item | Rejected


def parse_listing(payload: Any, site: str) -> tuple[list[Entry], str | None]:
    """A listing's entries and its ``after`` token; :class:`SourceError` when it is not a listing."""
    data = payload.get("data") if isinstance(payload, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        raise SourceError("reddit sent something that is not a listing")
    after = data.get("after")
    return [parse_thing(child, site) for child in children], after if isinstance(after, str) and after else None


def parse_thing(child: Any, site: str) -> Entry:
    """A post (t3) or a comment (t1) as an :class:`Item`; ``site`` makes permalinks absolute."""
    kind = child.get("kind") if isinstance(child, dict) else None
    data = child.get("data") if isinstance(child, dict) else None
    if kind not in ("t1", "t3") or not isinstance(data, dict):
        return Entry(None, None, Rejected(f"not a post or a comment (kind {kind!r})"))
    name = _fullname(kind, data)
    created = data.get("created_utc")
    created = float(created) if isinstance(created, int | float) and not isinstance(created, bool) else None
    if name is None:
        return Entry(None, created, Rejected("no id"))
    if created is None:
        return Entry(name, None, Rejected("no creation time", name))
    text, title = _post_text(data) if kind == "t3" else _comment_text(data)
    if not text:
        return Entry(name, created, Rejected("no text (deleted, removed or empty)", name))
    permalink = data.get("permalink")
    author = data.get("author")
    item = Item(
        external_id=name,
        text=text,
        url=site + unescape(permalink) if isinstance(permalink, str) and permalink.startswith("/") else None,
        author=author if isinstance(author, str) and author and author not in _GONE else None,
        published_at=datetime.fromtimestamp(created, UTC),
        title=title,
    )
    return Entry(name, created, item)


def _fullname(kind: str, data: dict[str, Any]) -> str | None:
    name, short = data.get("name"), data.get("id")
    if isinstance(name, str) and name:
        return name
    return f"{kind}_{short}" if isinstance(short, str) and short else None


def _html_or_plain(data: dict[str, Any], field: str) -> str:
    """The field's HTML form as text (it keeps link targets), else its markdown source, unescaped."""
    markup, plain = data.get(f"{field}_html"), data.get(field)
    text = html_text(unescape(markup)) if isinstance(markup, str) and markup else ""
    if not text and isinstance(plain, str):
        text = unescape(plain).strip()
    return "" if text in _GONE else text


def _post_text(data: dict[str, Any]) -> tuple[str, str | None]:
    title = unescape(data["title"]).strip() if isinstance(data.get("title"), str) else None
    body = _html_or_plain(data, "selftext")
    link = unescape(data["url"]) if isinstance(data.get("url"), str) else ""
    if not data.get("is_self") and link.startswith(("http://", "https://")) and "/comments/" not in link:
        body = "\n\n".join(part for part in (body, link) if part)  # a link post: its words are about the link
    return join_title(title, body), title or None


def _comment_text(data: dict[str, Any]) -> tuple[str, str | None]:
    # The post's title is the comment's context, not its words: kept as the title, out of the text,
    # so one post's wording does not colour the sentiment of every comment under it.
    title = data.get("link_title")
    return _html_or_plain(data, "body"), unescape(title).strip() if isinstance(title, str) and title else None


@dataclass(frozen=True)
class Mark:
    """How far the listing has been read: the newest time and the fullnames seen at that second."""

    created: float
    seen: frozenset[str]

    def add(self, created: float, name: str) -> Mark:
        if created > self.created:
            return Mark(created, frozenset({name}))
        return Mark(self.created, self.seen | {name}) if created == self.created else self

    def covers(self, created: float, name: str | None) -> bool:
        return created < self.created or (created == self.created and name in self.seen)

    def dump(self) -> dict[str, Any]:
        return {"created": self.created, "seen": sorted(self.seen)}

    @classmethod
    def load(cls, value: Any) -> Mark | None:
        if not isinstance(value, dict) or not isinstance(value.get("created"), int | float):
            return None
        seen = value.get("seen") if isinstance(value.get("seen"), list) else []
        return cls(float(value["created"]), frozenset(str(name) for name in seen))


def _base_url(value: str, field: str) -> str:
    url = value.strip().rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.query:
        raise FieldError(field, "must be an http(s) URL without a query, such as https://www.reddit.com")
    return url


class RedditConnector:
    """``connector.reddit.v1``: params ``subreddit`` (with ``kind`` posts or comments) and/or ``query``."""

    name = "connector.reddit.v1"
    secret_params = frozenset({"client_id", "client_secret"})

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}  # hash of the credentials -> (token, expiry)

    def validate(self, params: Mapping[str, str]) -> dict[str, str]:
        unknown = sorted(set(params) - _PARAMS)
        if unknown:
            raise FieldError(unknown[0], f"unknown reddit param; known: {', '.join(sorted(_PARAMS))}")
        out: dict[str, str] = {}
        subreddit = re.sub(r"^/?r/", "", (params.get("subreddit") or "").strip()).strip("/")
        if subreddit and not _SUBREDDIT.fullmatch(subreddit):
            raise FieldError("subreddit", "must be a subreddit name: 2-21 letters, digits or underscores")
        query = (params.get("query") or "").strip()
        if len(query) > 512:
            raise FieldError("query", "must be at most 512 characters")
        if not subreddit and not query:
            raise FieldError("subreddit", "give a subreddit, a search query, or both")
        kind = (params.get("kind") or "posts").strip()
        if kind not in ("posts", "comments"):
            raise FieldError("kind", "must be posts or comments")
        if kind == "comments" and query:
            raise FieldError("kind", "a search finds posts only; leave kind out or drop the query")
        out.update({k: v for k, v in (("subreddit", subreddit), ("query", query)) if v})
        out["kind"] = kind
        out["base_url"] = _base_url(params.get("base_url") or "https://www.reddit.com", "base_url")
        out["auth_url"] = _base_url(params.get("auth_url") or "https://www.reddit.com", "auth_url")
        out["oauth_base_url"] = _base_url(params.get("oauth_base_url") or "https://oauth.reddit.com", "oauth_base_url")
        client_id, secret = (params.get("client_id") or "").strip(), (params.get("client_secret") or "").strip()
        if bool(client_id) != bool(secret):
            raise FieldError("client_secret" if client_id else "client_id", "give both client_id and client_secret")
        if client_id:
            out.update(client_id=client_id, client_secret=secret)
        return out

    def fetch(self, session: Any, params: Mapping[str, str], cursor: Cursor, limits: Limits) -> FetchResult:
        params = self.validate(params)
        url, query = self._listing(params)
        stop = Mark.load(cursor)
        resume = cursor.get("resume") if stop is not None and isinstance(cursor.get("resume"), dict) else None
        top = Mark.load(resume.get("top")) if resume else None
        after: str | None = str(resume["after"]) if resume and resume.get("after") and top else None
        mark, position = stop, after
        result, tokens, pages, complete = FetchResult(), set(), 0, False
        while pages < limits.max_pages and len(result.items) < limits.max_items:
            if after in tokens:
                complete = True  # the service sent a page token twice: stop rather than loop
                break
            tokens.add(after)
            try:
                page_query = {**query, "limit": str(PAGE_SIZE)} | ({"after": after} if after else {})
                page = self._get(session, params, url, page_query)
                entries, after = parse_listing(page.json(), params["base_url"])
            except SourceError:
                if pages == 0:
                    raise
                result.partial = True
                break
            pages += 1
            for entry in entries:
                if entry.created is not None and stop is not None and entry.created < stop.created:
                    complete = True  # older than the cursor: the rest was read by earlier runs
                    break
                if entry.created is not None and stop is not None and stop.covers(entry.created, entry.name):
                    position = entry.name or position
                    continue
                if len(result.items) >= limits.max_items:
                    break
                if entry.created is not None and entry.name is not None and top is None:
                    mark = mark.add(entry.created, entry.name) if mark else Mark(entry.created, frozenset({entry.name}))
                position = entry.name or position
                if isinstance(entry.result, Item):
                    result.items.append(entry.result)
                else:
                    result.rejected.append(entry.result)
            else:
                position = after or position
                complete = complete or after is None
            if complete:
                break
        result.items.reverse()  # oldest first
        result.rejected.reverse()
        result.cursor, result.partial = self._next_cursor(stop, top, mark, position, complete, result.partial)
        return result

    @staticmethod
    def _next_cursor(
        stop: Mark | None, top: Mark | None, mark: Mark | None, position: str | None, complete: bool, failed: bool
    ) -> tuple[Cursor, bool]:
        if complete:
            final = top or mark
            return (final.dump() if final else {}), False
        if stop is None:
            # A first run reads the newest pages only; the history below them is not wanted.
            return (mark.dump() if mark else {}), failed
        return {**stop.dump(), "resume": {"after": position, "top": (top or mark or stop).dump()}}, True

    def _listing(self, params: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        oauth = "client_id" in params
        base, suffix = (params["oauth_base_url"], "") if oauth else (params["base_url"], ".json")
        subreddit = params.get("subreddit")
        if "query" in params:
            query = {"q": params["query"], "sort": "new", "type": "link"}
            if subreddit:
                return f"{base}/r/{subreddit}/search{suffix}", {**query, "restrict_sr": "1"}
            return f"{base}/search{suffix}", query
        listing = "comments" if params["kind"] == "comments" else "new"
        return f"{base}/r/{subreddit}/{listing}{suffix}", {}

    def _get(self, session: Any, params: Mapping[str, str], url: str, query: dict[str, Any]) -> Any:
        if "client_id" not in params:
            return session.get(url, params=query)
        cached = self._key(params) in self._tokens
        try:
            return session.get(url, params=query, headers={"Authorization": f"bearer {self._token(session, params)}"})
        except SourceAuthError:
            if not cached:
                raise
            self._tokens.pop(self._key(params), None)  # a kept token Reddit no longer takes: a new one, once
            return session.get(url, params=query, headers={"Authorization": f"bearer {self._token(session, params)}"})

    def _token(self, session: Any, params: Mapping[str, str]) -> str:
        """An app-only token (``client_credentials``), kept until shortly before Reddit expires it."""
        key = self._key(params)
        cached = self._tokens.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
        page = session.request(
            "POST",
            f"{params['auth_url']}/api/v1/access_token",
            data={"grant_type": "client_credentials"},
            auth=(params["client_id"], params["client_secret"]),
        )
        body = page.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceAuthError("reddit gave no access token for these credentials")
        expires = body.get("expires_in")
        lifetime = float(expires) if isinstance(expires, int | float) else 3600.0
        self._tokens[key] = (token, time.time() + max(lifetime - 60.0, 0.0))
        return token

    @staticmethod
    def _key(params: Mapping[str, str]) -> str:
        raw = "\0".join((params["auth_url"], params["client_id"], params["client_secret"]))
        return hashlib.sha256(raw.encode()).hexdigest()


@CONNECTORS.register("connector.reddit.v1")
def reddit_connector() -> RedditConnector:
    return RedditConnector()
