"""Mentions that monitors found, and share of voice across tags (the ``read`` scope)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from opinara.api.deps import PlatformDep, ReadCaller
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.insights.mentions import MentionPage, ShareOfVoice, list_mentions, share_of_voice
from opinara.validation import CleanText, Cursor, ExternalId, InRangeDate

router = APIRouter(prefix="/v1", tags=["mentions"], responses=PROBLEM_RESPONSES)


@router.get("/mentions", summary="Mentions with their analysis; filters and cursor paging, newest first")
def mentions(
    caller: ReadCaller,
    platform: PlatformDep,
    monitor: Annotated[ExternalId | None, Query(description="A monitor's name or number")] = None,
    tag: Annotated[CleanText | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[InRangeDate | None, Query()] = None,
    until: Annotated[InRangeDate | None, Query()] = None,
    cursor: Annotated[Cursor | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> MentionPage:
    with platform.store.session() as session:
        return list_mentions(session, monitor, tag, since, until, cursor, limit)


@router.get("/share-of-voice", summary="Mentions and net sentiment per tag per period, with each tag's share")
def voice(
    caller: ReadCaller,
    platform: PlatformDep,
    tags: Annotated[CleanText, Query(min_length=1, max_length=1000, description="Comma-separated tags")],
    by: Literal["day", "week", "month"] = "day",
) -> ShareOfVoice:
    names = list(dict.fromkeys(t.strip() for t in tags.split(",") if t.strip()))[:20]
    with platform.store.session() as session:
        return share_of_voice(session, names, by)
