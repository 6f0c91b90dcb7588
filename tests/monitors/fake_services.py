"""A real HTTP server on 127.0.0.1 for tests of code that calls web services.

Tests script what each path answers and read back what was asked, so a connector is exercised through its
real HTTP stack (the guarded session, redirects, timeouts, size caps) instead of a mocked client. Nothing in
here knows about any one service: a test writes the service's wire format into the responses.

    with FakeService() as service:
        service.route("/api/items", Reply.json({"items": []}), Reply(status=429, headers={"Retry-After": "30"}))
        ...  # call service.url + "/api/items"
        assert service.requests[0].param("page") == "0"

A path answers its replies in order and then keeps answering the last one; a reply may also be a function of
the request (for paging on a query parameter). Unknown paths answer 404.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``delay`` waits before the headers; ``chunk_delay`` trickles the body;
    ``declare_length=False`` sends no Content-Length and ends the body by closing the connection."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = 1
    declare_length: bool = True

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kwargs: Any) -> Reply:
        headers = {"Content-Type": "application/json; charset=UTF-8", **kwargs.pop("headers", {})}
        return cls(status, json.dumps(payload).encode(), headers, **kwargs)

    @classmethod
    def text(
        cls, text: str, content_type: str = "text/plain; charset=utf-8", status: int = 200, **kwargs: Any
    ) -> Reply:
        headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
        return cls(status, text.encode(), headers, **kwargs)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, headers={"Location": location})


@dataclass(frozen=True)
class Request:
    """What the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lowercased
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Responder = Reply | Callable[[Request], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up is no server error
            super().handle_error(request, client_address)


class FakeService:
    """A threaded HTTP/1.1 server on an ephemeral port of 127.0.0.1 with scripted replies per path."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: dict[str, list[Responder]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()  # wakes delayed replies when the test ends
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-service", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, *replies: Responder) -> None:
        """What ``path`` answers from now on (replaces earlier replies for it)."""
        if not replies:
            raise ValueError("a route needs at least one reply")
        with self._lock:
            self._routes[path] = list(replies)

    def requests_to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            replies = self._routes.get(request.path)
            if not replies:
                return Reply.json({"error": "not found"}, status=404)
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(request) if callable(reply) else reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes; no 40 ms delayed-ACK stall

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = service._answer(request)
                if reply.delay and service._closing.wait(reply.delay):
                    return
                # The client may give up first (a timeout, a size cap): that is what such a test checks.
                with contextlib.suppress(ConnectionError):
                    self._write(reply)

            def _write(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if not reply.declare_length:
                    self.send_header("Connection", "close")
                elif "content-length" not in {name.lower() for name in reply.headers}:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if not reply.chunk_delay:
                    self.wfile.write(reply.body)
                    return
                for start in range(0, len(reply.body), reply.chunk_size):
                    self.wfile.write(reply.body[start : start + reply.chunk_size])
                    self.wfile.flush()
                    if service._closing.wait(reply.chunk_delay):
                        return

        return Handler
