"""Async jobs: submit texts (JSON), a texts file or a review file (multipart), poll, page results, cancel."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from opinara.access.keys import Caller
from opinara.api.deps import AnalyzeCaller, PlatformDep, ReadCaller, take_texts
from opinara.api.problems import Problem
from opinara.api.routes.analyze import check_texts
from opinara.api.schemas import AnalyzeParams, JobRequest
from opinara.ingest.text_records import detect_format, open_binary, read_records
from opinara.jobs import records
from opinara.platform import Platform

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
UPLOAD_FIELDS = ("kind", "format", "text_field", "id_field", "source")
JOB_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": JobRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "JSON Lines, CSV or text; .gz too",
                        },
                        "kind": {"type": "string", "enum": ["analyze", "ingest"], "default": "analyze"},
                        "format": {
                            "type": "string",
                            "description": "analyze: text|jsonl|csv; ingest: amazon-2023|amazon-2018|csv",
                        },
                        "text_field": {"type": "string", "default": "text"},
                        "id_field": {"type": "string", "default": "id"},
                        "source": {"type": "string", "description": "ingest: the reviews' source name"},
                        "backend": {"type": "string"},
                        "aspects": {"type": "boolean"},
                        "redact_pii": {"type": "boolean"},
                    },
                }
            },
        },
        "required": True,
    }
}


def _visible(caller: Caller, job: dict[str, Any]) -> None:
    """A key sees its own jobs; an admin key sees all."""
    if not caller.allows("admin") and job.get("key_id") not in (None, caller.key_id):
        raise Problem(404, f"no job {job['id']!r}")


def _params(form: FormData) -> AnalyzeParams:
    raw = {k: v for k, v in form.items() if isinstance(v, str) and k not in UPLOAD_FIELDS}
    try:
        return AnalyzeParams.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


async def _save_upload(platform: Platform, upload: UploadFile) -> Path:
    folder = platform.settings.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(upload.filename or "upload").name
    suffix = "".join(Path(name).suffixes[-2:]) if name else ""
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    await upload.seek(0)
    with path.open("wb") as out:
        await asyncio.to_thread(shutil.copyfileobj, upload.file, out, 1 << 20)
    return path


def _text_items(path: Path, fmt: str, text_field: str, id_field: str, max_chars: int):
    stream = open_binary(path)
    try:
        for record in read_records(stream, fmt, text_field, max_chars, path.name, id_field):  # type: ignore[arg-type]
            yield (
                record.id,
                record.text or "",
                None if record.text is not None else f"line {record.line}: {record.error}",
            )
    finally:
        stream.close()


async def _from_upload(request: Request, caller: Caller, platform: Platform) -> dict[str, Any]:
    """A job from a multipart upload; everything that can be checked is checked before the file is kept."""
    form = await request.form(max_files=1, max_fields=20)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Problem(422, "a multipart job needs a 'file' part", errors=[{"field": "file", "message": "required"}])
    kind = str(form.get("kind") or "analyze")
    if kind not in ("analyze", "ingest"):
        raise Problem(422, f"kind must be analyze or ingest, not {kind!r}")
    params = _params(form)
    fmt = str(form.get("format") or "")
    if kind == "analyze":
        fmt = fmt or detect_format(Path(upload.filename or "upload"))
        if fmt not in ("text", "jsonl", "csv"):
            raise Problem(422, f"format must be text, jsonl or csv for an analyze job, not {fmt!r}")
    path = await _save_upload(platform, upload)
    if kind == "ingest":  # the file stays until the job ends: the ingester resumes from it
        options = {**params.job_options(), "source": form.get("source") or None, "format": fmt or None}
        return await asyncio.to_thread(
            records.create_ingest_job, platform.store, str(path), path.stat().st_size, options, caller.key_id
        )
    items = _text_items(
        path,
        fmt,
        str(form.get("text_field") or "text"),
        str(form.get("id_field") or "id"),
        platform.settings.max_text_chars,
    )
    try:
        job = await asyncio.to_thread(
            records.create_analyze_job,
            platform.store,
            items,
            params.job_options(),
            caller.key_id,
            platform.settings.max_job_texts,
        )
    finally:
        path.unlink(missing_ok=True)  # the texts now live in the job's rows
    return job


async def _charge(platform: Platform, caller: Caller, job: dict[str, Any], characters: int) -> None:
    """Charge the job's usable texts to the key's quota; a refused job is cancelled before a worker sees it.

    An ingest job's size is in bytes, its reviews unknown until read: it is not charged."""
    texts = job["total"] - job["failed"] if job["unit"] == "texts" else 0
    try:
        await take_texts(platform, caller, texts, characters)
    except Problem:
        await asyncio.to_thread(records.cancel_job, platform.store, job["id"])
        raise


@router.post("", status_code=202, openapi_extra=JOB_BODY, summary="Submit a job; returns it with its id")
async def create_job(request: Request, caller: AnalyzeCaller, platform: PlatformDep) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        job, characters = await _from_upload(request, caller, platform), 0
    else:
        try:
            body = JobRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc
        if len(body.texts) > platform.settings.max_job_texts:
            raise Problem(
                413,
                f"the job has {len(body.texts)} texts; the limit is {platform.settings.max_job_texts}",
                limit="job size",
            )
        if body.ids is not None and len(body.ids) != len(body.texts):
            raise Problem(422, f"ids has {len(body.ids)} entries for {len(body.texts)} texts")
        characters = check_texts(platform, body.texts)
        ids = body.ids or [None] * len(body.texts)
        items = (
            (record_id, text, None if text.strip() else "empty text")
            for record_id, text in zip(ids, body.texts, strict=True)
        )
        job = await asyncio.to_thread(
            records.create_analyze_job, platform.store, items, body.job_options(), caller.key_id
        )
    await _charge(platform, caller, job, characters)
    platform.queue.enqueue(job["id"])
    return job


@router.get("", summary="Recent jobs (an admin key sees everyone's)")
def list_jobs(caller: ReadCaller, platform: PlatformDep, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    owner = None if caller.allows("admin") else caller.key_id
    return {"jobs": records.list_jobs(platform.store, limit, owner)}


@router.get("/{job_id}", summary="A job's status, progress, counts and errors")
def get_job(job_id: str, caller: ReadCaller, platform: PlatformDep) -> dict[str, Any]:
    job = records.get_job(platform.store, job_id)
    _visible(caller, job)
    return job


@router.get("/{job_id}/results", summary="One page of a job's results, in input order")
def job_results(
    job_id: str,
    caller: ReadCaller,
    platform: PlatformDep,
    cursor: int = Query(-1, ge=-1, description="next_cursor of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    _visible(caller, records.get_job(platform.store, job_id))
    return records.job_results(platform.store, job_id, cursor, limit)


@router.delete("/{job_id}", summary="Cancel a queued or running job")
def cancel_job(job_id: str, caller: AnalyzeCaller, platform: PlatformDep) -> dict[str, Any]:
    _visible(caller, records.get_job(platform.store, job_id))
    return records.cancel_job(platform.store, job_id)
