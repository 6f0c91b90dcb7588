"""Dependencies shared by the routes: the platform's services and the caller's key, scope and limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from opinara.access.keys import Caller, verify_key
from opinara.api.problems import Problem
from opinara.observability.metrics import RATE_LIMITED
from opinara.platform import Platform


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


def _authorize(request: Request, platform: Platform, scope: str) -> Caller:
    key = _presented_key(request)
    if key is None:
        raise Problem(
            401,
            "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            {"WWW-Authenticate": "Bearer"},
        )
    caller = verify_key(platform.store, key)
    if caller is None:
        raise Problem(401, "the API key is not valid or has been revoked", {"WWW-Authenticate": "Bearer"})
    if not caller.allows(scope):
        raise Problem(403, f"the key {caller.name!r} lacks the {scope!r} scope", scopes=sorted(caller.scopes))
    decision = platform.limiter.check_rate(caller.key_id, caller.rate_limit)
    request.scope.setdefault("state", {})["rate_headers"] = decision.headers()
    if not decision.allowed:
        RATE_LIMITED.labels("rate limit").inc()
        raise Problem(
            429,
            f"rate limit of {caller.rate_limit} exceeded for key {caller.name!r}",
            decision.headers(),
            limit="rate limit",
        )
    platform.usage.record(caller.key_id, requests=1)
    return caller


def take_texts(platform: Platform, caller: Caller, texts: int, characters: int) -> None:
    """Charge ``texts`` to the key's daily quota (429 when exhausted) and record the usage."""
    if caller.daily_quota is not None and texts > 0:
        decision = platform.limiter.take_quota(caller.key_id, caller.daily_quota, texts)
        if not decision.allowed:
            RATE_LIMITED.labels("daily quota").inc()
            raise Problem(
                429,
                f"daily quota of {caller.daily_quota} texts used up for key {caller.name!r} "
                f"({decision.remaining} left today; {texts} requested)",
                decision.headers(),
                limit="daily quota",
            )
    platform.usage.record(caller.key_id, texts=texts, characters=characters)


def require(scope: str):
    def dependency(request: Request, platform: PlatformDep) -> Caller:
        return _authorize(request, platform, scope)

    return Depends(dependency)


AnalyzeCaller = Annotated[Caller, require("analyze")]
ReadCaller = Annotated[Caller, require("read")]
AdminCaller = Annotated[Caller, require("admin")]
