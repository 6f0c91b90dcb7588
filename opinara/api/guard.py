"""Limits before work: the caller is authenticated from the headers, and the body is bounded by the
route, before any byte of the body is read or parsed.

FastAPI reads and parses a route's body before it resolves the route's dependencies, so a key check
in a dependency comes too late: an anonymous client could make the server read and parse a body of
any size the limit allows. This middleware finds the route first (as the router will), reads the
:class:`Policy` its caller dependency declares (``deps.caller``), and answers 401, 403, 413 or 429
itself. The body limit is the route's (``max_body_bytes`` for JSON routes, ``max_upload_bytes`` for
upload routes when the body is multipart), never one the client picks with its Content-Type; a JSON
body is buffered up to that limit, so an over-long chunked body is a 413 too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opinara.access.keys import Caller
from opinara.access.limits import Decision
from opinara.api.problems import problem_for, problem_response
from opinara.errors import LimitExceeded, OpinaraError, PermissionDenied, RateLimited
from opinara.observability.metrics import RATE_LIMITED

BodyKind = Literal["json", "upload"]
ROUTE_KEY = "opinara.route"


@dataclass(frozen=True)
class Policy:
    """Who may call a route (any of ``scopes``; admin always may) and how large its body may be."""

    scopes: tuple[str, ...]
    body: BodyKind = "json"


class MethodNotAllowed(Exception):
    def __init__(self, method: str, allowed: list[str]) -> None:
        super().__init__(f"{method} is not allowed here; use {', '.join(allowed)}")
        self.allowed = allowed


def refuse(decision: Decision, detail: str) -> RateLimited:
    """A 429 naming the limit that refused (``rate limit`` or ``daily quota``), with its headers."""
    RATE_LIMITED.labels(decision.reason).inc()
    return RateLimited(detail, decision.reason or "rate limit", decision.headers())


def presented_key(headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key") or None


def _policy(dependant: Dependant) -> Policy | None:
    for dependency in dependant.dependencies:
        policy = getattr(dependency.call, "opinara_policy", None) or _policy(dependency)
        if policy is not None:
            return policy
    return None


class Guard:
    """The ASGI middleware; ``routes`` are the application's API routes, as declared."""

    def __init__(self, app: ASGIApp, routes: list[Any], platform: Callable[[Scope], Any]) -> None:
        self.app = app
        self.routes = [route for route in routes if isinstance(route, APIRoute)]
        self.platform = platform
        self._policies = {id(route): _policy(route.dependant) for route in self.routes}
        # Paths without parameters are looked up in a dict (most requests); the others are matched in order.
        self._static: dict[tuple[str, str], APIRoute] = {
            (method, route.path): route
            for route in self.routes
            if not route.param_convertors
            for method in route.methods
        }

    def _route_policy(self, scope: Scope) -> Policy | None:
        route = self._static.get((scope["method"], scope["path"]))
        if route is None:
            matches = [(r, r.matches(scope)[0]) for r in self.routes]
            route = next((r for r, match in matches if match == Match.FULL), None)
            if route is None:
                allowed = sorted({m for r, match in matches if match == Match.PARTIAL for m in r.methods})
                if allowed:  # the path exists with other methods: say all of them (the router names one route's)
                    raise MethodNotAllowed(scope["method"], allowed)
                return None
        scope[ROUTE_KEY] = route.path  # metrics name the route of a request refused here too
        return self._policies[id(route)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        platform = self.platform(scope)
        settings = platform.settings
        headers = _headers(scope)
        try:
            policy = self._route_policy(scope)
        except MethodNotAllowed as exc:
            response = problem_response(405, str(exc), scope["path"], {"Allow": ", ".join(exc.allowed)})
            await response(scope, receive, send)
            return
        try:
            if policy is not None:
                caller = await self._authorize(platform, policy, headers, scope)
                scope.setdefault("state", {})["caller"] = caller
            multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
            upload = policy is not None and policy.body == "upload" and multipart
            limit = settings.max_upload_bytes if upload else settings.max_body_bytes
            length = headers.get("content-length", "")
            if length.isascii() and length.isdigit() and int(length) > limit:
                raise LimitExceeded(
                    f"the request body ({length} bytes) exceeds the limit of {limit} bytes", "body size"
                )
            if upload:
                receive = _streamed(receive, limit)
            else:
                receive = await _buffered(receive, limit)
        except OpinaraError as exc:
            await problem_for(exc, scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _authorize(self, platform: Any, policy: Policy, headers: dict[str, str], scope: Scope) -> Caller:
        client = scope.get("client")
        caller = await platform.auth.authenticate(presented_key(headers), client[0] if client else None)
        if not any(caller.allows(name) for name in policy.scopes):
            wanted = " or ".join(repr(name) for name in policy.scopes)
            raise PermissionDenied(f"the key {caller.name!r} lacks the {wanted} scope", sorted(caller.scopes))
        decision = await platform.auth.check_rate(caller)
        scope.setdefault("state", {})["rate_headers"] = decision.headers()
        if not decision.allowed:
            raise refuse(decision, f"rate limit of {caller.rate_limit} exceeded for key {caller.name!r}")
        platform.usage.record(caller.key_id, requests=1)
        return caller


_WANTED = frozenset({b"authorization", b"x-api-key", b"content-type", b"content-length"})


def _headers(scope: Scope) -> dict[str, str]:
    """The few headers the guard reads (ASGI servers give names in lower case)."""
    return {name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in _WANTED}


def document_security(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Name the API-key schemes in an OpenAPI document and, on each guarded operation, the ones it accepts.

    Done on the document rather than with FastAPI's security dependencies, which would run on every
    request for nothing: the guard has checked the key before the route runs."""
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "X-API-Key: <key>"},
    }
    for route in routes:
        if not isinstance(route, APIRoute) or (policy := _policy(route.dependant)) is None:
            continue
        for method in route.methods:
            operation = schema["paths"].get(route.path, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                scopes = ", ".join(policy.scopes)
                operation["description"] = (
                    operation.get("description", "") + f"\n\nScopes: {scopes} (or admin)."
                ).strip()
    return schema


def _too_large(limit: int) -> LimitExceeded:
    return LimitExceeded(f"the request body exceeds the limit of {limit} bytes", "body size")


async def _buffered(receive: Receive, limit: int) -> Receive:
    """Read the whole body (at most ``limit`` bytes) now; the app then receives it in one message."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _replay([message], receive)
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise _too_large(limit)
        chunks.append(body)
        if not message.get("more_body", False):
            break
    return _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}], receive)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        # After the body, the original channel: it answers http.disconnect when the client goes away.
        return pending.pop(0) if pending else await receive()

    return replay


def _streamed(receive: Receive, limit: int) -> Receive:
    """The body as it comes (uploads are spooled to disk by the route), refused once past ``limit``."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)  # the route's OpinaraError handler answers 413
        return message

    return limited
