"""The YouTube connector against a local server that answers like the YouTube Data API v3
(``/youtube/v3/commentThreads``): newest first, opaque page tokens, an API key in the query, and Google's
error bodies (``quotaExceeded``, ``keyInvalid``, ``forbidden``)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

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
from opinara.monitors.connectors.youtube import YouTubeConnector, parse_thread
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.http import BlockedAddress, HttpSession
from tests.monitors.fake_services import FakeService, Reply, Request

PATH = "/youtube/v3/commentThreads"
KEY = "AIzaSyFAKE-SECRET-KEY"
VIDEO = "dQw4w9WgXcQ"
CHANNEL = "UCuAXFkgsw1L7xaCfnd5JJOw"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def stamp(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def thread(n: int, minutes: int, text: str | None = None, video: str = VIDEO) -> dict[str, object]:
    """A commentThread resource as the API returns it with ``part=snippet``."""
    comment_id = f"Ugz{n:04d}AaBbCc"
    display = text if text is not None else f"Comment {n} &amp; more"
    return {
        "kind": "youtube#commentThread",
        "etag": f"etag-{n}",
        "id": comment_id,
        "snippet": {
            "channelId": CHANNEL,
            "videoId": video,
            "topLevelComment": {
                "kind": "youtube#comment",
                "etag": f"etag-c-{n}",
                "id": comment_id,
                "snippet": {
                    "channelId": CHANNEL,
                    "videoId": video,
                    "textDisplay": display,
                    "textOriginal": f"Comment {n} & more" if text is None else "",
                    "authorDisplayName": f"@viewer{n}",
                    "authorProfileImageUrl": "https://yt3.ggpht.com/a/default-user",
                    "authorChannelUrl": f"http://www.youtube.com/@viewer{n}",
                    "authorChannelId": {"value": f"UCviewer{n:04d}"},
                    "canRate": True,
                    "viewerRating": "none",
                    "likeCount": n,
                    "publishedAt": stamp(minutes),
                    "updatedAt": stamp(minutes),
                },
            },
            "canReply": True,
            "totalReplyCount": 0,
            "isPublic": True,
        },
    }


def ids(result) -> list[str]:
    return [item.external_id.removeprefix("Ugz").removesuffix("AaBbCc").lstrip("0") for item in result.items]


def google_error(status: int, reason: str, message: str, domain: str = "youtube.parameter") -> Reply:
    error = {"code": status, "message": message, "errors": [{"message": message, "domain": domain, "reason": reason}]}
    return Reply.json({"error": error}, status=status)


class CommentThreadsApi:
    """Answers ``commentThreads.list`` over a list of threads the way the YouTube Data API does."""

    def __init__(self, threads: list[dict], max_per_page: int = 100) -> None:
        self.threads = threads
        self.max_per_page = max_per_page  # the real one allows 100; a smaller one makes pages in tests

    def __call__(self, request: Request) -> Reply:
        if request.param("key") != KEY:
            return google_error(400, "keyInvalid", "Bad Request", "usageLimits")
        if request.param("part") != "snippet" or request.param("order") != "time":
            return google_error(400, "invalidParameter", "bad part or order")
        video, channel = request.param("videoId"), request.param("allThreadsRelatedToChannelId")
        if bool(video) == bool(channel):
            return google_error(400, "missingRequiredParameter", "No filter selected.")
        chosen = [t for t in self.threads if (t["snippet"]["videoId"] == video if video else True)]
        chosen.sort(key=lambda t: t["snippet"]["topLevelComment"]["snippet"]["publishedAt"], reverse=True)
        per_page = min(int(request.param("maxResults") or 20), self.max_per_page)
        token = request.param("pageToken")
        start = int(base64.b64decode(token).decode().split(":")[1]) if token else 0
        page = chosen[start : start + per_page]
        answer: dict[str, object] = {
            "kind": "youtube#commentThreadListResponse",
            "etag": "list-etag",
            "pageInfo": {"totalResults": len(page), "resultsPerPage": per_page},
            "items": page,
        }
        if start + per_page < len(chosen):
            answer["nextPageToken"] = base64.b64encode(f"offset:{start + per_page}".encode()).decode()
        return Reply.json(answer)


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
        params = {"video_id": VIDEO, "api_key": KEY, "base_url": service.url, **params}
        return YouTubeConnector().fetch(session, params, cursor or {}, limits or Limits())


def test_the_connector_is_registered_and_validates_its_params():
    connector = CONNECTORS.create("connector.youtube.v1")
    assert connector.secret_params == frozenset({"api_key"})
    assert connector.validate({"video_id": VIDEO, "api_key": KEY}) == {
        "video_id": VIDEO,
        "api_key": KEY,
        "base_url": "https://www.googleapis.com",
    }
    for bad, field in [
        ({"api_key": KEY}, "video_id"),
        ({"video_id": VIDEO, "channel_id": CHANNEL, "api_key": KEY}, "video_id"),
        ({"video_id": VIDEO}, "api_key"),
        ({"channel_id": "UC/../x", "api_key": KEY}, "channel_id"),
        ({"video_id": VIDEO, "api_key": KEY, "base_url": "googleapis.com"}, "base_url"),
    ]:
        with pytest.raises(FieldError, match=field) as caught:
            connector.validate(bad)
        assert KEY not in str(caught.value)


def test_a_first_run_pages_through_every_comment_and_returns_them_oldest_first(service):
    service.route(PATH, CommentThreadsApi([thread(n, n) for n in range(1, 6)], max_per_page=2))
    result = fetch(service)
    assert ids(result) == ["1", "2", "3", "4", "5"] and not result.partial
    assert result.cursor == {"published_at": stamp(5), "ids": ["Ugz0005AaBbCc"]}
    first, *later = service.requests
    assert first.query == {
        "part": ["snippet"],
        "order": ["time"],
        "maxResults": ["100"],
        "textFormat": ["html"],
        "videoId": [VIDEO],
        "key": [KEY],
    }
    assert [r.param("pageToken") for r in later] == [
        base64.b64encode(b"offset:2").decode(),
        base64.b64encode(b"offset:4").decode(),
    ]


def test_comments_read_as_text_with_their_link_author_and_time(service):
    display = (
        'Great explanation &amp; it&#39;s clear<br>see <a href="https://www.youtube.com/watch?v=dQw4w9WgXcQ&amp;t=65">'
        '1:05</a> and <a href="https://example.com/notes">https://example.com/notes</a>'
    )
    service.route(PATH, CommentThreadsApi([thread(7, 30, display)]))
    [item] = fetch(service).items
    assert item.text == (
        "Great explanation & it's clear\nsee 1:05 (https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=65) and "
        "https://example.com/notes"
    )
    assert item.url == f"https://www.youtube.com/watch?v={VIDEO}&lc=Ugz0007AaBbCc"
    assert item.author == "UCviewer0007"
    assert item.published_at == T0 + timedelta(minutes=30)


def test_a_channel_monitor_asks_for_all_threads_related_to_the_channel(service):
    service.route(PATH, CommentThreadsApi([thread(1, 1, video="abcdefghijk"), thread(2, 2)]))
    result = fetch(service, video_id="", channel_id=CHANNEL)
    assert ids(result) == ["1", "2"]
    assert result.items[0].url == "https://www.youtube.com/watch?v=abcdefghijk&lc=Ugz0001AaBbCc"
    asked = service.requests[0]
    assert asked.param("allThreadsRelatedToChannelId") == CHANNEL and asked.param("videoId") is None


def test_a_second_run_with_nothing_new_reads_one_page_and_keeps_the_cursor(service):
    service.route(PATH, CommentThreadsApi([thread(n, n) for n in range(1, 6)], max_per_page=2))
    first = fetch(service)
    asked = len(service.requests)
    second = fetch(service, first.cursor)
    assert second.items == [] and second.cursor == first.cursor and not second.partial
    assert len(service.requests) == asked + 1  # the first page reached the cursor: no more quota spent


def test_a_later_run_takes_the_new_comments_and_stops_at_the_cursor(service):
    api = CommentThreadsApi([thread(n, n) for n in range(1, 6)], max_per_page=2)
    service.route(PATH, api)
    first = fetch(service)
    api.threads += [thread(6, 5), thread(7, 6), thread(8, 7)]  # 6 shares the cursor's instant
    asked = len(service.requests)
    second = fetch(service, first.cursor)
    assert sorted(ids(second)) == ["6", "7", "8"] and not second.partial
    assert second.cursor == {"published_at": stamp(7), "ids": ["Ugz0008AaBbCc"]}
    assert len(service.requests) == asked + 3  # down to the first older comment (4, on page 3 of 4), no further


def test_max_items_stops_a_run_and_the_backlog_is_read_before_anything_newer(service):
    api = CommentThreadsApi([thread(n, n) for n in range(1, 11)], max_per_page=3)
    service.route(PATH, api)
    first = fetch(service, limits=Limits(max_items=4))
    assert ids(first) == ["7", "8", "9", "10"] and first.partial
    backlog = first.cursor["backlog"]
    assert backlog["page_token"] == base64.b64encode(b"offset:3").decode()  # the page it stopped in
    assert backlog["until"] == stamp(7) and backlog["until_ids"] == ["Ugz0007AaBbCc"] and backlog["after"] is None
    api.threads.append(thread(11, 11))  # arrives meanwhile: waits until the backlog is read
    second = fetch(service, first.cursor, Limits(max_items=4))
    assert ids(second) == ["3", "4", "5", "6"] and second.partial
    third = fetch(service, second.cursor, Limits(max_items=4))
    assert ids(third) == ["1", "2", "11"] and not third.partial
    assert third.cursor == {"published_at": stamp(11), "ids": ["Ugz0011AaBbCc"]}
    assert fetch(service, third.cursor).items == []


def test_max_pages_stops_a_run_and_the_next_runs_take_the_rest(service):
    service.route(PATH, CommentThreadsApi([thread(n, n) for n in range(1, 10)], max_per_page=2))
    first = fetch(service, limits=Limits(max_pages=2))
    assert ids(first) == ["6", "7", "8", "9"] and first.partial and len(service.requests) == 2
    taken, cursor = ids(first), first.cursor
    for _ in range(10):
        result = fetch(service, cursor, Limits(max_pages=2))
        taken, cursor = taken + ids(result), result.cursor
        if not result.partial:
            break
    assert sorted(taken, key=int) == [str(n) for n in range(1, 10)] and len(taken) == 9
    assert cursor == {"published_at": stamp(9), "ids": ["Ugz0009AaBbCc"]}


def test_a_failure_after_a_page_returns_that_page_and_resumes_from_the_failed_token(service):
    api = CommentThreadsApi([thread(n, n) for n in range(1, 5)], max_per_page=2)
    service.route(PATH, api, Reply.json({"error": {"code": 503, "message": "Backend Error"}}, status=503), api)
    result = fetch(service)
    assert ids(result) == ["3", "4"] and result.partial
    assert result.cursor["backlog"]["page_token"] == base64.b64encode(b"offset:2").decode()
    rest = fetch(service, result.cursor)
    assert ids(rest) == ["1", "2"] and not rest.partial
    assert rest.cursor == {"published_at": stamp(4), "ids": ["Ugz0004AaBbCc"]}


def test_a_repeated_page_token_stops_the_run(service):
    looping = {"items": [thread(1, 1), thread(2, 2)], "nextPageToken": "SAME"}
    service.route(PATH, Reply.json(looping))
    result = fetch(service)
    assert sorted(ids(result)) == ["1", "2"] and len(service.requests) == 2


def test_threads_without_id_or_text_are_rejected_and_the_rest_kept(service):
    no_id = thread(1, 1)
    del no_id["id"], no_id["snippet"]["topLevelComment"]["id"]
    no_text = thread(2, 2, text="")
    service.route(PATH, CommentThreadsApi([no_id, no_text, thread(3, 3)]))
    result = fetch(service)
    assert ids(result) == ["3"]
    assert sorted(r.reason for r in result.rejected) == ["the comment has no text", "the thread has no id"]


def test_text_original_stands_in_when_the_display_text_is_empty():
    raw = thread(4, 4, text="")
    raw["snippet"]["topLevelComment"]["snippet"]["textOriginal"] = "typed by the author"
    assert parse_thread(raw).entry.text == "typed by the author"


@pytest.mark.parametrize(
    "reply",
    [
        google_error(403, "quotaExceeded", 'exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.',
                     "youtube.quota"),
        google_error(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
    ],
)  # fmt: skip
def test_a_used_up_quota_is_a_rate_limit_that_blocks_the_host(service, reply):
    service.route(PATH, reply)
    session, limiter = open_session()
    with session, pytest.raises(SourceRateLimited) as caught:
        YouTubeConnector().fetch(session, {"video_id": VIDEO, "api_key": KEY, "base_url": service.url}, {}, Limits())
    assert limiter.waiting("127.0.0.1") > 0 and KEY not in str(caught.value)


def test_a_429_with_retry_after_is_a_rate_limit(service):
    service.route(PATH, Reply.json({"error": {"code": 429}}, status=429, headers={"Retry-After": "45"}))
    session, limiter = open_session()
    with session, pytest.raises(SourceRateLimited) as caught:
        YouTubeConnector().fetch(session, {"video_id": VIDEO, "api_key": KEY, "base_url": service.url}, {}, Limits())
    assert caught.value.retry_after == 45 and limiter.waiting("127.0.0.1") > 40


@pytest.mark.parametrize(
    "reply",
    [
        google_error(400, "keyInvalid", "Bad Request", "usageLimits"),
        google_error(403, "forbidden", "Access forbidden. The request may not be properly authorized.", "global"),
        Reply.json({"error": {"code": 401, "message": "Login Required", "status": "UNAUTHENTICATED"}}, status=401),
    ],
)
def test_a_refused_key_is_an_auth_error_that_never_shows_the_key(service, reply):
    service.route(PATH, reply)
    with pytest.raises(SourceAuthError) as caught:
        fetch(service)
    assert KEY not in str(caught.value)


def test_a_wrong_key_against_the_fake_api_is_refused(service):
    service.route(PATH, CommentThreadsApi([thread(1, 1)]))
    with pytest.raises(SourceAuthError):
        fetch(service, api_key="AIzaWRONG")


def test_the_key_appears_in_no_result(service):
    service.route(PATH, CommentThreadsApi([thread(n, n) for n in range(1, 6)], max_per_page=2))
    result = fetch(service, limits=Limits(max_items=3))
    assert KEY not in repr(result)


@pytest.mark.parametrize("body", [b"<html>Bad gateway</html>", b'{"items": "none"}', b"[]"])
def test_a_malformed_body_is_a_source_error(service, body):
    service.route(PATH, Reply(body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(SourceError) as caught:
        fetch(service)
    assert KEY not in str(caught.value)


def test_a_timeout_is_a_source_error(service):
    service.route(PATH, Reply.json({"items": []}, delay=3.0))
    session, _ = open_session(monitor_timeout_seconds=0.3)
    with session, pytest.raises(SourceError, match="did not answer") as caught:
        YouTubeConnector().fetch(session, {"video_id": VIDEO, "api_key": KEY, "base_url": service.url}, {}, Limits())
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("target", ["http://10.1.2.3/youtube/v3/commentThreads", "http://169.254.169.254/"])
def test_a_redirect_to_an_internal_address_is_blocked(service, target):
    service.route(PATH, Reply.redirect(target))
    with pytest.raises(BlockedAddress) as caught:
        fetch(service)
    assert KEY not in str(caught.value)
