"""Dependencies shared by the routes: the platform's services, the caller's key, scopes and quota.

A route names who may call it with one of the caller aliases below. The alias carries a
:class:`~opinara.api.guard.Policy` that the guard middleware reads to authenticate the caller from
the headers before the body is read; the dependency itself only hands the verified caller over
(``guard.document_security`` names the key schemes in the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from opinara.access.keys import Caller
from opinara.api.guard import BodyKind, Policy, refuse
from opinara.errors import AuthenticationError
from opinara.platform import Platform


async def get_platform(request: Request) -> Platform:  # async: no thread-pool hop per request
    return request.app.state.platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def caller(*scopes: str, body: BodyKind = "json") -> object:
    """A dependency for callers holding any of ``scopes`` (or admin), checked by the guard middleware."""

    async def dependency(request: Request) -> Caller:
        verified = request.scope.get("state", {}).get("caller")
        if verified is None:  # the guard runs before every route; reaching here without it is a wiring bug
            raise AuthenticationError("an API key is required")
        return verified

    dependency.opinara_policy = Policy(scopes, body)  # type: ignore[attr-defined]
    return Depends(dependency)


AnalyzeCaller = Annotated[Caller, caller("analyze")]
ReadCaller = Annotated[Caller, caller("read")]
AdminCaller = Annotated[Caller, caller("admin")]
# Jobs: submitted with analyze (texts) or ingest (review files); read back by their owner with any scope.
SubmitCaller = Annotated[Caller, caller("analyze", "ingest", body="upload")]
OwnerCaller = Annotated[Caller, caller("analyze", "read", "ingest", "monitor", "alerts")]


def redaction(caller: Caller, requested: bool | None) -> bool | None:
    """The request's redaction option, forced on for a key whose policy is to redact."""
    return True if caller.redact_pii else requested


async def charge_texts(platform: Platform, caller: Caller, texts: int, characters: int) -> None:
    """Charge ``texts`` to the key's daily quota (429 when exhausted) and record the usage."""
    if caller.daily_quota is not None and texts > 0:
        decision = await platform.auth.take_quota(caller, texts)
        if not decision.allowed:
            raise refuse(
                decision,
                f"daily quota of {caller.daily_quota} texts used up for key {caller.name!r} "
                f"({decision.remaining} left today; {texts} requested)",
            )
    platform.usage.record(caller.key_id, texts=texts, characters=characters)
