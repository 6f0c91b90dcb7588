"""Limits before work, on a real server: the caller is checked from the headers and the body is bounded by
the route before any byte of the body is read."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import psutil
import pytest

from opinara.config import Settings
from tests.api.server import RunningApi, running_api

MB = 1024 * 1024


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("limits"),
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=0,
        max_body_bytes=64 * 1024,
        max_upload_bytes=4 * MB,
    )
    with running_api(settings) as running:
        yield running


def _raw_request(url: str, head: str, body_chunks: Iterator[bytes], timeout: float = 5.0) -> tuple[float, bytes]:
    """Send ``head`` then as much of the body as the server takes; returns (seconds to the answer, answer)."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode())
        sock.setblocking(False)
        answer = b""
        for chunk in body_chunks:
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65536)
            if answer:
                break
            try:
                sock.sendall(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        while b"\r\n\r\n" not in answer:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    return time.monotonic() - started, answer


def _chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    block = b"a" * size
    for _ in range(total // size):
        yield block


def test_no_key_and_a_150_mb_multipart_body_is_refused_at_once_without_reading_it(api):
    rss = psutil.Process().memory_info().rss
    head = (
        "POST /v1/analyze HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {150 * MB}\r\n\r\n"
    )
    seconds, answer = _raw_request(api.url, head, _chunks(150 * MB))
    grown = psutil.Process().memory_info().rss - rss
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert seconds < 1.0, f"answered after {seconds:.2f}s"
    assert grown < 50 * MB, f"server memory grew by {grown / MB:.0f} MB"


def test_a_multipart_body_on_a_json_route_gets_the_json_limit_not_the_upload_limit(api):
    key = api.key("limits-json", "analyze")
    head = (
        f"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {MB}\r\n\r\n"
    )
    _, answer = _raw_request(api.url, head, _chunks(MB))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"65536 bytes" in answer or b"limit" in answer


def test_a_chunked_body_over_the_limit_is_413_not_400(api):
    key = api.key("limits-chunked", "analyze")
    with api.client(key) as client:
        response = client.post(
            "/v1/analyze",
            content=iter([b'{"text": "', b"x" * (70 * 1024), b'"}']),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413, response.text
    assert response.json()["limit"] == "body size"
    assert response.request.headers["transfer-encoding"] == "chunked"


def test_a_key_without_the_scope_is_refused_before_the_body(api):
    reader = api.key("limits-reader", "read")
    head = (
        f"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nX-API-Key: {reader}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {60 * 1024}\r\n\r\n"
    )
    seconds, answer = _raw_request(api.url, head, _chunks(60 * 1024, 1024))
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert seconds < 1.0


def test_failed_authentications_are_limited_per_client_address(tmp_path):
    settings = Settings(data_dir=tmp_path, backend="lexicon", embedded_workers=0, failed_auth_limit="5/minute")
    with running_api(settings, preload=False) as limited:
        good = limited.key("limits-good", "read")
        with limited.client() as client:
            statuses = [client.get("/v1/products", headers={"X-API-Key": f"opn_bad{i}"}).status_code for i in range(7)]
            after = client.get("/v1/products", headers={"X-API-Key": good})
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert after.status_code == 429 and after.json()["limit"] == "failed authentications"
    assert int(after.headers["retry-after"]) >= 1
