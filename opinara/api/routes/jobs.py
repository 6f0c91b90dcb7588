"""Async jobs: submit texts (JSON), a texts file or a review file (multipart), poll, page results, cancel.

Who may do what: submitting an analyze job needs the ``analyze`` scope, an ingest job the ``ingest``
scope (checked by the service, once the kind is known). A job's owner reads its status and results
with whichever of its scopes it holds; cancelling needs ``analyze`` or ``ingest`` (a read-only key
changes nothing). Another key's job is a 404, as if it did not exist; an admin key sees and cancels
every job. The routes parse and hand over to :class:`opinara.jobs.service.JobService`."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator

from opinara.access.keys import Caller
from opinara.api.deps import OwnerCaller, PlatformDep, SubmitCaller, caller
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.api.schemas import AnalyzeParams, JobRequest
from opinara.errors import FieldError
from opinara.jobs.models import FORMATS_BY_KIND, JobInfo, JobKind, JobList, JobOptions, JobResults, UploadFormat
from opinara.jobs.service import JobService
from opinara.validation import MAX_ID

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)
CancelCaller = Annotated[Caller, caller("analyze", "ingest")]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The job's id, as its submission returned it")]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
SourceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]


def _form_schema(schema: dict[str, Any]) -> None:
    """A form field is absent or has a value (never null), and which formats go with which kind is in
    the schema: an analyze upload (the default kind) holds texts, an ingest upload reviews."""
    for field in schema["properties"].values():
        choices = [choice for choice in field.pop("anyOf", []) if choice != {"type": "null"}]
        if choices:
            field.update(choices[0])
        if "default" in field and field["default"] is None:
            del field["default"]
    schema["anyOf"] = [
        {"properties": {"kind": {"const": "analyze"}, "format": {"enum": list(FORMATS_BY_KIND["analyze"])}}},
        {
            "required": ["kind"],
            "properties": {"kind": {"const": "ingest"}, "format": {"enum": list(FORMATS_BY_KIND["ingest"])}},
        },
    ]


class UploadForm(AnalyzeParams):
    """A file job's form fields (multipart/form-data). The file's content is checked when it is read:
    unreadable lines of an analyze upload become failed items, and a file with no usable text, a
    binary file or one that unpacks past the server's limit is refused with 422 or 413."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_form_schema)

    file: UploadFile = Field(description="Texts (one per line), JSON Lines or CSV; reviews for ingest. .gz too")
    kind: JobKind = Field(default="analyze", description="analyze: each text's result; ingest: store the reviews")
    format: UploadFormat | None = Field(
        default=None,
        description="analyze: text, jsonl or csv; ingest: amazon-2023, amazon-2018 or csv. Detected when absent",
    )
    text_field: FieldName = Field(default="text", description="analyze, JSON Lines or CSV: the text's field")
    id_field: FieldName = Field(default="id", description="analyze, JSON Lines or CSV: the id's field")
    source: SourceName | None = Field(default=None, description="ingest: the reviews' source name")

    @field_validator("format")
    @classmethod
    def _fits_kind(cls, value: UploadFormat | None, info: ValidationInfo) -> UploadFormat | None:
        kind = info.data.get("kind", "analyze")
        if value is not None and value not in FORMATS_BY_KIND[kind]:
            raise ValueError(f"{value!r} is not a format of {kind} jobs; use one of {', '.join(FORMATS_BY_KIND[kind])}")
        return value

    def job_options(self) -> dict[str, object]:
        fields = {"format": self.format}
        if self.kind == "ingest":
            fields["source"] = self.source
        elif self.format in ("jsonl", "csv") or self.format is None:
            fields |= {"text_field": self.text_field, "id_field": self.id_field}
        return {**super().job_options(), **fields}


JOB_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": JobRequest.model_json_schema()},
            "multipart/form-data": {"schema": UploadForm.model_json_schema()},
        },
    }
}


async def get_jobs(platform: PlatformDep) -> JobService:
    """The platform's job service (async: no thread-pool hop per request)."""
    return platform.jobs


JobsDep = Annotated[JobService, Depends(get_jobs)]


def _invalid(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(exc.errors(include_url=False, include_context=False))


def _json_body(raw: bytes) -> JobRequest:
    """The JSON body, parsed as the other routes' bodies are (a lone surrogate's escape is JSON, which
    the model then refuses by field and index)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "invalid JSON", "ctx": {"error": exc.msg}}
        raise RequestValidationError([error]) from exc
    except (RecursionError, ValueError) as exc:  # nested too deeply; an integer of too many digits
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "invalid JSON"}]) from exc
    try:
        return JobRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc


async def _from_form(request: Request, caller: Caller, jobs: JobService) -> JobInfo:
    async with request.form(max_files=1, max_fields=20, max_part_size=64 * 1024) as form:
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name in fields:
                raise FieldError(name, "given more than once")
            if value != "":  # an empty field (an HTML form's) is an absent one
                fields[name] = value
        if "file" not in fields:
            raise FieldError("file", "a multipart job needs a 'file' part")
        try:
            upload = UploadForm.model_validate(fields)
        except ValidationError as exc:
            raise _invalid(exc) from exc
        file = upload.file
        return await asyncio.to_thread(
            jobs.submit_file,
            caller,
            upload.kind,
            file.file,
            file.filename or "upload",
            file.size or 0,
            JobOptions.model_validate(upload.job_options()),
        )


@router.post(
    "",
    status_code=202,
    openapi_extra=JOB_BODY,
    summary="Submit a job: texts as JSON, or a file (multipart); returns the queued job",
)
async def create_job(request: Request, caller: SubmitCaller, jobs: JobsDep) -> JobInfo:
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await _from_form(request, caller, jobs)
    body = _json_body(await request.body())
    options = JobOptions.model_validate(body.job_options())
    return await asyncio.to_thread(jobs.submit_texts, caller, body.texts, body.ids, options)


@router.get("", summary="Recent jobs of the key (an admin key sees everyone's)")
def list_jobs(caller: OwnerCaller, jobs: JobsDep, limit: int = Query(50, ge=1, le=500)) -> JobList:
    return jobs.recent(caller, limit)


@router.get("/{job_id}", summary="A job's status, progress, counts and errors")
def get_job(job_id: JobId, caller: OwnerCaller, jobs: JobsDep) -> JobInfo:
    return jobs.get(caller, job_id)


@router.get("/{job_id}/results", summary="One page of a job's results, in input order")
def job_results(
    job_id: JobId,
    caller: OwnerCaller,
    jobs: JobsDep,
    cursor: int = Query(-1, ge=-1, le=MAX_ID, description="next_cursor of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> JobResults:
    return jobs.results(caller, job_id, cursor, limit)


@router.delete("/{job_id}", summary="Cancel a queued or running job")
def cancel_job(job_id: JobId, caller: CancelCaller, jobs: JobsDep) -> JobInfo:
    return jobs.cancel(caller, job_id)
