"""What the monitor service takes and returns: typed, and served as they are by the API and the CLI."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from opinara.insights.models import ProductRef
from opinara.validation import CleanText

MonitorState = Literal["active", "paused"]
RunStatus = Literal["running", "success", "partial", "failed", "rate_limited", "skipped"]
ConnectorName = Literal["rss", "reddit", "mastodon", "hackernews", "youtube", "webhook"]
MonitorName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f,]+$")]
ParamValue = Annotated[CleanText, StringConstraints(max_length=2048)]
MIN_INTERVAL = 60
DEFAULT_INTERVAL = 15 * 60
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(value: object) -> object:
    """``15m``, ``1h``, ``90s``, ``2d`` or a number of seconds; at least one minute."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if not found:
            raise ValueError("must be a duration like 15m, 1h, 90s or 2d")
        value = int(found.group(1)) * _UNITS[found.group(2)]
    if isinstance(value, int | float) and not isinstance(value, bool) and value < MIN_INTERVAL:
        raise ValueError(f"must be at least {MIN_INTERVAL} seconds")
    return value


Interval = Annotated[int, BeforeValidator(parse_interval), Field(ge=MIN_INTERVAL, le=30 * 86400)]


class MonitorSpec(BaseModel):
    """A new monitor."""

    model_config = ConfigDict(extra="forbid")

    name: MonitorName
    connector: ConnectorName
    params: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")], ParamValue] = Field(
        default_factory=dict, description="The connector's parameters; secrets (keys, tokens) are stored encrypted"
    )
    every: Interval = Field(default=DEFAULT_INTERVAL, description="How often it runs: 15m, 1h, or seconds")
    tags: list[Tag] = Field(default_factory=list, max_length=50, description="Brands or topics it counts toward")
    product: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="The product it is about (external id or number)"
    )


class MonitorChanges(BaseModel):
    """An edit: only the fields given change. ``params`` are merged (a value of "" removes one)."""

    model_config = ConfigDict(extra="forbid")

    params: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")], ParamValue] | None = None
    every: Interval | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    product: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="A product, or an empty string for none"
    )


class MonitorInfo(BaseModel):
    id: int
    name: str
    connector: str = Field(description="The registered connector: connector.reddit.v1")
    params: dict[str, str] = Field(description="Parameters; secrets shown masked, references as they are")
    interval_seconds: int
    tags: list[str]
    product: ProductRef | None
    state: MonitorState
    paused_reason: str | None
    next_run_at: datetime
    last_run_at: datetime | None
    last_status: str | None
    last_error: str | None
    failures: int = Field(description="Failed runs in a row")
    running: bool
    created_at: datetime
    updated_at: datetime


class CreatedMonitor(BaseModel):
    monitor: MonitorInfo
    webhook_secret: str | None = Field(
        default=None, description="A webhook monitor's signing secret: shown once, stored encrypted"
    )


class MonitorList(BaseModel):
    monitors: list[MonitorInfo]


class RunInfo(BaseModel):
    id: int
    monitor_id: int
    status: RunStatus
    due_at: datetime
    started_at: datetime
    finished_at: datetime | None
    lag_seconds: float = Field(description="From due time to start")
    http_calls: int
    fetched: int
    new: int
    duplicates: int
    rejected: int
    error: str | None
    cursor_before: dict[str, Any]
    cursor_after: dict[str, Any] | None
    next_run_at: datetime | None


class RunPage(BaseModel):
    runs: list[RunInfo]
    next_cursor: int | None


class Removed(BaseModel):
    monitor: str
    mentions: int = Field(description="The monitor's mentions, removed with it")


class RejectedEvent(BaseModel):
    index: int
    reason: str


class EventsAccepted(BaseModel):
    """What a webhook delivery added: new mentions, items already received, and items that were refused."""

    run_id: int
    received: int
    new: int
    duplicates: int
    rejected: list[RejectedEvent]
