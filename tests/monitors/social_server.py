"""A small real HTTP server on 127.0.0.1 for the Reddit and Mastodon connector tests.

Each test module writes a fake of its service (an ``app``: request in, response out) that speaks the
service's documented wire format; this module only serves it, records what was asked, and lets a test
put a scripted answer (a 429, a redirect, a slow reply) in front of the fake for the requests it picks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]  # the first value of each parameter
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow service)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


App = Callable[[Request], Response]


class SocialServer:
    """Serves ``app`` on a free port; ``url`` is its base, ``requests`` what it was asked, in order."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.requests: list[Request] = []
        self._scripts: list[tuple[Callable[[Request], bool], Response]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    {key: values[0] for key, values in parse_qs(parts.query).items()},
                    {key.lower(): value for key, value in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                response = server._respond(request)
                time.sleep(response.delay)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, when: Callable[[Request], bool], response: Response) -> None:
        """The next request that ``when`` picks gets ``response`` instead of the fake's answer (once)."""
        self._scripts.append((when, response))

    def _respond(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            for index, (when, response) in enumerate(self._scripts):
                if when(request):
                    del self._scripts[index]
                    return response
        return self.app(request)

    def __enter__(self) -> SocialServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
