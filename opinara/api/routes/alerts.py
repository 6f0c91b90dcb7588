"""Alerts: rules, what is firing and the history (``read``); rules, silences and channels are managed
with the ``alerts`` scope. Channel secrets are shown masked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from opinara.access.keys import Caller
from opinara.alerts.rules import RuleSpec
from opinara.alerts.service import (
    AlertHistory,
    AlertInfo,
    ChannelInfo,
    ChannelSpec,
    RuleChanges,
    RuleInfo,
    SilenceInfo,
    SilenceSpec,
)
from opinara.api.deps import PlatformDep, caller
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.validation import Cursor, ExternalId

router = APIRouter(prefix="/v1", tags=["alerts"], responses=PROBLEM_RESPONSES)
AlertsCaller = Annotated[Caller, caller("alerts")]
AlertsReader = Annotated[Caller, caller("alerts", "read")]
Ref = Annotated[ExternalId, Path(description="The name or number")]


@router.get("/alerts", summary="Every rule subject that is not inactive: firing first, then pending, no data, error")
def alerts(caller: AlertsReader, platform: PlatformDep) -> list[AlertInfo]:
    return platform.alerts.alerts()


@router.get("/alerts/history", summary="Transitions (fired, resolved, no data, error, recovered), newest first")
def history(
    caller: AlertsReader,
    platform: PlatformDep,
    rule: Annotated[ExternalId | None, Query()] = None,
    cursor: Annotated[Cursor | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertHistory:
    return platform.alerts.history(rule, cursor, limit)


@router.get("/alerts/rules", summary="The rules, shipped and made here, with how many subjects fire")
def rules(caller: AlertsReader, platform: PlatformDep) -> list[RuleInfo]:
    return platform.alerts.rules()


@router.post("/alerts/rules", status_code=status.HTTP_201_CREATED, summary="Add a rule")
def create_rule(caller: AlertsCaller, platform: PlatformDep, spec: RuleSpec) -> RuleInfo:
    return platform.alerts.create_rule(spec)


@router.patch("/alerts/rules/{rule}", summary="Enable, disable or change a rule (its states start afresh)")
def update_rule(caller: AlertsCaller, platform: PlatformDep, rule: Ref, changes: RuleChanges) -> RuleInfo:
    return platform.alerts.update_rule(rule, changes)


@router.delete("/alerts/rules/{rule}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a rule made here")
def delete_rule(caller: AlertsCaller, platform: PlatformDep, rule: Ref) -> None:
    platform.alerts.delete_rule(rule)


@router.get("/silences", summary="Silences, newest first, with whether each is active")
def silences(caller: AlertsReader, platform: PlatformDep) -> list[SilenceInfo]:
    return platform.alerts.silences()


@router.post("/silences", status_code=status.HTTP_201_CREATED, summary="Silence alerts whose labels match")
def create_silence(caller: AlertsCaller, platform: PlatformDep, spec: SilenceSpec) -> SilenceInfo:
    return platform.alerts.create_silence(spec, caller.name)


@router.delete("/silences/{silence_id}", summary="End a silence now (it stays in the list)")
def expire_silence(caller: AlertsCaller, platform: PlatformDep, silence_id: Annotated[Cursor, Path()]) -> SilenceInfo:
    return platform.alerts.expire_silence(silence_id)


@router.get("/channels", summary="Notification channels (secrets masked)")
def channels(caller: AlertsCaller, platform: PlatformDep) -> list[ChannelInfo]:
    return platform.alerts.channels()


@router.post(
    "/channels", status_code=status.HTTP_201_CREATED, summary="Add a channel: webhook, slack, email, alertmanager"
)
def create_channel(caller: AlertsCaller, platform: PlatformDep, spec: ChannelSpec) -> ChannelInfo:
    return platform.alerts.create_channel(spec)


@router.delete("/channels/{channel}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a channel")
def delete_channel(caller: AlertsCaller, platform: PlatformDep, channel: Ref) -> None:
    platform.alerts.delete_channel(channel)
