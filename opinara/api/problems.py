"""Every error as RFC 9457 problem details (``application/problem+json``), mapped in one place.

:func:`status_for` maps Opinara's error hierarchy to HTTP statuses; the middleware answers with
:func:`problem_for` before a request reaches a route (401, 403, 413, 429), the handlers here after."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from opinara.errors import (
    AccessError,
    AnalysisFailed,
    AuthenticationError,
    FieldError,
    InputError,
    JobConflict,
    LimitExceeded,
    ModelLoadError,
    NotFoundError,
    OpinaraError,
    PermissionDenied,
    RateLimited,
    StoreError,
    StoreUnavailable,
    Unavailable,
    UnknownComponentError,
)
from opinara.observability.logs import request_id
from opinara.store.db import is_outage

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    message: str
    type: str | None = None


class ProblemDetails(BaseModel):
    """An error answer (RFC 9457). ``errors`` lists each bad field; ``limit`` names the limit that refused."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    code: str | None = None
    limit: str | None = None
    errors: list[FieldProblem] | None = None


# Declared on every route, so the OpenAPI document describes error answers as well as successes.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


def problem_response(
    status: int, detail: str, instance: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if (rid := request_id.get()) is not None:
        body["request_id"] = rid
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_for(exc: OpinaraError) -> int:
    """The one map from Opinara's errors to HTTP statuses."""
    checks: tuple[tuple[type[OpinaraError] | tuple[type[OpinaraError], ...], int], ...] = (
        (AuthenticationError, 401),
        (PermissionDenied, 403),
        (RateLimited, 429),
        (AccessError, 403),
        (NotFoundError, 404),
        (JobConflict, 409),
        (LimitExceeded, 413),
        ((UnknownComponentError, InputError, AnalysisFailed), 422),
        ((Unavailable, ModelLoadError, StoreError), 503),
    )
    for kinds, status in checks:
        if isinstance(exc, kinds):
            return status
    return 500


def problem_for(exc: OpinaraError, instance: str | None = None) -> Response:
    """The problem-details answer for one of Opinara's errors, with its headers and extra members."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {"code": exc.code}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers.update(exc.headers)
        extra["limit"] = exc.limit
    if isinstance(exc, LimitExceeded):
        extra["limit"] = exc.limit
    if isinstance(exc, PermissionDenied):
        extra["scopes"] = exc.scopes
    if isinstance(exc, FieldError):
        extra["errors"] = [{"field": exc.field, "message": exc.reason, "type": "value_error"}]
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
    elif status == 503:
        headers["Retry-After"] = "5"
    if status >= 500:
        log.error("request failed: %s", exc)
    return problem_response(status, exc.message, instance, headers, **extra)


def _validation_detail(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    cleaned = []
    for error in errors:
        if error.get("type") == "json_invalid":
            location = tuple(error.get("loc") or ())
            position = location[-1] if location and location != ("body",) else "?"
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            cleaned.append(
                {"field": "body", "message": f"invalid JSON: {reason} at character {position}", "type": "json_invalid"}
            )
            continue
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        cleaned.append({"field": location or "body", "message": message, "type": error.get("type")})
    first = cleaned[0] if cleaned else {"field": "body", "message": "invalid request"}
    return f"{first['field']}: {first['message']}", cleaned


def validation_problem(errors: list[dict[str, Any]], instance: str | None = None) -> Response:
    """422 for pydantic errors: the first in ``detail``, all in ``errors`` (never the values themselves)."""
    detail, cleaned = _validation_detail(errors)
    return problem_response(422, detail, instance, errors=cleaned)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return validation_problem(list(exc.errors()), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, detail, request.url.path, dict(exc.headers or {}))

    @app.exception_handler(OpinaraError)
    async def _opinara(request: Request, exc: OpinaraError) -> Response:
        return problem_for(exc, request.url.path)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, exc: Exception) -> Response:
        # Outside Store.session (a raw connection): a database that does not answer is a 503, not a 500.
        if is_outage(exc):
            log.error("database unavailable: %s", type(exc).__name__)
            return problem_for(StoreUnavailable("the database is unavailable; try again shortly", 5), request.url.path)
        log.error("database error: %s", type(exc).__name__)
        return problem_response(500, "internal error; the request id identifies it in the server log", request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return problem_response(500, "internal error; the request id identifies it in the server log", request.url.path)
