"""The Reddit connector against a local server that answers Reddit's JSON listings and its OAuth token
endpoint as Reddit documents them (legacy-escaped strings, ``after`` fullnames, ``X-Ratelimit-*``)."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from opinara.config import Settings
from opinara.errors import FieldError
from opinara.monitors.connectors.base import (
    CONNECTORS,
    Limits,
    Rejected,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
)
from opinara.monitors.connectors.reddit import RedditConnector
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.http import BlockedAddress, HttpSession
from tests.monitors.social_server import Request, Response, SocialServer

T0 = 1_714_560_000.0  # 2024-05-01T10:40:00Z
TOKEN = "app-only-token"


def _md(text: str) -> str:
    """Reddit's rendered markdown: a ``div.md`` between SC_OFF/SC_ON comments."""
    paragraphs = "".join(f"<p>{html.escape(part, quote=False)}</p>\n" for part in text.split("\n\n"))
    return f'<!-- SC_OFF --><div class="md">{paragraphs}</div><!-- SC_ON -->'


def post(n: int, created: float, title: str = "", body: str = "", sub: str = "headphones", **extra: Any) -> dict:
    data = {
        "subreddit": sub,
        "selftext": body,
        "selftext_html": _md(body) if body else None,
        "title": title or f"Post {n}",
        "name": f"t3_p{n}",
        "id": f"p{n}",
        "author": f"user{n}",
        "created_utc": created,
        "permalink": f"/r/{sub}/comments/p{n}/post_{n}/",
        "url": f"https://www.reddit.com/r/{sub}/comments/p{n}/post_{n}/",
        "is_self": True,
        "score": 1,
        "num_comments": 0,
    }
    return {"kind": "t3", "data": {**data, **extra}}


def comment(n: int, created: float, body: str, sub: str = "headphones", **extra: Any) -> dict:
    data = {
        "subreddit": sub,
        "body": body,
        "body_html": _md(body),
        "link_title": "Which headphones?",
        "link_id": "t3_p1",
        "name": f"t1_c{n}",
        "id": f"c{n}",
        "author": f"commenter{n}",
        "created_utc": created,
        "permalink": f"/r/{sub}/comments/p1/which_headphones/c{n}/",
    }
    return {"kind": "t1", "data": {**data, **extra}}


def _legacy_escape(value: Any) -> Any:
    """What Reddit does to every string of its JSON unless asked for ``raw_json=1``."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, list):
        return [_legacy_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _legacy_escape(v) for k, v in value.items()}
    return value


class FakeReddit:
    """Listings for ``/r/{sub}/new``, ``/r/{sub}/comments``, ``/search`` and ``/r/{sub}/search`` (``.json``
    on the public site; without it, and only with a bearer token, on the OAuth host), and the token endpoint."""

    def __init__(self) -> None:
        self.things: list[dict] = []
        self.remaining = "598.0"
        self.reset = "240"

    def add(self, *things: dict) -> None:
        self.things.extend(things)
        self.things.sort(key=lambda t: t["data"]["created_utc"], reverse=True)

    def __call__(self, request: Request) -> Response:
        if request.path == "/api/v1/access_token":
            return self._token(request)
        match = re.fullmatch(r"(?:/r/(\w+))?/(new|comments|search)(\.json)?", request.path)
        if not match:
            return Response.json({"message": "Not Found", "error": 404}, 404)
        sub, listing, public = match.groups()
        if not public and request.headers.get("authorization") != f"bearer {TOKEN}":
            return Response.json({"message": "Unauthorized", "error": 401}, 401)
        things = self._select(sub, listing, request.query)
        after = request.query.get("after")
        names = [t["data"]["name"] for t in things]
        start = names.index(after) + 1 if after in names else (len(things) if after else 0)
        limit = min(int(request.query.get("limit", "25")), 100)
        page = things[start : start + limit]
        more = start + limit < len(things)
        listing_body = {
            "kind": "Listing",
            "data": {
                "after": page[-1]["data"]["name"] if page and more else None,
                "dist": len(page),
                "modhash": "",
                "geo_filter": "",
                "children": page if request.query.get("raw_json") == "1" else _legacy_escape(page),
                "before": None,
            },
        }
        headers = {"x-ratelimit-used": "2", "x-ratelimit-remaining": self.remaining, "x-ratelimit-reset": self.reset}
        return Response.json(listing_body, headers=headers)

    def _select(self, sub: str | None, listing: str, query: dict[str, str]) -> list[dict]:
        kind = "t1" if listing == "comments" else "t3"
        things = [t for t in self.things if t["kind"] == kind]
        if sub and (listing != "search" or query.get("restrict_sr") == "1"):
            things = [t for t in things if t["data"]["subreddit"].lower() == sub.lower()]
        if listing == "search":
            words = query.get("q", "").lower()
            things = [t for t in things if words in (t["data"]["title"] + " " + t["data"]["selftext"]).lower()]
        return things

    def _token(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(b"my-app:my-secret").decode()
        if request.method != "POST" or request.headers.get("authorization") != expected:
            return Response.json({"message": "Unauthorized", "error": 401}, 401)
        if request.form().get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type"})
        return Response.json({"access_token": TOKEN, "token_type": "bearer", "expires_in": 86400, "scope": "*"})


@pytest.fixture
def reddit() -> FakeReddit:
    return FakeReddit()


@pytest.fixture
def server(reddit: FakeReddit) -> Iterator[SocialServer]:
    with SocialServer(reddit) as running:
        yield running


@pytest.fixture
def settings() -> Settings:
    return Settings(monitor_allowed_networks=["127.0.0.1/32"], monitor_timeout_seconds=0.5)


@pytest.fixture
def limiter(settings: Settings) -> HostLimiter:
    return HostLimiter(settings)


@pytest.fixture
def session(settings: Settings, limiter: HostLimiter) -> Iterator[HttpSession]:
    with HttpSession(settings, limiter) as opened:
        yield opened


def run(
    session: HttpSession, server: SocialServer, cursor: dict | None = None, limits: Limits | None = None, **params: str
):
    connector = CONNECTORS.create("connector.reddit.v1")
    return connector.fetch(session, {"base_url": server.url, **params}, cursor or {}, limits or Limits())


def test_the_first_run_reads_the_newest_posts_oldest_first(session, server, reddit):
    reddit.add(post(1, T0, "Great sound", "Bass is deep & clear"), post(2, T0 + 60, "Battery died"))
    result = run(session, server, subreddit="headphones")
    assert [item.external_id for item in result.items] == ["t3_p1", "t3_p2"]
    first = result.items[0]
    assert first.text == "Great sound\n\nBass is deep & clear"
    assert first.title == "Great sound"
    assert first.url == f"{server.url}/r/headphones/comments/p1/post_1/"
    assert first.author == "user1"
    assert first.published_at == datetime.fromtimestamp(T0, UTC)
    assert result.cursor == {"created": T0 + 60, "seen": ["t3_p2"]}
    assert not result.partial
    assert server.requests[0].path == "/r/headphones/new.json"
    assert server.requests[0].query["limit"] == "100"


def test_pages_are_followed_with_after(session, server, reddit):
    reddit.add(*(post(n, T0 + n) for n in range(250)))
    result = run(session, server, subreddit="headphones")
    assert len(result.items) == 250
    assert [item.external_id for item in result.items[:2]] == ["t3_p0", "t3_p1"]
    assert [r.query.get("after") for r in server.requests] == [None, "t3_p150", "t3_p50"]


def test_a_second_run_without_new_posts_reads_nothing_and_keeps_the_cursor(session, server, reddit):
    reddit.add(post(1, T0), post(2, T0 + 1))
    first = run(session, server, subreddit="headphones")
    again = run(session, server, first.cursor, subreddit="headphones")
    assert again.items == [] and again.rejected == []
    assert again.cursor == first.cursor
    assert len(server.requests) == 2


def test_a_second_run_reads_only_new_posts_even_in_the_same_second(session, server, reddit):
    reddit.add(post(1, T0), post(2, T0 + 5))
    first = run(session, server, subreddit="headphones")
    reddit.add(post(3, T0 + 5), post(4, T0 + 9))
    second = run(session, server, first.cursor, subreddit="headphones")
    assert [item.external_id for item in second.items] == ["t3_p3", "t3_p4"]
    assert second.cursor == {"created": T0 + 9, "seen": ["t3_p4"]}


def test_a_run_cut_by_the_item_limit_leaves_the_gap_for_the_next_run(session, server, reddit):
    reddit.add(post(0, T0))
    first = run(session, server, subreddit="headphones")
    reddit.add(*(post(n, T0 + n) for n in range(1, 8)))
    cut = run(session, server, first.cursor, Limits(max_items=3), subreddit="headphones")
    assert [item.external_id for item in cut.items] == ["t3_p5", "t3_p6", "t3_p7"]
    assert cut.partial
    assert cut.cursor == {**first.cursor, "resume": {"after": "t3_p5", "top": {"created": T0 + 7, "seen": ["t3_p7"]}}}
    reddit.add(post(8, T0 + 8))
    rest = run(session, server, cut.cursor, subreddit="headphones")
    assert [item.external_id for item in rest.items] == ["t3_p1", "t3_p2", "t3_p3", "t3_p4"]
    assert rest.cursor == {"created": T0 + 7, "seen": ["t3_p7"]} and not rest.partial
    newest = run(session, server, rest.cursor, subreddit="headphones")
    assert [item.external_id for item in newest.items] == ["t3_p8"]


def test_a_failure_after_the_first_page_returns_what_was_read_without_skipping_the_rest(session, server, reddit):
    reddit.add(post(0, T0))
    first = run(session, server, subreddit="headphones")
    reddit.add(*(post(n, T0 + n) for n in range(1, 151)))
    server.script(lambda r: r.query.get("after") == "t3_p51", Response(503, b"upstream busy"))
    result = run(session, server, first.cursor, subreddit="headphones")
    assert result.partial and len(result.items) == 100
    assert result.cursor["resume"]["after"] == "t3_p51"
    rest = run(session, server, result.cursor, subreddit="headphones")
    assert [item.external_id for item in rest.items] == [f"t3_p{n}" for n in range(1, 51)]
    assert rest.cursor == {"created": T0 + 150, "seen": ["t3_p150"]}


def test_the_page_limit_stops_a_run(session, server, reddit):
    reddit.add(*(post(n, T0 + n) for n in range(300)))
    result = run(session, server, limits=Limits(max_pages=2), subreddit="headphones")
    assert len(result.items) == 200 and len(server.requests) == 2


def test_a_repeated_after_token_stops_the_run(session, server, reddit):
    page = {"kind": "Listing", "data": {"after": "t3_same", "children": [post(1, T0)], "before": None}}
    server.script(lambda r: True, Response.json(page))
    server.script(lambda r: True, Response.json(page))
    server.script(lambda r: True, Response.json(page))
    run(session, server, subreddit="headphones")
    assert len(server.requests) == 2


def test_escaped_html_reads_as_plain_text_with_links_kept(session, server, reddit):
    body_html = (
        '<!-- SC_OFF --><div class="md"><p>Sound &amp; comfort: <strong>great</strong>.</p>\n'
        '<p>Review: <a href="https://example.com/r?a=1&amp;b=2">here</a></p>\n</div><!-- SC_ON -->'
    )
    reddit.add(post(1, T0, "Q&A: <Sony> vs Bose", "Sound & comfort", selftext_html=body_html))
    [item] = run(session, server, subreddit="headphones").items
    assert item.text == "Q&A: <Sony> vs Bose\n\nSound & comfort: great.\n\nReview: here (https://example.com/r?a=1&b=2)"


def test_a_link_post_keeps_its_link_as_text(session, server, reddit):
    reddit.add(post(1, T0, "Review of the XM5", is_self=False, url="https://example.com/xm5?ref=a&b=c"))
    [item] = run(session, server, subreddit="headphones").items
    assert item.text == "Review of the XM5\n\nhttps://example.com/xm5?ref=a&b=c"


def test_entries_without_id_text_or_time_are_rejected_and_the_rest_go_on(session, server, reddit):
    no_id = post(1, T0)
    del no_id["data"]["name"], no_id["data"]["id"]
    no_time = post(3, T0 + 2)
    del no_time["data"]["created_utc"]
    deleted = comment(4, T0 + 3, "[deleted]")
    listing = {"kind": "Listing", "data": {"after": None, "children": [deleted, no_time, post(2, T0 + 1), no_id]}}
    server.script(lambda r: True, Response.json(listing))
    result = run(session, server, subreddit="headphones")
    assert [item.external_id for item in result.items] == ["t3_p2"]
    assert sorted(r.reason for r in result.rejected) == [
        "no creation time",
        "no id",
        "no text (deleted, removed or empty)",
    ]
    assert all(isinstance(r, Rejected) for r in result.rejected)


def test_comments_are_read_from_the_comments_listing(session, server, reddit):
    reddit.add(post(1, T0), comment(1, T0 + 10, "These are &quot;fine&quot; <3"), comment(2, T0 + 20, "Too tight"))
    result = run(session, server, subreddit="headphones", kind="comments")
    assert server.requests[0].path == "/r/headphones/comments.json"
    assert [item.external_id for item in result.items] == ["t1_c1", "t1_c2"]
    assert result.items[0].text == "These are &quot;fine&quot; <3"
    assert result.items[0].title == "Which headphones?"
    assert result.items[1].url == f"{server.url}/r/headphones/comments/p1/which_headphones/c2/"


def test_a_search_reads_new_posts_site_wide_or_in_one_subreddit(session, server, reddit):
    reddit.add(post(1, T0, "XM5 review"), post(2, T0 + 1, "XM5 again", sub="audiophile"), post(3, T0 + 2, "other"))
    everywhere = run(session, server, query="xm5")
    assert [item.external_id for item in everywhere.items] == ["t3_p1", "t3_p2"]
    assert server.requests[-1].path == "/search.json"
    assert server.requests[-1].query == {"q": "xm5", "sort": "new", "type": "link", "limit": "100"}
    one = run(session, server, query="xm5", subreddit="audiophile")
    assert [item.external_id for item in one.items] == ["t3_p2"]
    assert server.requests[-1].path == "/r/audiophile/search.json"
    assert server.requests[-1].query["restrict_sr"] == "1"


def test_oauth_gets_an_app_only_token_and_keeps_it(session, server, reddit):
    reddit.add(post(1, T0))
    connector = RedditConnector()
    params = {"subreddit": "headphones", "base_url": "https://www.reddit.com", "auth_url": server.url,
              "oauth_base_url": server.url, "client_id": "my-app", "client_secret": "my-secret"}  # fmt: skip
    result = connector.fetch(session, params, {}, Limits())
    token_request, listing = server.requests
    assert token_request.method == "POST" and token_request.path == "/api/v1/access_token"
    assert token_request.form() == {"grant_type": "client_credentials"}
    assert listing.path == "/r/headphones/new" and listing.headers["authorization"] == f"bearer {TOKEN}"
    assert result.items[0].url == "https://www.reddit.com/r/headphones/comments/p1/post_1/"
    connector.fetch(session, params, result.cursor, Limits())
    assert [r.path for r in server.requests].count("/api/v1/access_token") == 1


def test_oauth_with_wrong_credentials_is_an_auth_error(session, server):
    params = {"subreddit": "headphones", "auth_url": server.url, "oauth_base_url": server.url,
              "client_id": "my-app", "client_secret": "wrong"}  # fmt: skip
    with pytest.raises(SourceAuthError):
        RedditConnector().fetch(session, params, {}, Limits())


def test_429_with_retry_after_blocks_the_host(session, server, limiter):
    server.script(
        lambda r: True, Response(429, b'{"message": "Too Many Requests", "error": 429}', {"Retry-After": "30"})
    )
    with pytest.raises(SourceRateLimited) as caught:
        run(session, server, subreddit="headphones")
    assert caught.value.retry_after == 30
    assert 28 < limiter.waiting("127.0.0.1") <= 30


def test_an_exhausted_float_ratelimit_blocks_the_host_until_the_reset(session, server, reddit, limiter):
    reddit.add(*(post(n, T0 + n) for n in range(150)))
    reddit.remaining, reddit.reset = "0.0", "120"
    result = run(session, server, subreddit="headphones")
    assert len(result.items) == 100 and result.partial  # the second page waits for the reset
    assert 118 < limiter.waiting("127.0.0.1") <= 120
    assert len(server.requests) == 1  # the limiter refused the second page before it was sent


def test_401_is_an_auth_error(session, server):
    server.script(lambda r: True, Response.json({"message": "Unauthorized", "error": 401}, 401))
    with pytest.raises(SourceAuthError):
        run(session, server, subreddit="headphones")


def test_a_malformed_body_is_a_source_error(session, server):
    server.script(lambda r: True, Response(200, b"<html>we are down</html>", {"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match="malformed JSON"):
        run(session, server, subreddit="headphones")
    server.script(lambda r: True, Response.json({"kind": "t5", "data": {}}))
    with pytest.raises(SourceError, match="not a listing"):
        run(session, server, subreddit="headphones")


def test_a_timeout_is_a_source_error(session, server):
    server.script(lambda r: True, Response(200, b"{}", delay=1.5))
    with pytest.raises(SourceError, match="did not answer"):
        run(session, server, subreddit="headphones")


def test_a_redirect_to_a_private_address_is_blocked(session, server):
    server.script(lambda r: True, Response(302, headers={"Location": "http://10.1.2.3/r/headphones/new.json"}))
    with pytest.raises(BlockedAddress):
        run(session, server, subreddit="headphones")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "subreddit"),
        ({"subreddit": "a b"}, "subreddit"),
        ({"subreddit": "x", "kind": "videos"}, "subreddit"),
        ({"subreddit": "headphones", "kind": "videos"}, "kind"),
        ({"query": "xm5", "kind": "comments"}, "kind"),
        ({"subreddit": "headphones", "client_id": "only-id"}, "client_secret"),
        ({"subreddit": "headphones", "base_url": "ftp://reddit.com"}, "base_url"),
        ({"subreddit": "headphones", "sub": "typo"}, "sub"),
    ],
)
def test_bad_params_name_their_field(params, field):
    with pytest.raises(FieldError) as caught:
        RedditConnector().validate(params)
    assert caught.value.field == field


def test_params_are_normalized():
    assert RedditConnector().validate({"subreddit": "/r/Headphones/"}) == {
        "subreddit": "Headphones",
        "kind": "posts",
        "base_url": "https://www.reddit.com",
        "auth_url": "https://www.reddit.com",
        "oauth_base_url": "https://oauth.reddit.com",
    }
    assert RedditConnector.secret_params == {"client_id", "client_secret"}


def test_a_kept_token_that_reddit_refuses_is_replaced_once(session, server, reddit):
    reddit.add(post(1, T0))
    connector = RedditConnector()
    params = {"subreddit": "headphones", "auth_url": server.url, "oauth_base_url": server.url,
              "client_id": "my-app", "client_secret": "my-secret"}  # fmt: skip
    first = connector.fetch(session, params, {}, Limits())
    server.script(
        lambda r: r.path == "/r/headphones/new", Response.json({"message": "Unauthorized", "error": 401}, 401)
    )
    connector.fetch(session, params, first.cursor, Limits())
    assert [r.path for r in server.requests].count("/api/v1/access_token") == 2
