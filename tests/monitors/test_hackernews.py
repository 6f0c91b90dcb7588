"""The Hacker News connector against a local server that answers like the Algolia HN Search API
(``/api/v1/search_by_date``): newest first, pages by number, ``numericFilters`` on ``created_at_i``, and
only the first ``paginationLimitedTo`` hits of a search shown."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest

from opinara.config import Settings
from opinara.errors import FieldError
from opinara.monitors.connectors.base import (
    CONNECTORS,
    Limits,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
)
from opinara.monitors.connectors.hackernews import HackerNewsConnector, parse_hit
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.http import BlockedAddress, HttpSession
from tests.monitors.fake_services import FakeService, Reply, Request

PATH = "/api/v1/search_by_date"
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z


def story(n: int, at: int, **fields: object) -> dict[str, object]:
    hit = {
        "objectID": str(n),
        "title": f"Show HN: Widget {n}",
        "url": f"https://widget{n}.example.com",
        "author": f"user{n}",
        "points": 3,
        "story_text": None,
        "num_comments": 0,
        "created_at": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", ".000Z"),
        "created_at_i": at,
        "_tags": ["story", f"author_user{n}", f"story_{n}"],
    }
    return {**hit, **fields}


def comment(n: int, at: int, text: str) -> dict[str, object]:
    hit = story(n, at, title=None, url=None, comment_text=text, story_id=1, story_title="Show HN: Widget 1")
    hit["_tags"] = ["comment", f"author_user{n}", "story_1"]
    return hit


class AlgoliaIndex:
    """Answers ``search_by_date`` over a list of hits the way hn.algolia.com does."""

    def __init__(self, hits: list[dict[str, object]], pagination_limit: int = 1000, max_per_page: int = 1000) -> None:
        self.hits = hits
        self.pagination_limit = pagination_limit
        self.max_per_page = max_per_page  # the real one allows 1000; a smaller one makes pages in tests

    def __call__(self, request: Request) -> Reply:
        per_page = min(int(request.param("hitsPerPage") or 20), self.max_per_page)
        page = int(request.param("page") or 0)
        tags = (request.param("tags") or "").strip("()").split(",")
        matching = [hit for hit in self.hits if set(tags) & set(hit["_tags"])]
        for condition in filter(None, (request.param("numericFilters") or "").split(",")):
            name, op, value = re.fullmatch(r"(\w+)(>=|<=|>|<|=)(\d+)", condition).groups()
            compare = {">=": int.__ge__, "<=": int.__le__, ">": int.__gt__, "<": int.__lt__, "=": int.__eq__}[op]
            matching = [hit for hit in matching if compare(hit[name], int(value))]
        matching.sort(key=lambda hit: hit["created_at_i"], reverse=True)
        shown = matching[: self.pagination_limit]
        return Reply.json(
            {
                "hits": shown[page * per_page : (page + 1) * per_page],
                "nbHits": len(matching),
                "page": page,
                "nbPages": math.ceil(len(shown) / per_page),
                "hitsPerPage": per_page,
                "exhaustiveNbHits": True,
                "query": request.param("query"),
                "params": "advancedSyntax=true&analytics=true",
                "processingTimeMS": 1,
            }
        )


@pytest.fixture
def service():
    with FakeService() as service:
        yield service


def open_session(**overrides: object) -> tuple[HttpSession, HostLimiter]:
    settings = Settings(**{"monitor_allowed_networks": ["127.0.0.1/32"], "monitor_timeout_seconds": 2.0, **overrides})
    limiter = HostLimiter(settings)
    return HttpSession(settings, limiter), limiter


def fetch(service: FakeService, cursor: dict | None = None, limits: Limits | None = None, **params: str):
    session, _ = open_session()
    with session:
        params = {"query": "widget", "base_url": service.url, **params}
        return HackerNewsConnector().fetch(session, params, cursor or {}, limits or Limits())


def ids(result) -> list[str]:
    return [item.external_id for item in result.items]


def test_the_connector_is_registered_and_validates_its_params():
    connector = CONNECTORS.create("connector.hackernews.v1")
    assert connector.validate({"query": " widget "}) == {
        "query": "widget",
        "tags": "story",
        "base_url": "https://hn.algolia.com",
    }
    assert connector.validate({"query": "x", "tags": "story, comment"})["tags"] == "(story,comment)"
    with pytest.raises(FieldError, match="query"):
        connector.validate({"query": " "})
    with pytest.raises(FieldError, match="tags"):
        connector.validate({"query": "x", "tags": "job"})
    with pytest.raises(FieldError, match="base_url"):
        connector.validate({"query": "x", "base_url": "ftp://mirror"})


def test_a_first_run_pages_through_every_hit_and_returns_them_oldest_first(service):
    service.route(PATH, AlgoliaIndex([story(n, T0 + n * 60) for n in range(1, 6)], max_per_page=2))
    result = fetch(service)
    assert ids(result) == ["1", "2", "3", "4", "5"] and not result.partial
    assert result.cursor == {"created_at_i": T0 + 300, "ids": ["5"]}
    asked = service.requests
    assert [r.param("page") for r in asked] == ["0", "1", "2"]  # nbPages was 3
    assert asked[0].param("query") == "widget" and asked[0].param("tags") == "story"
    assert asked[0].param("hitsPerPage") == "100"
    assert asked[0].param("numericFilters") is None  # a first run has no lower bound


def test_the_next_run_asks_only_for_what_is_newer_than_the_cursor(service):
    index = AlgoliaIndex([story(n, T0 + n * 60) for n in range(1, 4)], max_per_page=2)
    service.route(PATH, index)
    first = fetch(service)
    index.hits += [story(n, T0 + n * 60) for n in range(4, 8)]
    second = fetch(service, first.cursor)
    assert ids(second) == ["4", "5", "6", "7"] and second.cursor == {"created_at_i": T0 + 420, "ids": ["7"]}
    assert {r.param("numericFilters") for r in service.requests[-2:]} == {f"created_at_i>={T0 + 180}"}


def test_a_second_run_with_nothing_new_returns_nothing_and_keeps_the_cursor(service):
    service.route(PATH, AlgoliaIndex([story(1, T0), story(2, T0 + 10), story(3, T0 + 10)]))
    first = fetch(service)
    assert first.cursor == {"created_at_i": T0 + 10, "ids": ["2", "3"]}
    second = fetch(service, first.cursor)
    assert second.items == [] and second.cursor == first.cursor and not second.partial
    assert service.requests[-1].param("numericFilters") == f"created_at_i>={T0 + 10}"


def test_a_post_in_the_same_second_as_the_cursor_is_still_taken(service):
    index = AlgoliaIndex([story(1, T0), story(2, T0 + 10)])
    service.route(PATH, index)
    first = fetch(service)
    index.hits += [story(3, T0 + 10), story(4, T0 + 20)]  # 3 was indexed late, in the cursor's second
    second = fetch(service, first.cursor)
    assert ids(second) == ["3", "4"] and second.cursor == {"created_at_i": T0 + 20, "ids": ["4"]}


def test_max_items_stops_a_run_and_the_backlog_is_read_before_anything_newer(service):
    index = AlgoliaIndex([story(n, T0 + n * 60) for n in range(1, 11)])
    service.route(PATH, index)
    first = fetch(service, limits=Limits(max_items=4))
    assert ids(first) == ["7", "8", "9", "10"] and first.partial
    assert first.cursor == {
        "created_at_i": T0 + 600,
        "ids": ["10"],
        "backlog": {"after": None, "after_ids": [], "until": T0 + 420, "until_ids": ["7"]},
    }
    index.hits.append(story(11, T0 + 700))  # arrives meanwhile: waits until the backlog is read
    second = fetch(service, first.cursor, Limits(max_items=4))
    assert ids(second) == ["3", "4", "5", "6"] and second.partial
    assert service.requests[-1].param("numericFilters") == f"created_at_i<={T0 + 420}"
    third = fetch(service, second.cursor, Limits(max_items=4))
    assert ids(third) == ["1", "2", "11"] and not third.partial
    assert third.cursor == {"created_at_i": T0 + 700, "ids": ["11"]}
    assert fetch(service, third.cursor).items == []


def test_max_pages_stops_a_run_and_the_next_runs_take_the_rest(service):
    service.route(PATH, AlgoliaIndex([story(n, T0 + n) for n in range(1, 10)], max_per_page=2))
    first = fetch(service, limits=Limits(max_pages=2))
    assert ids(first) == ["6", "7", "8", "9"] and first.partial and len(service.requests) == 2
    taken, cursor = ids(first), first.cursor
    while True:
        result = fetch(service, cursor, Limits(max_pages=2))
        taken, cursor = taken + ids(result), result.cursor
        if not result.partial:
            break
    assert sorted(taken, key=int) == [str(n) for n in range(1, 10)] and len(taken) == 9
    assert cursor == {"created_at_i": T0 + 9, "ids": ["9"]}


def test_a_search_over_the_pagination_limit_searches_again_below_the_oldest_hit(service):
    # hn.algolia.com lists the first 1000 hits of a search; here 4, two a page.
    service.route(PATH, AlgoliaIndex([story(n, T0 + n) for n in range(1, 13)], pagination_limit=4, max_per_page=2))
    result = fetch(service)
    assert ids(result) == [str(n) for n in range(1, 13)] and not result.partial
    assert service.requests[2].param("numericFilters") == f"created_at_i<={T0 + 9}"


def test_a_failure_after_a_page_returns_that_page_and_a_cursor_that_does_not_skip(service):
    index = AlgoliaIndex([story(n, T0 + n) for n in range(1, 5)], max_per_page=2)
    service.route(PATH, index, Reply.json({"message": "Internal error"}, status=500), index)
    result = fetch(service)
    assert ids(result) == ["3", "4"] and result.partial
    assert result.cursor["backlog"] == {"after": None, "after_ids": [], "until": T0 + 3, "until_ids": ["3"]}
    rest = fetch(service, result.cursor)
    assert ids(rest) == ["1", "2"] and not rest.partial and rest.cursor == {"created_at_i": T0 + 4, "ids": ["4"]}


def test_a_rate_limit_after_a_page_returns_that_page(service):
    index = AlgoliaIndex([story(n, T0 + n) for n in range(1, 5)], max_per_page=2)
    service.route(PATH, index, Reply.json({"message": "slow down"}, status=429, headers={"Retry-After": "60"}))
    result = fetch(service)
    assert ids(result) == ["3", "4"] and result.partial


def test_a_failure_on_the_first_page_raises(service):
    service.route(PATH, Reply.json({"message": "Internal error"}, status=500))
    with pytest.raises(SourceError, match="answered 500"):
        fetch(service)


def test_comments_read_as_text_with_entities_decoded_and_links_kept(service):
    text = (
        'I&#x27;d pay for this &amp; more.<p>See <a href="https:&#x2F;&#x2F;example.com&#x2F;bench" '
        'rel="nofollow">https:&#x2F;&#x2F;example.com&#x2F;bench</a>'
    )
    service.route(PATH, AlgoliaIndex([comment(7, T0, text)]))
    [item] = fetch(service, tags="comment").items
    assert item.text == "I'd pay for this & more.\n\nSee https://example.com/bench"
    assert item.url == "https://news.ycombinator.com/item?id=7" and item.author == "user7"
    assert item.published_at == datetime(2024, 1, 1, tzinfo=UTC) and item.title is None


def test_an_ask_hn_story_reads_as_title_and_text():
    item = parse_hit(story(1, T0, title="Ask HN: Is Widget good?", story_text="I&#x27;m <i>curious</i>")).entry
    assert item.text == "Ask HN: Is Widget good?\n\nI'm curious"


def test_hits_without_id_or_text_are_rejected_and_the_rest_kept(service):
    no_id = story(1, T0 + 1)
    del no_id["objectID"]
    dead = comment(2, T0 + 2, "")
    dead["comment_text"] = None
    service.route(PATH, AlgoliaIndex([no_id, dead, story(3, T0 + 3)]))
    result = fetch(service, tags="(story,comment)")
    assert ids(result) == ["3"]
    assert sorted(r.reason for r in result.rejected) == [
        "the hit has no objectID",
        "the hit has no title and no text (deleted or dead)",
    ]


def test_a_rate_limit_blocks_the_host(service):
    service.route(PATH, Reply.json({"message": "Too many requests"}, status=429, headers={"Retry-After": "90"}))
    session, limiter = open_session()
    with session, pytest.raises(SourceRateLimited) as caught:
        HackerNewsConnector().fetch(session, {"query": "x", "base_url": service.url}, {}, Limits())
    assert caught.value.retry_after == 90 and limiter.waiting("127.0.0.1") > 85


def test_refused_credentials_are_an_auth_error(service):
    service.route(PATH, Reply.json({"message": "Invalid Application-ID or API key", "status": 401}, status=401))
    with pytest.raises(SourceAuthError):
        fetch(service)


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b'{"nohits": true}', b'{"hits": 5}', b"[1, 2]"])
def test_a_malformed_body_is_a_source_error(service, body):
    service.route(PATH, Reply(body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(SourceError):
        fetch(service)


def test_a_timeout_is_a_source_error(service):
    service.route(PATH, Reply.json({"hits": []}, delay=3.0))
    session, _ = open_session(monitor_timeout_seconds=0.3)
    with session, pytest.raises(SourceError, match="did not answer"):
        HackerNewsConnector().fetch(session, {"query": "x", "base_url": service.url}, {}, Limits())


@pytest.mark.parametrize("target", ["http://10.1.2.3/api/v1/search_by_date", "http://169.254.169.254/"])
def test_a_redirect_to_an_internal_address_is_blocked(service, target):
    service.route(PATH, Reply.redirect(target))
    with pytest.raises(BlockedAddress):
        fetch(service)


def test_a_server_that_repeats_the_same_page_does_not_hold_the_run(service):
    same = Reply.json({"hits": [story(1, T0 + 1), story(2, T0 + 2)], "nbHits": 100_000, "nbPages": 1000, "page": 0})
    service.route(PATH, same)
    result = fetch(service)
    assert ids(result) == ["1", "2"] and len(service.requests) == 2
