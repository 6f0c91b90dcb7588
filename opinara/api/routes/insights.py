"""Insights: what the detectors found, newest first (``read``); acknowledge and resolve (``alerts``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from opinara.access.keys import Caller
from opinara.api.deps import PlatformDep, ReadCaller, caller
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.insights.anomalies import InsightInfo, InsightPage, InsightType, Severity, Status
from opinara.validation import Cursor

router = APIRouter(prefix="/v1/insights", tags=["insights"], responses=PROBLEM_RESPONSES)
AlertsCaller = Annotated[Caller, caller("alerts")]
InsightId = Annotated[Cursor, Path(description="The insight's number")]


@router.get("", summary="Insights, newest first; filters and cursor paging")
def list_insights(
    caller: ReadCaller,
    platform: PlatformDep,
    status: Status | None = None,
    type: InsightType | None = None,
    severity: Annotated[Severity | None, Query(description="The least severity shown")] = None,
    entity_kind: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[Cursor | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> InsightPage:
    return platform.insights.list(status, type, severity, entity_kind, cursor, limit)


@router.get("/{insight_id}", summary="One insight with its evidence")
def get_insight(caller: ReadCaller, platform: PlatformDep, insight_id: InsightId) -> InsightInfo:
    return platform.insights.get(insight_id)


@router.post("/{insight_id}/acknowledge", summary="Someone is on it (a resolved insight stays resolved)")
def acknowledge(caller: AlertsCaller, platform: PlatformDep, insight_id: InsightId) -> InsightInfo:
    return platform.insights.acknowledge(insight_id, caller.name)


@router.post("/{insight_id}/resolve", summary="Resolve by hand; the same type and entity then cools down")
def resolve(caller: AlertsCaller, platform: PlatformDep, insight_id: InsightId) -> InsightInfo:
    return platform.insights.resolve(insight_id, caller.name)
