"""Metric series: hosts POST points (the ``metrics`` scope, which may do nothing else); ``read`` lists
series and reads their points at a step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from starlette.concurrency import run_in_threadpool

from opinara.access.keys import Caller
from opinara.api.deps import PlatformDep, ReadCaller, caller
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.errors import FieldError
from opinara.signals.points import LABEL, NAME
from opinara.signals.service import MetricsWritten, SeriesData, SeriesList, Step
from opinara.validation import CleanText, Cursor

router = APIRouter(prefix="/v1", tags=["metrics"], responses=PROBLEM_RESPONSES)
MetricsCaller = Annotated[Caller, caller("metrics")]
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

HOST_EXAMPLE = {
    "timestamp": "2026-11-23T10:00:00Z",
    "hostname": "web-1",
    "cpuUsage": 75.5,
    "memoryUsage": 82.3,
    "diskIO": 200.5,
    "networkIO": 150.2,
}
SERIES_EXAMPLE = {"series": "queue_depth", "labels": {"host": "web-1"}, "points": [["2026-11-23T10:00:00Z", 12.0]]}


@router.post(
    "/metrics",
    summary="Store metric points: host samples or named series, one object or a list",
    description=(
        "A host sample (hostname, timestamp and numeric fields: each field becomes the series "
        "host_<field in snake case> with the label host) or a named series with labels and "
        "[timestamp, value] points. Bad points are refused with where they are; the rest are stored. A "
        "point sent again for the same series and instant is a duplicate and changes nothing."
    ),
)
async def write_metrics(
    caller: MetricsCaller,
    platform: PlatformDep,
    body: Annotated[
        dict[str, Any] | list[Any],
        Body(openapi_examples={"host": {"value": HOST_EXAMPLE}, "series": {"value": [SERIES_EXAMPLE]}}),
    ],
) -> MetricsWritten:
    return await run_in_threadpool(platform.series.write_payload, body)


@router.get("/series", summary="The stored series, by name prefix; cursor paging")
def list_series(
    caller: ReadCaller,
    platform: PlatformDep,
    prefix: Annotated[CleanText | None, Query(max_length=128)] = None,
    cursor: Annotated[Cursor | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SeriesList:
    return platform.series.list_series(prefix, cursor, limit)


@router.get("/series/{name}", summary="A series' points in [from, to): raw, or per minute or hour")
def read_series(
    caller: ReadCaller,
    platform: PlatformDep,
    name: Annotated[str, Path(max_length=128, pattern=NAME.pattern)],
    labels: Annotated[CleanText | None, Query(max_length=2000, description="host=web-1,region=eu")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="Default: a day before to")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Default: now")] = None,
    step: Step = "auto",
) -> SeriesData:
    end = _aware(end, "to") if end is not None else datetime.now(UTC)
    start = _aware(start, "from") if start is not None else end - timedelta(days=1)
    return platform.series.read(name, _labels(labels), start, end, step)


def _aware(moment: datetime, field: str) -> datetime:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not EARLIEST <= moment <= LATEST:
        raise FieldError(field, "must lie between 1970 and 2200")
    return moment


def _labels(text: str | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        name, sep, value = pair.partition("=")
        if not sep or not LABEL.fullmatch(name.strip()) or not value.strip():
            raise FieldError("labels", "must be name=value pairs separated by commas, such as host=web-1")
        labels[name.strip()] = value.strip()
    return labels
