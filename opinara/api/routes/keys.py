"""The caller's own key: what it may do (the dashboard asks before it shares a key with visitors)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from opinara.access.keys import KeyInfo, key_info
from opinara.api.deps import OwnerCaller, PlatformDep
from opinara.api.problems import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=PROBLEM_RESPONSES)


@router.get("/me", summary="The calling key: name, scopes, limits and policy (never the key itself)")
async def me(caller: OwnerCaller, platform: PlatformDep) -> KeyInfo:
    return await run_in_threadpool(key_info, platform.store, caller.key_id)
