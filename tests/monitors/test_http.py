"""The connectors' HTTP session against a real local server: internal addresses refused before connecting,
answers capped in size and time, the service's "slow down" respected for every monitor, and no URL (whose
query may hold an API key) in any message."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from opinara.config import Settings
from opinara.monitors.connectors.base import SourceAuthError, SourceError, SourceRateLimited
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.http import BlockedAddress, HttpSession, NetworkPolicy, retry_after
from tests.monitors.fake_services import FakeService, Reply

LOCAL = ["127.0.0.1/32"]
SECRET = "SECRET-KEY-123"


@pytest.fixture
def service():
    with FakeService() as service:
        yield service


def open_session(**overrides: object) -> tuple[HttpSession, HostLimiter]:
    settings = Settings(**{"monitor_allowed_networks": LOCAL, "monitor_timeout_seconds": 2.0, **overrides})
    limiter = HostLimiter(settings)
    return HttpSession(settings, limiter), limiter


def messages(error: BaseException) -> str:
    """The error's message and those of every error chained to it (what a logged traceback would show)."""
    seen: list[str] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 10:
        seen.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


# The guard


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.5",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.100.100.200",  # shared address space, another cloud's metadata
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped IPv6
        "::ffff:10.1.2.3",
        "64:ff9b::a01:203",  # NAT64 of 10.1.2.3
        "fe80::1%eth0",
    ],
)
def test_internal_addresses_are_refused_by_default(address):
    assert not NetworkPolicy().permits(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"])
def test_public_addresses_are_reachable(address):
    assert NetworkPolicy().permits(address)


def test_allowed_networks_open_exactly_those_addresses():
    policy = NetworkPolicy.from_settings(Settings(monitor_allowed_networks=["127.0.0.1/32", "10.9.0.0/16"]))
    assert policy.permits("127.0.0.1") and policy.permits("::ffff:127.0.0.1") and policy.permits("10.9.8.7")
    assert not policy.permits("127.0.0.2") and not policy.permits("10.8.0.1")


def test_allow_private_opens_every_address():
    assert NetworkPolicy.from_settings(Settings(monitor_allow_private=True)).permits("169.254.169.254")


def test_a_local_server_is_refused_without_an_allowed_network(service):
    service.route("/feed", Reply.text("hello"))
    session, _ = open_session(monitor_allowed_networks=[])
    with session, pytest.raises(BlockedAddress, match="internal address"):
        session.get(service.url + "/feed")
    assert service.requests == []


def test_a_name_is_checked_by_the_address_it_resolves_to(service):
    port = service.url.rsplit(":", 1)[1]
    session, _ = open_session(monitor_allowed_networks=[])
    with session, pytest.raises(BlockedAddress):
        session.get(f"http://localhost:{port}/feed")
    assert service.requests == []


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/admin"])
def test_a_redirect_to_an_internal_address_is_refused_before_connecting(service, target):
    service.route("/feed", Reply.redirect(target))
    session, _ = open_session(monitor_timeout_seconds=30.0)  # a connection attempt would hang, not fail
    started = time.monotonic()
    with session, pytest.raises(BlockedAddress):
        session.get(service.url + "/feed")
    assert time.monotonic() - started < 5
    assert len(service.requests) == 1


def test_an_allowed_server_answers(service):
    service.route("/api", Reply.json({"ok": True}))
    session, _ = open_session()
    with session:
        page = session.get(service.url + "/api", params={"q": "phone"}, headers={"X-Test": "1"})
    assert page.status == 200 and page.json() == {"ok": True}
    assert session.calls == 1
    sent = service.requests[0]
    assert sent.param("q") == "phone" and sent.headers["x-test"] == "1"
    assert sent.headers["user-agent"].startswith("Opinara/")


def test_too_many_redirects_is_a_source_error(service):
    service.route("/loop", Reply.redirect("/loop"))
    session, _ = open_session()
    with session, pytest.raises(SourceError, match="redirected more than"):
        session.get(service.url + "/loop")


# Size and time


def test_an_answer_declared_over_the_cap_is_refused(service):
    service.route("/big", Reply(body=b"x" * 5000))
    session, _ = open_session(monitor_max_response_bytes=1024)
    with session, pytest.raises(SourceError, match="limit is 1024"):
        session.get(service.url + "/big")


def test_an_answer_without_a_length_is_cut_at_the_cap(service):
    service.route("/big", Reply(body=b"x" * 50_000, declare_length=False))
    session, _ = open_session(monitor_max_response_bytes=1024)
    with session, pytest.raises(SourceError, match="more than 1024 bytes"):
        session.get(service.url + "/big")


def test_a_server_that_does_not_answer_in_time_is_a_source_error(service):
    service.route("/slow", Reply.json({}, delay=3.0))
    session, _ = open_session(monitor_timeout_seconds=0.3)
    started = time.monotonic()
    with session, pytest.raises(SourceError, match=r"did not answer within 0\.3 s"):
        session.get(service.url + "/slow")
    assert time.monotonic() - started < 2


def test_a_server_trickling_its_answer_is_cut_off(service):
    # Each byte comes within the read timeout, so only a bound on the whole answer stops it.
    service.route("/trickle", Reply(body=b"x" * 100, chunk_delay=0.1))
    session, _ = open_session(monitor_timeout_seconds=0.3)
    started = time.monotonic()
    with session, pytest.raises(SourceError, match="did not finish"):
        session.get(service.url + "/trickle")
    assert time.monotonic() - started < 3


# Slowing down


def test_retry_after_in_seconds_blocks_the_host_for_everyone(service):
    service.route("/api", Reply.json({"error": "slow down"}, status=429, headers={"Retry-After": "120"}))
    session, limiter = open_session()
    with session, pytest.raises(SourceRateLimited) as caught:
        session.get(service.url + "/api")
    assert caught.value.retry_after == 120
    assert 115 < limiter.waiting("127.0.0.1") <= 120
    with session, pytest.raises(SourceRateLimited):
        session.get(service.url + "/api")  # refused here: the server is not asked again
    assert len(service.requests) == 1


def test_retry_after_as_an_http_date():
    moment = datetime.now(UTC) + timedelta(seconds=90)
    import httpx

    wait = retry_after(httpx.Headers({"Retry-After": format_datetime(moment, usegmt=True)}))
    assert wait is not None and 85 < wait <= 90


def test_retry_after_as_an_http_date_from_a_server(service):
    moment = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    service.route("/api", Reply(status=429, headers={"Retry-After": moment}))
    session, limiter = open_session()
    with session, pytest.raises(SourceRateLimited) as caught:
        session.get(service.url + "/api")
    assert caught.value.retry_after is not None and 590 < caught.value.retry_after <= 600
    assert limiter.waiting("127.0.0.1") > 590


def test_an_exhausted_rate_limit_with_a_reset_blocks_the_host_after_this_answer(service):
    service.route("/api", Reply.json({"ok": True}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}))
    session, limiter = open_session()
    with session:
        assert session.get(service.url + "/api").json() == {"ok": True}  # this answer still counts
        assert 25 < limiter.waiting("127.0.0.1") <= 30
        with pytest.raises(SourceRateLimited):
            session.get(service.url + "/api")
    assert len(service.requests) == 1


def test_an_exhausted_rate_limit_with_an_iso_reset_time(service):
    reset = (datetime.now(UTC) + timedelta(seconds=300)).isoformat().replace("+00:00", "Z")
    service.route("/api", Reply.json([], headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}))
    session, limiter = open_session()
    with session:
        session.get(service.url + "/api")
    assert 290 < limiter.waiting("127.0.0.1") <= 300


def google_error(status: int, reason: str, message: str) -> Reply:
    """The error body Google APIs (YouTube Data API v3) send."""
    error = {"code": status, "message": message, "errors": [{"message": message, "domain": "x", "reason": reason}]}
    return Reply.json({"error": error}, status=status)


QUOTA = 'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.'


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (google_error(403, "quotaExceeded", QUOTA), SourceRateLimited),
        (google_error(403, "rateLimitExceeded", "Rate Limit Exceeded"), SourceRateLimited),
        (google_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded"), SourceRateLimited),
        (Reply.json({"message": "API rate limit exceeded"}, status=403, headers={"X-RateLimit-Remaining": "0"}),
         SourceRateLimited),
        (google_error(403, "forbidden", "Access forbidden."), SourceAuthError),
        (google_error(400, "keyInvalid", "Bad Request"), SourceAuthError),
        (google_error(400, "badRequest", "API key not valid. Please pass a valid API key."), SourceError),
        (Reply.json({"error": "invalid_token"}, status=401), SourceAuthError),
        (Reply.json({"error": "boom"}, status=500), SourceError),
    ],
)  # fmt: skip
def test_error_answers_say_what_to_do(service, reply, error):
    service.route("/api", reply)
    session, _ = open_session()
    with session, pytest.raises(SourceError) as caught:
        session.get(service.url + "/api")
    assert type(caught.value) is error


def test_google_api_key_invalid_in_the_details_is_an_auth_error(service):
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    service.route("/api", Reply(status=400, body=json.dumps(body).encode()))
    session, _ = open_session()
    with session, pytest.raises(SourceAuthError):
        session.get(service.url + "/api")


def test_a_malformed_json_body_is_a_source_error(service):
    service.route("/api", Reply.text("<html>oops</html>", "application/json"))
    session, _ = open_session()
    with session:
        page = session.get(service.url + "/api")
    with pytest.raises(SourceError, match="malformed JSON"):
        page.json()


# Messages


@pytest.mark.parametrize(
    ("reply", "overrides"),
    [
        (Reply.json({}, status=500), {}),
        (Reply.json({}, status=401), {}),
        (Reply.json({}, status=429, headers={"Retry-After": "5"}), {}),
        (Reply.json({}, delay=2.0), {"monitor_timeout_seconds": 0.3}),
        (Reply(body=b"x" * 5000), {"monitor_max_response_bytes": 1024}),
        (Reply.redirect("http://169.254.169.254/?key=" + SECRET), {}),
        (Reply.redirect("/api?key=" + SECRET), {}),
    ],
)
def test_no_message_holds_the_query(service, reply, overrides):
    service.route("/api", reply)
    session, _ = open_session(**overrides)
    with session, pytest.raises(SourceError) as caught:
        session.get(service.url + "/api", params={"key": SECRET})
    assert SECRET not in str(caught.value)
    assert SECRET not in messages(caught.value)


def test_an_unreachable_host_names_only_the_host(service):
    session, _ = open_session(monitor_timeout_seconds=0.5)
    port = service.url.rsplit(":", 1)[1]
    service.close()  # nothing listens there any more
    with session, pytest.raises(SourceError) as caught:
        session.get(f"http://127.0.0.1:{port}/api?key={SECRET}")
    assert "127.0.0.1" in str(caught.value) and SECRET not in messages(caught.value)
