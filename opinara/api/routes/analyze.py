"""POST /v1/analyze and /v1/analyze/batch: results in the analyzer's schema, batched and cached.

Results are served as the bytes the cache holds (no re-serialization); the response models document
them. A client that goes away before its batch runs is not computed for."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from opinara.access.keys import Caller
from opinara.analysis.schema import AnalysisResult
from opinara.api.deps import AnalyzeCaller, PlatformDep, charge_texts, redaction
from opinara.api.disconnect import unless_disconnected
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.api.schemas import AnalyzeParams, AnalyzeRequest, BatchRequest, BatchResults
from opinara.errors import LimitExceeded
from opinara.platform import Platform

router = APIRouter(prefix="/v1", tags=["analysis"], responses=PROBLEM_RESPONSES)


def check_texts(platform: Platform, texts: list[str]) -> int:
    """Refuse oversized texts with 413; returns the characters in all texts."""
    limit = platform.settings.max_text_chars
    total = 0
    for index, text in enumerate(texts):
        if len(text) > limit:
            where = "the text" if len(texts) == 1 else f"text {index}"
            raise LimitExceeded(f"{where} has {len(text)} characters; the limit is {limit}", "text size")
        total += len(text)
    return total


async def _analyze(
    request: Request, platform: Platform, caller: Caller, texts: list[str], params: AnalyzeParams
) -> tuple[list[bytes], int]:
    options = params.options(redaction(caller, params.redact_pii))
    work = platform.analysis.analyze(texts, options, params.backend, params.model)
    return await unless_disconnected(request, work)


@router.post("/analyze", responses={200: {"model": AnalysisResult}}, response_model=None, summary="Analyze one text")
async def analyze(request: Request, body: AnalyzeRequest, caller: AnalyzeCaller, platform: PlatformDep) -> Response:
    characters = check_texts(platform, [body.text])
    await charge_texts(platform, caller, 1, characters)
    results, cached = await _analyze(request, platform, caller, [body.text], body)
    return Response(results[0], media_type="application/json", headers={"X-Cache": "hit" if cached else "miss"})


@router.post(
    "/analyze/batch",
    responses={200: {"model": BatchResults}},
    response_model=None,
    summary="Analyze up to max_batch_texts texts; results in input order",
)
async def analyze_batch(request: Request, body: BatchRequest, caller: AnalyzeCaller, platform: PlatformDep) -> Response:
    limit = platform.settings.max_batch_texts
    if len(body.texts) > limit:
        raise LimitExceeded(f"the batch has {len(body.texts)} texts; the limit is {limit}", "batch size")
    characters = check_texts(platform, body.texts)
    await charge_texts(platform, caller, len(body.texts), characters)
    results, cached = await _analyze(request, platform, caller, body.texts, body)
    payload = b'{"results":[' + b",".join(results) + b'],"cached":' + str(cached).encode() + b"}"
    return Response(payload, media_type="application/json")
