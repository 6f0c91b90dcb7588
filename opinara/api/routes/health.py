"""Liveness, readiness, a detailed component report, and Prometheus metrics.

A failed component is reported by name and the kind of failure, never the exception's text (it can
hold hosts, paths or data); the server log has the details."""

from __future__ import annotations

import logging
import platform as host
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from opinara.api.deps import AdminCaller, PlatformDep
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.jobs import records
from opinara.observability.metrics import QUEUE_DEPTH, cache_hit_ratio, exposition
from opinara.platform import Platform

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class Check(BaseModel):
    """One component: up or down, how long the check took, and what it found (backend, depth, ...)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["up", "down"]
    latency_ms: float | None = None
    error: str | None = None


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Check]


class Detailed(BaseModel):
    status: Literal["ok", "degraded"]
    components: dict[str, Check]
    jobs: dict[str, int]
    versions: dict[str, str]
    settings: dict[str, Any]


def _timed(name: str, check: Callable[[], dict[str, Any]]) -> Check:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # a failed component is reported, not raised: that is this endpoint's job
        log.warning("health check %s failed: %s", name, type(exc).__name__, exc_info=exc)
        return Check(status="down", error=f"{name} check failed ({type(exc).__name__})", latency_ms=_ms(started))
    return Check(status="up", latency_ms=_ms(started), **detail)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _database(platform: Platform) -> dict[str, Any]:
    with platform.store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"dialect": platform.store.dialect}


def _queue(platform: Platform) -> dict[str, Any]:
    depth = platform.queue.depth()
    QUEUE_DEPTH.set(depth)
    return {"backend": platform.queue.backend(), "depth": depth}


def _model(platform: Platform) -> dict[str, Any]:
    if not platform.analysis.loaded_models:
        raise RuntimeError("no analyzer loaded yet")
    return {"loaded": platform.analysis.loaded_models}


def _checks(platform: Platform) -> dict[str, Check]:
    return {
        "database": _timed("database", lambda: _database(platform)),
        "queue": _timed("queue", lambda: _queue(platform)),
        "model": _timed("model", lambda: _model(platform)),
    }


@router.get("/health", summary="Liveness: the process answers")
async def health() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/health/ready",
    summary="Readiness: database, queue and model; 503 when one is not ready",
    responses={503: {"model": Readiness, "description": "A component is not ready"}},
)
async def ready(platform: PlatformDep) -> Readiness:
    checks = await run_in_threadpool(_checks, platform)
    answer = Readiness(status="ready" if all(c.status == "up" for c in checks.values()) else "not ready", checks=checks)
    if answer.status == "ready":
        return answer
    return JSONResponse(answer.model_dump(mode="json"), status_code=503)  # type: ignore[return-value]


@router.get(
    "/health/detailed",
    summary="Each component's status and latency, versions, queue and cache (admin)",
    responses=PROBLEM_RESPONSES,
)
def detailed(caller: AdminCaller, platform: PlatformDep) -> Detailed:
    checks = _checks(platform)
    checks["cache"] = Check(
        status="up",
        memory="on" if platform.analysis.cache.enabled else "off",
        redis=platform.analysis.cache.redis_status(),
        hit_ratio=cache_hit_ratio(),
    )
    checks["rate_limits"] = Check(status="up", storage=platform.limiter.backend)
    settings = platform.settings
    return Detailed(
        status="ok" if all(c.status == "up" for c in checks.values()) else "degraded",
        components=checks,
        jobs=records.count_active(platform.store),
        versions={"opinara": version("opinara"), "python": host.python_version(), "fastapi": version("fastapi")},
        settings={
            "backend": settings.backend,
            "runtime": settings.runtime,
            "embedded_workers": settings.embedded_workers,
            "max_batch_texts": settings.max_batch_texts,
            "batch_max_size": settings.batch_max_size,
            "batch_max_wait_ms": settings.batch_max_wait_ms,
            "redact_pii": settings.redact_pii,
        },
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
)
async def metrics(platform: PlatformDep) -> Response:
    await run_in_threadpool(_timed, "queue", lambda: _queue(platform))
    body, content_type = exposition()
    return Response(body, media_type=content_type)
