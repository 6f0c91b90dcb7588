"""Source monitors: create, read, edit, pause, resume, run now, remove; their runs and trends; webhook events.

Managing monitors needs the ``monitor`` scope; reading them and their runs, ``monitor`` or ``read``. The
events route takes no API key: a webhook sender signs each delivery with the monitor's secret."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from opinara.access.authenticator import FAILED_AUTH_LIMIT
from opinara.access.keys import Caller
from opinara.api.deps import PlatformDep, caller
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.errors import RateLimited
from opinara.insights.mentions import MonitorTrends, monitor_trends
from opinara.monitors.models import (
    CreatedMonitor,
    EventsAccepted,
    MonitorChanges,
    MonitorInfo,
    MonitorList,
    MonitorSpec,
    Removed,
    RunPage,
)
from opinara.monitors.webhooks import WebhookSignatureError
from opinara.validation import Cursor, ExternalId

router = APIRouter(prefix="/v1/monitors", tags=["monitors"], responses=PROBLEM_RESPONSES)
Manager = Annotated[Caller, caller("monitor")]
Reader = Annotated[Caller, caller("monitor", "read")]
Ref = Annotated[ExternalId, Path(description="The monitor's name or number")]


class PauseRequest(BaseModel):
    reason: str = Field(default="paused by a user", max_length=500)


@router.post("", status_code=201, summary="Create a monitor; a webhook monitor's secret is shown once")
async def create(spec: MonitorSpec, who: Manager, platform: PlatformDep) -> CreatedMonitor:
    return await run_in_threadpool(platform.monitors.create, spec, who.key_id)


@router.get("", summary="Every monitor with its state, last and next run")
async def list_monitors(who: Reader, platform: PlatformDep) -> MonitorList:
    return await run_in_threadpool(platform.monitors.list)


@router.get("/{monitor}", summary="One monitor")
async def get(monitor: Ref, who: Reader, platform: PlatformDep) -> MonitorInfo:
    return await run_in_threadpool(platform.monitors.get, monitor)


@router.patch("/{monitor}", summary="Change a monitor's params, interval, tags or product")
async def update(monitor: Ref, changes: MonitorChanges, who: Manager, platform: PlatformDep) -> MonitorInfo:
    return await run_in_threadpool(platform.monitors.update, monitor, changes)


@router.delete("/{monitor}", summary="Remove a monitor with its runs and mentions")
async def remove(monitor: Ref, who: Manager, platform: PlatformDep) -> Removed:
    return await run_in_threadpool(platform.monitors.remove, monitor)


@router.post("/{monitor}/pause", summary="Stop its runs until it is resumed")
async def pause(monitor: Ref, who: Manager, platform: PlatformDep, body: PauseRequest | None = None) -> MonitorInfo:
    return await run_in_threadpool(platform.monitors.pause, monitor, (body or PauseRequest()).reason)


@router.post("/{monitor}/resume", summary="Schedule its next run again")
async def resume(monitor: Ref, who: Manager, platform: PlatformDep) -> MonitorInfo:
    return await run_in_threadpool(platform.monitors.resume, monitor)


@router.post("/{monitor}/run", status_code=202, summary="Run it now (the next free worker takes it)")
async def run(monitor: Ref, who: Manager, platform: PlatformDep) -> MonitorInfo:
    return await run_in_threadpool(platform.monitors.run_now, monitor)


@router.get("/{monitor}/runs", summary="Its execution history, newest first")
async def runs(
    monitor: Ref,
    who: Reader,
    platform: PlatformDep,
    cursor: Annotated[Cursor | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RunPage:
    return await run_in_threadpool(platform.monitors.runs, monitor, cursor, limit)


@router.get("/{monitor}/trends", summary="Its mentions and net sentiment per period")
def trends(
    monitor: Ref, who: Reader, platform: PlatformDep, by: Literal["day", "week", "month"] = "day"
) -> MonitorTrends:
    with platform.store.session() as session:
        return monitor_trends(session, monitor, by)


@router.post(
    "/{monitor}/events",
    summary="Push items to a webhook monitor (signed: X-Opinara-Signature: t=<unix time>,v1=<HMAC-SHA256>)",
    description=(
        'The body is {"items": [{"id", "text", "author"?, "url"?, "published_at"?}]}. The signature is '
        "the hex HMAC-SHA256 of '<t>.' followed by the raw body, keyed with the monitor's secret; deliveries "
        "older than five minutes are refused, and an item id already received is not stored again."
    ),
)
async def events(
    monitor: Ref,
    request: Request,
    platform: PlatformDep,
    signature: Annotated[str | None, Header(alias="X-Opinara-Signature")] = None,
) -> EventsAccepted:
    client = request.client.host if request.client else None
    failures = platform.auth.failures  # wrong signatures count like wrong keys: an address that keeps guessing waits
    retry_after = failures.retry_after(client)
    if retry_after is not None:
        raise RateLimited(
            f"too many failed signatures from this address; try again in {retry_after} s",
            limit=FAILED_AUTH_LIMIT,
            headers={"Retry-After": str(retry_after)},
        )
    body = await request.body()
    try:
        return await run_in_threadpool(platform.monitor_runner.accept_events, monitor, signature, body, time.time())
    except WebhookSignatureError:
        failures.failed(client)
        raise
