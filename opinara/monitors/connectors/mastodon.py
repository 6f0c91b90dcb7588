"""Mastodon: the statuses of one hashtag on one instance (``GET /api/v1/timelines/tag/{hashtag}``).

Pages are newest first. The ``Link`` header names the older page (``rel="next"``, ``max_id``) and the
newer one (``rel="prev"``, ``min_id``). A run with a cursor asks for ``min_id=<cursor>``, which answers
the statuses immediately newer than the cursor, and walks forward through ``prev`` links until a page
comes back empty; so a run that stops early (a limit, an error) keeps a cursor that skips nothing, and
the next run carries on from there. A first run reads the newest pages backwards through ``next``.

Ids are strings that sort by time: numeric on Mastodon, fixed-length base62 on Pleroma and Akkoma, so
they compare by length, then as text, which for numbers is the numeric order.

Boosts are skipped: a boost repeats another status's words, and the tag timeline lists the boosted
status itself (Mastodon leaves boosts out of tag timelines; some compatible servers do not).
Links are followed only on the instance's own origin, so an access token never travels elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from opinara.errors import FieldError
from opinara.monitors.connectors.base import CONNECTORS, Cursor, FetchResult, Item, Limits, Rejected, SourceError
from opinara.monitors.text import html_text, join_title

PAGE_SIZE = 40  # the most a Mastodon timeline gives per request
_HASHTAG = re.compile(r"[\w\u00b7\u200c]{1,100}")
_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r"""rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.IGNORECASE)
_PARAMS = frozenset({"hashtag", "base_url", "access_token"})


@dataclass(frozen=True)
class Status:
    """One status of a page: its id (what paging compares) and what it reads as (None: a boost, skipped)."""

    id: str | None
    result: Item | Rejected | None


def parse_page(payload: Any) -> list[Status]:
    """A timeline page's statuses; :class:`SourceError` when it is not a list."""
    if not isinstance(payload, list):
        raise SourceError("mastodon sent something that is not a list of statuses")
    return [read_status(status) for status in payload]


def read_status(status: Any) -> Status:
    """A status as an :class:`Item`: spoiler text as the title, the HTML content as text, links kept."""
    if not isinstance(status, dict):
        return Status(None, Rejected("not a status object"))
    raw_id = status.get("id")
    status_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and raw_id != "" else None
    if status_id is None:
        return Status(None, Rejected("no id"))
    if status.get("reblog"):
        return Status(status_id, None)
    spoiler = status.get("spoiler_text") if isinstance(status.get("spoiler_text"), str) else ""
    content = html_text(status["content"]) if isinstance(status.get("content"), str) else ""
    if not content and not spoiler.strip():
        return Status(status_id, Rejected("no text (media only or empty)", status_id))
    account = status.get("account") if isinstance(status.get("account"), dict) else {}
    author = account.get("acct") or account.get("id")
    url = status.get("url") or status.get("uri")
    item = Item(
        external_id=status_id,
        text=join_title(spoiler, content),
        url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        author=str(author) if isinstance(author, str | int) and author != "" else None,
        published_at=_moment(status.get("created_at")),
        title=spoiler.strip() or None,
    )
    return Status(status_id, item)


def parse_links(header: str) -> dict[str, str]:
    """An RFC 8288 ``Link`` header as ``{rel: url}`` (the first link of each rel wins)."""
    links: dict[str, str] = {}
    for url, attributes in _LINK.findall(header):
        for quoted, bare in _REL.findall(attributes):
            for rel in (quoted or bare).split():
                links.setdefault(rel.lower(), url.strip())
    return links


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _id_key(status_id: str) -> tuple[int, str]:
    return len(status_id), status_id


def _base_url(value: str, field: str) -> str:
    url = value.strip().rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.query:
        raise FieldError(field, "must be the instance's http(s) URL, such as https://mastodon.social")
    return url


class MastodonConnector:
    """``connector.mastodon.v1``: params ``hashtag`` (without #), ``base_url`` (the instance), ``access_token``."""

    name = "connector.mastodon.v1"
    secret_params = frozenset({"access_token"})

    def validate(self, params: Mapping[str, str]) -> dict[str, str]:
        unknown = sorted(set(params) - _PARAMS)
        if unknown:
            raise FieldError(unknown[0], f"unknown mastodon param; known: {', '.join(sorted(_PARAMS))}")
        hashtag = (params.get("hashtag") or "").strip().lstrip("#")
        if not _HASHTAG.fullmatch(hashtag):
            raise FieldError("hashtag", "must be a hashtag of letters, digits and underscores, without the #")
        if not (params.get("base_url") or "").strip():
            raise FieldError("base_url", "give the instance's URL, such as https://mastodon.social")
        out = {"hashtag": hashtag, "base_url": _base_url(params["base_url"], "base_url")}
        token = (params.get("access_token") or "").strip()
        if token:
            out["access_token"] = token
        return out

    def fetch(self, session: Any, params: Mapping[str, str], cursor: Cursor, limits: Limits) -> FetchResult:
        params = self.validate(params)
        origin = httpx.URL(params["base_url"])
        headers = {"Authorization": f"Bearer {params['access_token']}"} if "access_token" in params else None
        newest = cursor.get("newest_id") if isinstance(cursor.get("newest_id"), str) and cursor["newest_id"] else None
        forward = newest is not None  # with a cursor: walk towards newer statuses; without: towards older
        url = httpx.URL(f"{params['base_url']}/api/v1/timelines/tag/{quote(params['hashtag'], safe='')}")
        url = url.copy_merge_params({"limit": str(PAGE_SIZE), **({"min_id": newest} if newest else {})})
        result, visited, pages, complete = FetchResult(), set(), 0, False
        while pages < limits.max_pages and len(result.items) < limits.max_items:
            if str(url) in visited:
                complete = True  # the service sent a link twice: stop rather than loop
                break
            visited.add(str(url))
            try:
                page = session.get(str(url), headers=headers)
                statuses = parse_page(page.json())
            except SourceError:
                if pages == 0:
                    raise
                result.partial = True
                break
            pages += 1
            if forward:  # a server that ignores min_id must not bring back what earlier runs read
                statuses = [s for s in statuses if s.id is None or _id_key(s.id) > _id_key(newest or "")]
                statuses.sort(key=lambda s: _id_key(s.id or ""))  # oldest first: the cursor moves without gaps
            if not statuses:
                complete = True
                break
            taken = self._take(statuses, result, limits.max_items)
            top = max((s.id for s in statuses[:taken] if s.id), key=_id_key, default=None)
            if top and (newest is None or _id_key(top) > _id_key(newest)):
                newest = top
            if taken < len(statuses):
                break
            if not forward and len(statuses) < PAGE_SIZE:
                complete = True  # a short page going back: the history ends here (best effort is enough)
                break
            link = parse_links(page.headers.get("link", "")).get("prev" if forward else "next")
            if not link:
                complete = True
                break
            url = httpx.URL(page.url).join(link)
            if (url.scheme, url.host, url.port) != (origin.scheme, origin.host, origin.port):
                result.partial = True  # a link off the instance: what was read stands, the rest waits
                break
        if not forward:
            result.items.reverse()  # read newest first; handed on oldest first
            result.rejected.reverse()
        # A first run wants the newest pages only, so stopping there leaves nothing wanted behind.
        result.partial = result.partial or (forward and not complete)
        result.cursor = {"newest_id": newest} if newest else {}
        return result

    @staticmethod
    def _take(statuses: list[Status], result: FetchResult, max_items: int) -> int:
        """Adds statuses in page order until ``max_items``; how many of them it took."""
        for index, status in enumerate(statuses):
            if isinstance(status.result, Item):
                if len(result.items) >= max_items:
                    return index
                result.items.append(status.result)
            elif isinstance(status.result, Rejected):
                result.rejected.append(status.result)
        return len(statuses)


@CONNECTORS.register("connector.mastodon.v1")
def mastodon_connector() -> MastodonConnector:
    return MastodonConnector()
