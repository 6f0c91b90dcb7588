"""The FastAPI application: routes, error handling, request context, and the platform's lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from opinara.api import problems
from opinara.api.guard import Guard, document_security
from opinara.api.middleware import RequestContext
from opinara.api.routes import alerts, analyze, health, insights, jobs, keys, mentions, monitors, products, series
from opinara.config import Settings
from opinara.observability.logs import setup_logging
from opinara.platform import Platform

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    """The API over ``platform`` (built from ``settings`` at startup when not given).

    Startup applies migrations, loads the default analyzer and starts ``embedded_workers`` job worker
    threads; shutdown stops them and flushes usage counts."""
    settings = settings or (platform.settings if platform else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = platform is None
        if owned:  # a server process of `opinara serve --workers N`: it configures its own logging
            setup_logging(settings.log_format, settings.log_level, redact=settings.redact_pii)
        # Blocking route work runs on this many threads, and the database pool has a connection for each.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        current = platform or Platform(settings)
        if owned:
            current.start(workers=settings.embedded_workers)
        app.state.platform = current
        log.info(
            "opinara API ready",
            extra={"backend": settings.backend, "workers": settings.embedded_workers, "queue": current.queue.backend()},
        )
        try:
            yield
        finally:
            if owned:
                current.stop()

    app = FastAPI(
        title="Opinara",
        version=version("opinara"),
        description="Sentiment, product aspects, language and PII for reviews and posts; insights over stored reviews.",
        lifespan=lifespan,
    )
    problems.install(app)
    routers = [
        module.router
        for module in (analyze, jobs, products, monitors, mentions, series, insights, alerts, keys, health)
    ]
    for router in routers:
        app.include_router(router)
    # The guard matches requests against the routes as declared (FastAPI wraps included routers).
    routes = [route for router in routers for route in router.routes]
    # Outermost first: the request id exists before the guard answers 401, 413 or 429.
    app.add_middleware(Guard, routes=routes, platform=lambda scope: scope["app"].state.platform)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_security(FastAPI.openapi(app), routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(RequestContext)
    return app
