"""The RSS/Atom connector against a local feed server: conditional requests, only unseen entries, readable
text, and the session's errors (rate limits, credentials, timeouts, internal redirects) passed on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opinara.config import Settings
from opinara.errors import FieldError
from opinara.monitors.connectors.base import (
    CONNECTORS,
    Item,
    Limits,
    Rejected,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
)
from opinara.monitors.connectors.rss import SEEN_MAX, RssConnector, take_new
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.http import BlockedAddress, HttpSession
from tests.monitors.fake_services import FakeService, Reply, Request

RSS_TYPE = "application/rss+xml; charset=utf-8"
ETAG = '"v1"'
MODIFIED = "Wed, 03 Jan 2024 10:00:00 GMT"


def rss_item(guid: str, title: str, day: int, description: str = "") -> str:
    return (
        f"<item><title>{title}</title><link>https://blog.example.com/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid><dc:creator>alice</dc:creator>'
        f"<pubDate>{day:02d} Jan 2024 10:00:00 GMT</pubDate><description>{description}</description></item>"
    )


def rss(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        "<title>Reviews</title><link>https://blog.example.com/</link><description>All reviews</description>"
        + "".join(items)
        + "</channel></rss>"
    )


FEED = rss(  # newest first, as feeds are
    rss_item("post-3", "Third", 3, "&lt;p&gt;Battery &amp;amp; screen&lt;/p&gt;"),
    rss_item(
        "post-2",
        "Fish &amp; chips",
        2,
        '&lt;p&gt;Loved &lt;a href="https://shop.example.com/x"&gt;this shop&lt;/a&gt;&lt;br&gt;really&lt;/p&gt;',
    ),
    rss_item("post-1", "First", 1, "Plain words"),
)


def conditional(feed: str, etag: str = ETAG, modified: str = MODIFIED):
    """A feed server that honours If-None-Match, as most do."""

    def answer(request: Request) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(status=304, headers={"ETag": etag})
        return Reply.text(feed, RSS_TYPE, headers={"ETag": etag, "Last-Modified": modified})

    return answer


@pytest.fixture
def service():
    with FakeService() as service:
        yield service


def open_session(**overrides: object) -> tuple[HttpSession, HostLimiter]:
    settings = Settings(**{"monitor_allowed_networks": ["127.0.0.1/32"], "monitor_timeout_seconds": 2.0, **overrides})
    limiter = HostLimiter(settings)
    return HttpSession(settings, limiter), limiter


def fetch(service: FakeService, cursor: dict | None = None, limits: Limits | None = None, **overrides: object):
    session, _ = open_session(**overrides)
    with session:
        return RssConnector().fetch(session, {"url": service.url + "/feed.xml"}, cursor or {}, limits or Limits())


def test_the_connector_is_registered_under_its_versioned_name():
    connector = CONNECTORS.create("connector.rss.v1")
    assert connector.name == "connector.rss.v1" and connector.secret_params == frozenset()


def test_validate_wants_an_http_url_and_ignores_base_url():
    connector = RssConnector()
    assert connector.validate({"url": " https://blog.example.com/feed ", "base_url": "https://x"}) == {
        "url": "https://blog.example.com/feed"
    }
    for bad in ({}, {"url": "file:///etc/passwd"}, {"url": "blog.example.com/feed"}):
        with pytest.raises(FieldError, match="url"):
            connector.validate(bad)


def test_a_first_run_takes_every_entry_oldest_first_as_readable_text(service):
    service.route("/feed.xml", conditional(FEED))
    result = fetch(service)
    assert [item.external_id for item in result.items] == ["post-1", "post-2", "post-3"]
    first, second, third = result.items
    assert second.text == "Fish & chips\n\nLoved this shop (https://shop.example.com/x)\nreally"
    assert second.title == "Fish & chips" and second.url == "https://blog.example.com/post-2"
    assert third.text == "Third\n\nBattery & screen"
    assert first.author == "alice"
    assert first.published_at == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert not result.partial and result.rejected == []
    assert result.cursor == {"seen": ["post-3", "post-2", "post-1"], "etag": ETAG, "last_modified": MODIFIED}


def test_an_atom_feed_reads_the_same_way(service):
    atom = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom reviews</title><id>urn:uuid:feed</id>
<updated>2024-01-02T10:00:00Z</updated>
<entry><title type="html">Caf&amp;eacute; review</title><id>tag:example.com,2024:2</id>
<link href="/reviews/2"/><updated>2024-01-02T12:00:00+02:00</updated><author><name>bob</name></author>
<content type="html">&lt;p&gt;Good &lt;b&gt;coffee&lt;/b&gt; &amp;amp; cake&lt;/p&gt;</content></entry>
</feed>"""
    service.route("/feed.xml", Reply.text(atom, "application/atom+xml"))
    [item] = fetch(service).items
    assert item.external_id == "tag:example.com,2024:2"
    assert item.text == "Café review\n\nGood coffee & cake"
    assert item.url == service.url + "/reviews/2"  # relative links resolve against the feed's address
    assert item.author == "bob" and item.published_at == datetime(2024, 1, 2, 10, tzinfo=UTC)


def test_a_second_run_asks_conditionally_and_a_304_changes_nothing(service):
    service.route("/feed.xml", conditional(FEED))
    first = fetch(service)
    second = fetch(service, first.cursor)
    assert second.items == [] and second.cursor == first.cursor and not second.partial
    asked = service.requests[-1]
    assert asked.headers["if-none-match"] == ETAG and asked.headers["if-modified-since"] == MODIFIED


def test_a_feed_that_ignores_conditionals_yields_only_unseen_entries(service):
    service.route("/feed.xml", Reply.text(FEED, RSS_TYPE))
    first = fetch(service)
    assert fetch(service, first.cursor).items == []
    service.route("/feed.xml", Reply.text(FEED.replace("<item>", rss_item("post-4", "Fourth", 4) + "<item>", 1)))
    third = fetch(service, first.cursor)
    assert [item.external_id for item in third.items] == ["post-4"]
    assert third.cursor["seen"][:2] == ["post-4", "post-3"]


def test_entries_without_id_or_text_are_rejected_and_the_rest_kept(service):
    no_id = "<item><title>No id anywhere</title><description>text</description></item>"
    no_text = '<item><guid isPermaLink="false">post-9</guid></item>'
    service.route("/feed.xml", Reply.text(rss(no_id, rss_item("post-1", "Kept", 1), no_text), RSS_TYPE))
    result = fetch(service)
    assert [item.external_id for item in result.items] == ["post-1"]
    assert sorted(rejected.reason for rejected in result.rejected) == [
        "the entry has no id (guid) and no link",
        "the entry has no title and no text",
    ]
    again = fetch(service, result.cursor)  # a rejected entry with an id is reported once
    assert again.items == [] and [r.reason for r in again.rejected] == ["the entry has no id (guid) and no link"]


def test_max_items_stops_a_run_that_the_next_run_continues(service):
    service.route("/feed.xml", conditional(FEED))
    first = fetch(service, limits=Limits(max_items=2))
    assert [item.external_id for item in first.items] == ["post-1", "post-2"] and first.partial
    assert "etag" not in first.cursor  # a 304 next time would lose post-3
    second = fetch(service, first.cursor, Limits(max_items=2))
    assert [item.external_id for item in second.items] == ["post-3"] and not second.partial
    assert second.cursor["etag"] == ETAG
    assert fetch(service, second.cursor).items == []


def test_the_seen_ids_are_bounded_but_keep_everything_still_in_the_feed():
    def entry(n: int) -> tuple[str, Item]:
        return f"id-{n}", Item(external_id=f"id-{n}", text=f"post {n}")

    cursor: dict = {}
    for start in range(0, 1200, 300):  # a feed of 300 entries that moves on by 300 each time
        result = take_new([entry(n) for n in range(start + 299, start - 1, -1)], cursor, Limits(max_items=1000))
        assert len(result.items) == 300
        cursor = result.cursor
    assert len(cursor["seen"]) == SEEN_MAX and cursor["seen"][0] == "id-1199"
    big = [entry(n) for n in range(700, 0, -1)]
    assert len(take_new(big, {}, Limits(max_items=1000)).cursor["seen"]) == 700


def test_a_body_that_names_a_local_file_is_not_read_as_one(service, tmp_path):
    # feedparser given bytes tries them as a file name first; the connector hands it a stream.
    secret = tmp_path / "feed.xml"
    secret.write_text(FEED)
    service.route("/feed.xml", Reply.text(str(secret), RSS_TYPE))
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        fetch(service)


@pytest.mark.parametrize("body", ["<html><body><p>Not a feed</p></body></html>", '{"items": []}', "<rss><chan"])
def test_a_malformed_body_is_a_source_error(service, body):
    service.route("/feed.xml", Reply.text(body, RSS_TYPE))
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        fetch(service)


def test_a_rate_limit_blocks_the_host(service):
    service.route("/feed.xml", Reply.text("slow down", status=429, headers={"Retry-After": "300"}))
    session, limiter = open_session()
    with session, pytest.raises(SourceRateLimited) as caught:
        RssConnector().fetch(session, {"url": service.url + "/feed.xml"}, {}, Limits())
    assert caught.value.retry_after == 300 and limiter.waiting("127.0.0.1") > 295


def test_refused_credentials_are_an_auth_error(service):
    service.route("/feed.xml", Reply.text("who are you", status=401))
    with pytest.raises(SourceAuthError):
        fetch(service)


def test_a_server_error_is_a_source_error(service):
    service.route("/feed.xml", Reply.text("oops", status=503))
    with pytest.raises(SourceError, match="answered 503"):
        fetch(service)


def test_a_timeout_is_a_source_error(service):
    service.route("/feed.xml", Reply.text(FEED, RSS_TYPE, delay=3.0))
    with pytest.raises(SourceError, match="did not answer"):
        fetch(service, monitor_timeout_seconds=0.3)


@pytest.mark.parametrize("target", ["http://10.1.2.3/feed", "http://169.254.169.254/latest/meta-data/"])
def test_a_redirect_to_an_internal_address_is_blocked(service, target):
    service.route("/feed.xml", Reply.redirect(target))
    with pytest.raises(BlockedAddress):
        fetch(service)


def test_rejected_entries_say_why():
    result = take_new([(None, Rejected("the entry has no id (guid) and no link", "x"))], {}, Limits())
    assert result.items == [] and result.rejected[0].excerpt == "x" and result.cursor == {"seen": []}


def test_an_empty_feed_is_not_an_error(service):
    service.route("/feed.xml", Reply.text(rss(), RSS_TYPE, headers={"ETag": ETAG}))
    result = fetch(service)
    assert result.items == [] and result.cursor == {"seen": [], "etag": ETAG}
