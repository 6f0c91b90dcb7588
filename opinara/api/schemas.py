"""Request bodies. Responses are the analyzer's result schema and the services' plain dicts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.config import Backend

LanguageHint = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]


class AnalyzeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Backend | None = Field(default=None, description="Sentiment backend; the server's default when absent")
    model: str | None = Field(default=None, max_length=512, description="A model id or path the server allows")
    aspects: bool | None = Field(default=None, description="Extract aspects (server default when absent)")
    redact_pii: bool | None = Field(default=None, description="Find PII and return redacted_text")
    language: LanguageHint | None = Field(default=None, description="ISO 639-1 hint that replaces detection")

    def options(self) -> AnalyzeOptions:
        return AnalyzeOptions(aspects=self.aspects, redact_pii=self.redact_pii, language=self.language)

    def job_options(self) -> dict[str, object]:
        return self.model_dump(include=set(AnalyzeParams.model_fields), exclude_none=True)


class AnalyzeRequest(AnalyzeParams):
    text: str = Field(description="The text to analyze")


class BatchRequest(AnalyzeParams):
    texts: list[str] = Field(min_length=1, description="Texts to analyze, in order")


class JobRequest(AnalyzeParams):
    texts: list[str] = Field(min_length=1, description="Texts to analyze in the background")
    ids: list[str] | None = Field(default=None, description="Your ids for the texts, returned with each result")
