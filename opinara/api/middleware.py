"""One ASGI middleware for what every request needs: an id, metrics and a log line."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opinara.api.disconnect import ClientDisconnected
from opinara.api.guard import ROUTE_KEY
from opinara.observability.logs import request_id
from opinara.observability.metrics import REQUEST_LATENCY, REQUESTS

log = logging.getLogger("opinara.api")
_GOOD_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
CLIENT_CLOSED = 499
QUIET_PATHS = frozenset({"/health", "/metrics"})  # scraped often; counted in metrics, not logged


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = given if _GOOD_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = {"x-request-id": rid, **{k.lower(): v for k, v in state.get("rate_headers", {}).items()}}
                headers += [(k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        except ClientDisconnected:
            status = CLIENT_CLOSED  # nobody to answer; nginx's code for it, in metrics and the log line
        finally:
            path = getattr(scope.get("route"), "path", None) or scope.get(ROUTE_KEY) or "unmatched"
            seconds = time.perf_counter() - started
            REQUESTS.labels(path, scope["method"], str(status)).inc()
            REQUEST_LATENCY.labels(path, scope["method"], str(status)).observe(seconds)
            if scope["path"] not in QUIET_PATHS:
                log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={"status": status, "route": path, "duration_ms": round(seconds * 1000, 2)},
                )
            request_id.reset(token)
