"""Dependencies shared by the routes: the platform's services and the caller's key, scope and limits."""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated

from fastapi import Depends, Request

from opinara.access.keys import Caller
from opinara.access.limits import Decision
from opinara.api.problems import Problem
from opinara.observability.metrics import RATE_LIMITED
from opinara.platform import Platform


async def get_platform(request: Request) -> Platform:  # async: no thread-pool hop per request
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


async def _authorize(request: Request, platform: Platform, scope: str) -> Caller:
    key = _presented_key(request)
    if key is None:
        raise Problem(
            401,
            "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            {"WWW-Authenticate": "Bearer"},
        )
    loop = asyncio.get_running_loop()
    caller = platform.keys.cached(key) or await loop.run_in_executor(platform.auth_thread, platform.keys.lookup, key)
    if caller is None:
        raise Problem(401, "the API key is not valid or has been revoked", {"WWW-Authenticate": "Bearer"})
    if not caller.allows(scope):
        raise Problem(403, f"the key {caller.name!r} lacks the {scope!r} scope", scopes=sorted(caller.scopes))
    if platform.limiter.shared:  # Redis: a network round trip, kept off the event loop
        decision = await loop.run_in_executor(
            platform.auth_thread, platform.limiter.check_rate, caller.key_id, caller.rate_limit
        )
    else:
        decision = platform.limiter.check_rate(caller.key_id, caller.rate_limit)
    request.scope.setdefault("state", {})["rate_headers"] = decision.headers()
    if not decision.allowed:
        raise _refused(decision, f"rate limit of {caller.rate_limit} exceeded for key {caller.name!r}")
    platform.usage.record(caller.key_id, requests=1)
    return caller


def _refused(decision: Decision, detail: str) -> Problem:
    """A 429 naming the limit that refused (``rate limit`` or ``daily quota``), with its headers."""
    RATE_LIMITED.labels(decision.reason).inc()
    return Problem(429, detail, decision.headers(), limit=decision.reason)


async def take_texts(platform: Platform, caller: Caller, texts: int, characters: int) -> None:
    """Charge ``texts`` to the key's daily quota (429 when exhausted) and record the usage."""
    if caller.daily_quota is not None and texts > 0:
        take = functools.partial(platform.limiter.take_quota, caller.key_id, caller.daily_quota, texts)
        if platform.limiter.shared:
            decision = await asyncio.get_running_loop().run_in_executor(platform.auth_thread, take)
        else:
            decision = take()
        if not decision.allowed:
            raise _refused(
                decision,
                f"daily quota of {caller.daily_quota} texts used up for key {caller.name!r} "
                f"({decision.remaining} left today; {texts} requested)",
            )
    platform.usage.record(caller.key_id, texts=texts, characters=characters)


def require(scope: str):
    """A dependency that admits keys with ``scope`` (or admin) within their rate limit."""

    async def dependency(request: Request, platform: PlatformDep) -> Caller:
        return await _authorize(request, platform, scope)

    return Depends(dependency)


AnalyzeCaller = Annotated[Caller, require("analyze")]
ReadCaller = Annotated[Caller, require("read")]
AdminCaller = Annotated[Caller, require("admin")]
