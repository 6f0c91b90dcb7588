"""POST /v1/analyze and /v1/analyze/batch: results in the analyzer's schema, batched and cached."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from opinara.analysis.schema import AnalysisResult
from opinara.api.deps import AnalyzeCaller, PlatformDep, take_texts
from opinara.api.problems import Problem
from opinara.api.schemas import AnalyzeParams, AnalyzeRequest, BatchRequest
from opinara.platform import Platform

router = APIRouter(prefix="/v1", tags=["analysis"])


def check_texts(platform: Platform, texts: list[str]) -> int:
    """Refuse oversized texts with 413; returns the characters in all texts."""
    limit = platform.settings.max_text_chars
    total = 0
    for index, text in enumerate(texts):
        if len(text) > limit:
            where = "the text" if len(texts) == 1 else f"text {index}"
            raise Problem(413, f"{where} has {len(text)} characters; the limit is {limit}", limit="text size")
        total += len(text)
    return total


async def _analyze(platform: Platform, texts: list[str], params: AnalyzeParams) -> tuple[list[bytes], int]:
    return await platform.analysis.analyze(texts, params.options(), params.backend, params.model)


@router.post("/analyze", responses={200: {"model": AnalysisResult}}, summary="Analyze one text")
async def analyze(body: AnalyzeRequest, caller: AnalyzeCaller, platform: PlatformDep) -> Response:
    characters = check_texts(platform, [body.text])
    await take_texts(platform, caller, 1, characters)
    results, cached = await _analyze(platform, [body.text], body)
    return Response(results[0], media_type="application/json", headers={"X-Cache": "hit" if cached else "miss"})


@router.post("/analyze/batch", summary="Analyze up to max_batch_texts texts; results in input order")
async def analyze_batch(body: BatchRequest, caller: AnalyzeCaller, platform: PlatformDep) -> Response:
    limit = platform.settings.max_batch_texts
    if len(body.texts) > limit:
        raise Problem(413, f"the batch has {len(body.texts)} texts; the limit is {limit}", limit="batch size")
    characters = check_texts(platform, body.texts)
    await take_texts(platform, caller, len(body.texts), characters)
    results, cached = await _analyze(platform, body.texts, body)
    payload = b'{"results":[' + b",".join(results) + b'],"cached":' + str(cached).encode() + b"}"
    return Response(payload, media_type="application/json")
