"""Liveness, readiness, a detailed component report, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import platform as host
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from opinara.api.deps import AdminCaller, PlatformDep
from opinara.jobs import records
from opinara.observability.metrics import QUEUE_DEPTH, cache_hit_ratio, exposition
from opinara.platform import Platform

router = APIRouter(tags=["health"])


def _timed(check: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # a failed component is reported, not raised: that is this endpoint's job
        return {"status": "down", "error": f"{type(exc).__name__}: {exc}", "latency_ms": _ms(started)}
    entry: dict[str, Any] = {"status": "up", "latency_ms": _ms(started)}
    if isinstance(detail, dict):
        entry.update(detail)
    return entry


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


def _checks(platform: Platform) -> dict[str, dict[str, Any]]:
    return {
        "database": _timed(lambda: _database(platform)),
        "queue": _timed(lambda: _queue(platform)),
        "model": _timed(lambda: _model(platform)),
    }


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", summary="Readiness: database, queue and model; 503 when one is not ready")
async def ready(platform: PlatformDep) -> Response:
    checks = await asyncio.to_thread(_checks, platform)
    ok = all(check["status"] == "up" for check in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/health/detailed", summary="Each component's status and latency, versions, queue and cache (admin)")
def detailed(caller: AdminCaller, platform: PlatformDep) -> dict[str, Any]:
    checks = _checks(platform)
    checks["cache"] = {
        "status": "up",
        "memory": "on" if platform.analysis.cache.enabled else "off",
        "redis": platform.analysis.cache.redis_status(),
        "hit_ratio": cache_hit_ratio(),
    }
    checks["rate_limits"] = {"status": "up", "storage": platform.limiter.backend}
    jobs = records.count_active(platform.store)
    return {
        "status": "ok" if all(c["status"] == "up" for c in checks.values()) else "degraded",
        "components": checks,
        "jobs": jobs,
        "versions": {
            "opinara": version("opinara"),
            "python": host.python_version(),
            "fastapi": version("fastapi"),
        },
        "settings": {
            "backend": platform.settings.backend,
            "runtime": platform.settings.runtime,
            "embedded_workers": platform.settings.embedded_workers,
            "max_batch_texts": platform.settings.max_batch_texts,
            "batch_max_size": platform.settings.batch_max_size,
            "batch_max_wait_ms": platform.settings.batch_max_wait_ms,
        },
    }


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def metrics(platform: PlatformDep) -> Response:
    await asyncio.to_thread(_queue, platform)
    body, content_type = exposition()
    return Response(body, media_type=content_type)
