"""The analyzer's result schema: the platform's contract, returned as is by the CLI and the API.

All offsets are character offsets into the input text (Python ``str`` indices).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SentimentLabel = Literal["positive", "negative", "neutral", "mixed"]
PolarityLabel = Literal["positive", "negative", "neutral"]
SCHEMA_VERSION = "1"


class Scores(BaseModel):
    """Class probabilities; they sum to 1."""

    positive: float
    negative: float
    neutral: float


class Sentiment(BaseModel):
    label: SentimentLabel
    scores: Scores
    confidence: float = Field(
        description="Probability of the label (calibrated); for mixed, of the two opposite classes"
    )


class Language(BaseModel):
    code: str | None = Field(description="ISO 639-1 code, or null when unknown")
    confidence: float


class SentenceResult(BaseModel):
    start: int
    end: int
    sentiment: Sentiment | None


class Span(BaseModel):
    text: str
    start: int
    end: int


class AspectSentiment(BaseModel):
    label: PolarityLabel
    scores: Scores


class Aspect(BaseModel):
    term: str
    group: str = Field(description="Canonical name shared by variants of one aspect (battery, battery life)")
    start: int
    end: int
    sentiment: AspectSentiment
    opinions: list[Span] = []


class PiiEntity(BaseModel):
    type: str
    start: int
    end: int
    score: float


class ExplanationItem(BaseModel):
    text: str
    start: int
    end: int
    weight: float = Field(description="Push towards positive (> 0) or negative (< 0)")


class ModelInfo(BaseModel):
    backend: str
    name: str
    version: str
    runtime: str | None = None
    component: str | None = Field(default=None, description="The registered sentiment component: sentiment.encoder.v1")
    aspects: str | None = Field(
        default=None, description="The aspect extractor's component, when aspects were asked for"
    )


class Notice(BaseModel):
    code: str
    message: str


class AnalysisResult(BaseModel):
    """Everything Opinara says about one text."""

    schema_version: str = SCHEMA_VERSION
    text_length: int
    language: Language
    sentiment: Sentiment | None = Field(description="Null when the backend does not support the text's language")
    sentences: list[SentenceResult] = []
    aspects: list[Aspect] = []
    pii: list[PiiEntity] = []
    redacted_text: str | None = None
    explanation: list[ExplanationItem] = []
    model: ModelInfo
    warnings: list[Notice] = []
