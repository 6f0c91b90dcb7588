"""What the jobs service returns: a job (:class:`JobInfo`), a list of jobs, a page of results; and the
rule for which upload formats go with which kind of job.

These are the API's response models as they are: a route returns them without reshaping."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from opinara.analysis.schema import AnalysisResult
from opinara.config import Backend
from opinara.store.models import Job

JobKind = Literal["analyze", "ingest"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
UploadFormat = Literal["text", "jsonl", "csv", "amazon-2023", "amazon-2018"]
ACTIVE: tuple[JobStatus, ...] = ("queued", "running")
FINISHED: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
# An analyze upload holds texts (one per line, a JSON object per line, or CSV rows); an ingest upload
# holds reviews (Amazon's 2023 or 2018 JSON Lines, or CSV). Other pairs have no meaning and are refused.
FORMATS_BY_KIND: dict[JobKind, tuple[UploadFormat, ...]] = {
    "analyze": ("text", "jsonl", "csv"),
    "ingest": ("amazon-2023", "amazon-2018", "csv"),
}
CountValue = int | float | str | dict[str, int] | None


class JobOptions(BaseModel):
    """What a job was asked to do, and what produced its results. Absent options are left out."""

    model_config = ConfigDict(extra="ignore")

    backend: Backend | None = Field(default=None, description="Sentiment backend (the server's default when absent)")
    model: str | None = Field(default=None, description="Model id or path (the backend's default when absent)")
    aspects: bool | None = None
    redact_pii: bool | None = Field(
        default=None, description="True when texts were redacted before they were stored; raw texts were not kept"
    )
    language: str | None = None
    format: UploadFormat | None = Field(default=None, description="The upload's format (detected when absent)")
    text_field: str | None = None
    id_field: str | None = None
    source: str | None = Field(default=None, description="Ingest: the reviews' source name")
    upload_bytes: int | None = Field(default=None, description="The uploaded file's size, as sent")
    component: str | None = Field(default=None, description="The sentiment component, like sentiment.encoder.v1")
    model_version: str | None = Field(default=None, description="Everything about the model that changes results")

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {name: value for name, value in handler(self).items() if value is not None}

    def stored(self) -> dict[str, Any]:
        """The options as the job row keeps them (JSON, absent ones left out)."""
        return self.model_dump(mode="json")


class JobInfo(BaseModel):
    """A job: its status, progress and counts. ``total`` and ``processed`` count texts for an analyze
    job and bytes of the file for an ingest job (``unit``)."""

    id: str
    kind: JobKind
    status: JobStatus
    progress: float = Field(ge=0, le=1)
    processed: int
    total: int
    unit: Literal["texts", "bytes"]
    succeeded: int = Field(description="Texts analyzed, or reviews stored")
    failed: int = Field(description="Texts that could not be analyzed, or records rejected")
    counts: dict[str, CountValue] = Field(description="The job's final counts (an ingest run's summary)")
    error: str | None = Field(description="Why the job failed; never quotes the input")
    attempts: int = Field(description="How many times a worker started it (more than 1 after a worker died)")
    options: JobOptions
    key_id: int | None = Field(description="The API key that submitted it")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        return cls(
            id=job.id,
            kind=job.kind,  # type: ignore[arg-type]
            status=job.status,  # type: ignore[arg-type]
            progress=min(round(job.processed / job.total, 4), 1.0) if job.total else 0.0,
            processed=job.processed,
            total=job.total,
            unit="bytes" if job.kind == "ingest" else "texts",
            succeeded=job.succeeded,
            failed=job.failed,
            counts=job.counts or {},
            error=job.error,
            attempts=job.attempts,
            options=JobOptions.model_validate(job.options or {}),
            key_id=job.key_id,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class JobList(BaseModel):
    jobs: list[JobInfo] = Field(description="Newest first")


class AnalyzedItem(BaseModel):
    """One text of an analyze job: its result, or why it has none."""

    index: int = Field(description="The text's position in the input, from 0")
    id: str | None = Field(description="The id given with the text")
    result: AnalysisResult | None
    error: str | None = Field(description="Why the text was not analyzed (an unreadable line of an upload)")


class RejectedItem(BaseModel):
    """One record an ingest job could not store."""

    index: int = Field(description="The record's line in the file")
    rejected: str = Field(description="Why it was rejected")
    excerpt: str = Field(description="The start of the raw record (empty when the job redacts personal data)")


class JobResults(BaseModel):
    """One page of a job's results, in input order; pass ``next_cursor`` back for the next page."""

    job_id: str
    kind: JobKind
    status: JobStatus
    items: list[AnalyzedItem] | list[RejectedItem] = Field(
        description="Analyze jobs: each text's result or error; ingest jobs: the rejected records"
    )
    next_cursor: int | None = Field(description="null on the last page")
