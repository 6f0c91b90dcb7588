"""Every error as RFC 9457 problem details (``application/problem+json``), mapped in one place."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from opinara.errors import (
    InputError,
    ModelLoadError,
    NotFoundError,
    OpinaraError,
    StoreError,
    UnknownComponentError,
)
from opinara.jobs.records import JobConflict
from opinara.observability.logs import request_id

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error the API answers with on purpose: its status, a short title and what is wrong."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


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
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


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
        cleaned.append({"field": location or "body", "message": error.get("msg", "invalid"), "type": error.get("type")})
    first = cleaned[0] if cleaned else {"field": "body", "message": "invalid request"}
    return f"{first['field']}: {first['message']}", cleaned


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(exc.status, exc.detail, request.url.path, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        detail, errors = _validation_detail(list(exc.errors()))
        return problem_response(422, detail, request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, detail, request.url.path, dict(exc.headers or {}))

    @app.exception_handler(OpinaraError)
    async def _opinara(request: Request, exc: OpinaraError) -> Response:
        status = status_for(exc)
        if status >= 500:
            log.error("request failed: %s", exc)
        return problem_response(status, exc.message, request.url.path, code=exc.code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return problem_response(500, "internal error; the request id identifies it in the server log", request.url.path)


def status_for(exc: OpinaraError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, JobConflict):
        return 409
    if isinstance(exc, UnknownComponentError | InputError):
        return 422
    if isinstance(exc, ModelLoadError | StoreError):
        return 503
    return 500
