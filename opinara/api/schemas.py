"""Request bodies and the response shapes of the analysis and job routes.

Every text a client sends is validated here (``CleanText``): a NUL character or a lone surrogate is
a 422 that names the field and its index, before the text reaches a batch other requests share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.analysis.schema import AnalysisResult
from opinara.config import Backend
from opinara.validation import CleanText, RecordId

LanguageHint = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
ModelRef = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^\x00-\x1f]+$")]


class AnalyzeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Backend | None = Field(default=None, description="Sentiment backend; the server's default when absent")
    model: ModelRef | None = Field(default=None, description="A model id or path the server allows")
    aspects: bool | None = Field(default=None, description="Extract aspects (server default when absent)")
    redact_pii: bool | None = Field(
        default=None, description="Find PII and return redacted_text; no result string repeats PII"
    )
    language: LanguageHint | None = Field(default=None, description="ISO 639-1 hint that replaces detection")

    def options(self, redact_pii: bool | None) -> AnalyzeOptions:
        """Per-call options, with the redaction that applies (the request's, or the key's policy)."""
        return AnalyzeOptions(aspects=self.aspects, redact_pii=redact_pii, language=self.language)

    def job_options(self) -> dict[str, object]:
        return self.model_dump(include=set(AnalyzeParams.model_fields), exclude_none=True)


class AnalyzeRequest(AnalyzeParams):
    text: CleanText = Field(description="The text to analyze")


class BatchRequest(AnalyzeParams):
    texts: list[CleanText] = Field(min_length=1, description="Texts to analyze, in order")


class JobRequest(AnalyzeParams):
    texts: list[CleanText] = Field(min_length=1, description="Texts to analyze in the background")
    ids: list[RecordId] | None = Field(default=None, description="Your ids for the texts, returned with each result")


class BatchResults(BaseModel):
    results: list[AnalysisResult]
    cached: int = Field(description="How many results came from the cache")
