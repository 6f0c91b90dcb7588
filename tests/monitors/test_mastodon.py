"""The Mastodon connector against a local server that answers ``/api/v1/timelines/tag/{hashtag}`` as
Mastodon documents it: newest first, ``max_id``/``since_id``/``min_id``, ``Link`` headers with
``rel="next"`` (older) and ``rel="prev"`` (newer), ``X-RateLimit-*`` with an ISO reset time."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opinara.config import Settings
from opinara.errors import FieldError
from opinara.monitors.connectors.base import CONNECTORS, Limits, SourceAuthError, SourceError, SourceRateLimited
from opinara.monitors.connectors.mastodon import MastodonConnector, parse_links
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.http import BlockedAddress, HttpSession
from tests.monitors.social_server import Request, Response, SocialServer

ID0 = 112_000_000_000_000_000  # Mastodon ids are snowflakes: milliseconds shifted left 16 bits, as strings


def sid(n: int) -> str:
    return str(ID0 + n)


def status(n: int, content: str | None = None, tag: str = "coffee", **extra: Any) -> dict:
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=n)
    data = {
        "id": sid(n),
        "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://remote.example/users/u{n}/statuses/{sid(n)}",
        "url": f"https://remote.example/@u{n}/{sid(n)}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "content": content if content is not None else f"<p>Status {n} about coffee</p>",
        "reblog": None,
        "account": {"id": str(1000 + n), "username": f"u{n}", "acct": f"u{n}@remote.example", "display_name": ""},
        "media_attachments": [],
        "mentions": [],
        "tags": [{"name": tag, "url": f"https://mastodon.example/tags/{tag}"}],
        "emojis": [],
        "card": None,
        "poll": None,
    }
    return {**data, **extra}


class FakeMastodon:
    """A tag timeline with Mastodon's paging, headers and (optionally) its authenticated-only mode."""

    def __init__(self) -> None:
        self.statuses: list[dict] = []
        self.token: str | None = None  # when set, the timeline needs "Authorization: Bearer <token>"
        self.remaining = "299"
        self.reset = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")

    def add(self, *statuses: dict) -> None:
        self.statuses.extend(statuses)

    def __call__(self, request: Request) -> Response:
        match = re.fullmatch(r"/api/v1/timelines/tag/([^/]+)", request.path)
        if request.method != "GET" or not match:
            return Response.json({"error": "Record not found"}, 404)
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return Response.json({"error": "This API requires an authenticated user"}, 401)
        tag, query = match.group(1).lower(), request.query
        tagged = [s for s in self.statuses if any(t["name"].lower() == tag for t in s["tags"])]
        tagged.sort(key=lambda s: int(s["id"]), reverse=True)
        limit = min(int(query.get("limit", "20")), 40)
        if "max_id" in query:
            tagged = [s for s in tagged if int(s["id"]) < int(query["max_id"])]
        if "since_id" in query:
            tagged = [s for s in tagged if int(s["id"]) > int(query["since_id"])]
        if "min_id" in query:  # the statuses immediately newer than min_id, still answered newest first
            page = [s for s in tagged if int(s["id"]) > int(query["min_id"])][-limit:]
        else:
            page = tagged[:limit]
        headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": self.remaining, "X-RateLimit-Reset": self.reset}
        if page:
            base = f"http://{request.headers['host']}{request.path}?" + (
                f"limit={query['limit']}&" if "limit" in query else ""
            )
            headers["Link"] = f'<{base}max_id={page[-1]["id"]}>; rel="next", <{base}min_id={page[0]["id"]}>; rel="prev"'
        return Response.json(page, headers=headers)


@pytest.fixture
def mastodon() -> FakeMastodon:
    return FakeMastodon()


@pytest.fixture
def server(mastodon: FakeMastodon) -> Iterator[SocialServer]:
    with SocialServer(mastodon) as running:
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


def run(session: HttpSession, server: SocialServer, cursor: dict | None = None, limits: Limits | None = None, **params):
    connector = CONNECTORS.create("connector.mastodon.v1")
    return connector.fetch(
        session, {"base_url": server.url, "hashtag": "coffee", **params}, cursor or {}, limits or Limits()
    )


def ids(result) -> list[str]:
    return [item.external_id for item in result.items]


def test_the_first_run_reads_the_newest_statuses_oldest_first(session, server, mastodon):
    mastodon.add(status(1), status(2), status(3, tag="tea"), status(4))
    result = run(session, server)
    assert ids(result) == [sid(1), sid(2), sid(4)]
    first = result.items[0]
    assert first.text == "Status 1 about coffee"
    assert first.url == f"https://remote.example/@u1/{sid(1)}"
    assert first.author == "u1@remote.example"
    assert first.published_at == datetime(2024, 5, 1, 12, 1, tzinfo=UTC)
    assert result.cursor == {"newest_id": sid(4)} and not result.partial
    assert server.requests[0].path == "/api/v1/timelines/tag/coffee"
    assert server.requests[0].query == {"limit": "40"}


def test_a_first_run_pages_back_through_next_links_up_to_the_limits(session, server, mastodon):
    mastodon.add(*(status(n) for n in range(1, 101)))
    result = run(session, server, limits=Limits(max_items=60))
    assert ids(result) == [sid(n) for n in range(41, 101)]
    assert [r.query.get("max_id") for r in server.requests] == [None, sid(61)]
    assert result.cursor == {"newest_id": sid(100)} and not result.partial


def test_later_runs_walk_forward_with_min_id_through_prev_links(session, server, mastodon):
    mastodon.add(status(1))
    first = run(session, server)
    mastodon.add(*(status(n) for n in range(2, 102)))
    result = run(session, server, first.cursor)
    assert ids(result) == [sid(n) for n in range(2, 102)]
    assert [r.query.get("min_id") for r in server.requests[1:]] == [sid(1), sid(41), sid(81), sid(101)]
    assert result.cursor == {"newest_id": sid(101)} and not result.partial


def test_a_second_run_without_new_statuses_reads_nothing_and_keeps_the_cursor(session, server, mastodon):
    mastodon.add(status(1), status(2))
    first = run(session, server)
    again = run(session, server, first.cursor)
    assert again.items == [] and again.cursor == first.cursor
    assert len(server.requests) == 2


def test_a_run_cut_by_the_item_limit_moves_the_cursor_only_past_what_it_read(session, server, mastodon):
    mastodon.add(status(1))
    first = run(session, server)
    mastodon.add(*(status(n) for n in range(2, 102)))
    cut = run(session, server, first.cursor, Limits(max_items=50))
    assert ids(cut) == [sid(n) for n in range(2, 52)]
    assert cut.cursor == {"newest_id": sid(51)} and cut.partial
    rest = run(session, server, cut.cursor)
    assert ids(rest) == [sid(n) for n in range(52, 102)]


def test_a_failure_after_the_first_page_returns_what_was_read(session, server, mastodon):
    mastodon.add(status(1))
    first = run(session, server)
    mastodon.add(*(status(n) for n in range(2, 62)))
    server.script(lambda r: r.query.get("min_id") == sid(41), Response(502, b"Bad Gateway"))
    broken = run(session, server, first.cursor)
    assert ids(broken) == [sid(n) for n in range(2, 42)]
    assert broken.partial and broken.cursor == {"newest_id": sid(41)}
    assert ids(run(session, server, broken.cursor)) == [sid(n) for n in range(42, 62)]


def test_ids_compare_as_numbers_not_as_text(session, server, mastodon):
    mastodon.add({**status(0), "id": "98"}, {**status(0), "id": "99"})
    first = run(session, server)
    assert first.cursor == {"newest_id": "99"}
    mastodon.add({**status(0), "id": "100"}, {**status(0), "id": "101"})
    assert ids(run(session, server, first.cursor)) == ["100", "101"]


def test_boosts_are_skipped_but_passed_by_the_cursor(session, server, mastodon):
    boost = status(2, content="", reblog=status(1, content="<p>Boosted words</p>"))
    mastodon.add(status(1), boost, status(3))
    result = run(session, server)
    assert ids(result) == [sid(1), sid(3)] and result.rejected == []
    mastodon.add(status(4, content=""), status(5, reblog=status(1)))
    later = run(session, server, result.cursor)
    assert later.items == [] and later.cursor == {"newest_id": sid(5)}


def test_statuses_without_id_or_text_are_rejected_and_the_rest_go_on(session, server, mastodon):
    no_id = status(2)
    del no_id["id"]
    media_only = status(3, content="", media_attachments=[{"id": "9", "type": "image"}])
    server.script(lambda r: True, Response.json([media_only, no_id, status(1)]))
    result = run(session, server)
    assert ids(result) == [sid(1)]
    assert sorted(r.reason for r in result.rejected) == ["no id", "no text (media only or empty)"]


def test_html_content_reads_as_text_with_breaks_and_full_links(session, server, mastodon):
    content = (
        "<p>New grinder &amp; beans are great!<br />Review here: "
        '<a href="https://example.com/reviews/grinder-2024" rel="nofollow noopener noreferrer" target="_blank">'
        '<span class="invisible">https://</span><span class="ellipsis">example.com/reviews/gri</span>'
        '<span class="invisible">nder-2024</span></a></p><p>Second paragraph</p>'
    )
    mastodon.add(status(1, content=content, spoiler_text="coffee review"))
    [item] = run(session, server).items
    assert item.title == "coffee review"
    assert item.text == (
        "coffee review\n\nNew grinder & beans are great!\n"
        "Review here: https://example.com/reviews/grinder-2024\n\nSecond paragraph"
    )


def test_an_access_token_is_sent_as_a_bearer_token(session, server, mastodon):
    mastodon.token = "s3cret"
    mastodon.add(status(1))
    result = run(session, server, access_token="s3cret")
    assert ids(result) == [sid(1)]
    assert server.requests[0].headers["authorization"] == "Bearer s3cret"


def test_an_instance_that_needs_a_login_is_an_auth_error(session, server, mastodon):
    mastodon.token = "s3cret"
    with pytest.raises(SourceAuthError):
        run(session, server)


def test_an_exhausted_ratelimit_blocks_the_host_until_its_iso_reset(session, server, mastodon, limiter):
    mastodon.add(*(status(n) for n in range(1, 60)))
    mastodon.remaining = "0"
    mastodon.reset = (
        (datetime.now(UTC) + timedelta(seconds=90)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    result = run(session, server)
    assert len(result.items) == 40 and result.partial
    assert 85 < limiter.waiting("127.0.0.1") <= 90
    assert len(server.requests) == 1


def test_429_with_retry_after_blocks_the_host(session, server, limiter):
    server.script(lambda r: True, Response.json({"error": "Too many requests"}, 429, {"Retry-After": "45"}))
    with pytest.raises(SourceRateLimited) as caught:
        run(session, server)
    assert caught.value.retry_after == 45
    assert 43 < limiter.waiting("127.0.0.1") <= 45


def test_a_malformed_body_is_a_source_error(session, server):
    server.script(lambda r: True, Response(200, b"[{", {"Content-Type": "application/json"}))
    with pytest.raises(SourceError, match="malformed JSON"):
        run(session, server)
    server.script(lambda r: True, Response.json({"error": "oops"}))
    with pytest.raises(SourceError, match="not a list"):
        run(session, server)


def test_a_timeout_is_a_source_error(session, server):
    server.script(lambda r: True, Response(200, b"[]", delay=1.5))
    with pytest.raises(SourceError, match="did not answer"):
        run(session, server)


def test_a_redirect_to_the_metadata_address_is_blocked(session, server):
    server.script(lambda r: True, Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    with pytest.raises(BlockedAddress):
        run(session, server)


def test_a_link_to_another_host_is_not_followed(session, server, mastodon):
    mastodon.add(status(1))
    first = run(session, server)
    link = '<https://elsewhere.example/api/v1/timelines/tag/coffee?min_id=9>; rel="prev"'
    server.script(lambda r: True, Response.json([status(2)], headers={"Link": link}))
    result = run(session, server, first.cursor, access_token="s3cret")
    assert ids(result) == [sid(2)] and result.partial
    assert len(server.requests) == 2


def test_link_headers_are_read_as_rfc_8288():
    header = '<https://m.example/api/v1/x?max_id=1>; rel="next", <https://m.example/api/v1/x?min_id=5>; rel=prev'
    assert parse_links(header) == {
        "next": "https://m.example/api/v1/x?max_id=1",
        "prev": "https://m.example/api/v1/x?min_id=5",
    }
    assert parse_links("") == {}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"base_url": "https://mastodon.social"}, "hashtag"),
        ({"hashtag": "two words", "base_url": "https://mastodon.social"}, "hashtag"),
        ({"hashtag": "coffee"}, "base_url"),
        ({"hashtag": "coffee", "base_url": "mastodon.social"}, "base_url"),
        ({"hashtag": "coffee", "base_url": "https://mastodon.social", "tag": "x"}, "tag"),
    ],
)
def test_bad_params_name_their_field(params, field):
    with pytest.raises(FieldError) as caught:
        MastodonConnector().validate(params)
    assert caught.value.field == field


def test_params_are_normalized():
    assert MastodonConnector().validate({"hashtag": "#Café", "base_url": "https://mastodon.social/"}) == {
        "hashtag": "Café",
        "base_url": "https://mastodon.social",
    }
    assert MastodonConnector.secret_params == {"access_token"}


def test_a_link_back_to_a_page_already_read_stops_the_run(session, server):
    page = [status(n) for n in range(40, 0, -1)]
    link = f'<{server.url}/api/v1/timelines/tag/coffee?limit=40>; rel="next"'
    for _ in range(3):
        server.script(lambda r: True, Response.json(page, headers={"Link": link}))
    result = run(session, server)
    assert len(server.requests) == 1 and len(result.items) == 40
