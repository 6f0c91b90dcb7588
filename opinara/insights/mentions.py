"""Mentions that monitors found: a paged list with filters, trends per monitor, share of voice per tag.

Every function reads; none writes. Volumes and sentiment come from the monitor aggregates
(``mention_aggregates``), so a trend or a share of voice reads one row per monitor and day."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from opinara.errors import InputError
from opinara.insights.aggregates import REVIEW_LEVEL
from opinara.insights.models import Period, ReviewAspect, StoredScores
from opinara.insights.queries import by_period, net
from opinara.insights.reviews import aspects_of
from opinara.monitors.service import find_monitor
from opinara.store.models import Analysis, Monitor, MonitorDaily, Review

COUNTS = ("mentions", "positive", "negative", "neutral", "mixed")


class MentionSentiment(BaseModel):
    label: str | None
    scores: StoredScores


class Mention(BaseModel):
    id: int
    monitor: str
    source: str
    external_id: str
    url: str | None
    author: str | None = Field(description="The author's keyed pseudonym, never the name")
    published_at: datetime | None
    title: str | None
    text: str
    language: str | None
    quality_flags: list[str]
    sentiment: MentionSentiment | None
    aspects: list[ReviewAspect]


class MentionPage(BaseModel):
    mentions: list[Mention]
    next_cursor: int | None


class TrendPoint(BaseModel):
    period: date
    mentions: int
    positive: int
    negative: int
    neutral: int
    net_sentiment: float


class MonitorTrends(BaseModel):
    monitor: str
    by: Period
    periods: list[TrendPoint]


class VoiceShare(BaseModel):
    tag: str
    mentions: int
    share: float = Field(description="This tag's mentions over all the tags' in the period, in [0, 1]")
    net_sentiment: float


class VoicePeriod(BaseModel):
    period: date
    tags: list[VoiceShare]


class ShareOfVoice(BaseModel):
    by: Period
    tags: list[str]
    periods: list[VoicePeriod]


def list_mentions(
    session: Session,
    monitor: str | None = None,
    tag: str | None = None,
    since: date | None = None,
    until: date | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> MentionPage:
    """A page of mentions, newest first; ``next_cursor`` goes back as ``cursor``."""
    query = (
        select(Review, Analysis, Monitor.name)
        .join(Monitor, Monitor.id == Review.monitor_id)
        .outerjoin(Analysis, Analysis.review_id == Review.id)
        .where(Review.kind == "mention")
        .order_by(Review.id.desc())
        .limit(limit + 1)
    )
    if monitor is not None:
        query = query.where(Review.monitor_id == find_monitor(session, monitor).id)
    if tag is not None:
        query = query.where(Review.monitor_id.in_(_monitors_with(session, tag)))
    if since is not None:
        query = query.where(Review.day >= since)
    if until is not None:
        query = query.where(Review.day <= until)
    if cursor is not None:
        query = query.where(Review.id < cursor)
    rows = session.execute(query).all()
    page = rows[:limit]
    aspects = aspects_of(session, [row.Review.id for row in page])
    return MentionPage(
        mentions=[_mention(row.Review, row.Analysis, row.name, aspects[row.Review.id]) for row in page],
        next_cursor=page[-1].Review.id if len(rows) > limit else None,
    )


def _mention(review: Review, analysis: Analysis | None, monitor: str, aspects: list[ReviewAspect]) -> Mention:
    return Mention(
        id=review.id,
        monitor=monitor,
        source=review.source,
        external_id=review.review_key.removeprefix("id:"),
        url=review.url,
        author=review.author_hash,
        published_at=review.created_at,
        title=review.title,
        text=review.text,
        language=review.language,
        quality_flags=list(review.quality_flags or []),
        sentiment=MentionSentiment(
            label=analysis.label,
            scores=StoredScores(positive=analysis.positive, negative=analysis.negative, neutral=analysis.neutral),
        )
        if analysis is not None
        else None,
        aspects=aspects,
    )


def _monitors_with(session: Session, tag: str) -> list[int]:
    return [m.id for m in session.scalars(select(Monitor)) if tag in (m.tags or [])]


def monitor_trends(session: Session, ref: str, by: Period = "day") -> MonitorTrends:
    """Mentions and net sentiment per period for one monitor."""
    monitor = find_monitor(session, ref)
    rows = session.scalars(
        select(MonitorDaily)
        .where(MonitorDaily.monitor_id == monitor.id, MonitorDaily.aspect_group == REVIEW_LEVEL)
        .order_by(MonitorDaily.day)
    )
    periods = [
        TrendPoint(
            period=start,
            mentions=c["mentions"],
            positive=c["positive"],
            negative=c["negative"],
            neutral=c["neutral"],
            net_sentiment=net(c["positive"], c["negative"], c["mentions"]),
        )
        for start, c in by_period(rows, by, COUNTS)
    ]
    return MonitorTrends(monitor=monitor.name, by=by, periods=periods)


def share_of_voice(session: Session, tags: list[str], by: Literal["day", "week", "month"] = "day") -> ShareOfVoice:
    """Per period, each tag's mentions (over the monitors that carry it), share and net sentiment."""
    if not tags:
        raise InputError("tags: name at least one tag")
    monitors = list(session.scalars(select(Monitor)))
    members = {tag: [m.id for m in monitors if tag in (m.tags or [])] for tag in tags}
    ids = sorted({i for group in members.values() for i in group})
    by_monitor: dict[int, list[MonitorDaily]] = defaultdict(list)
    if ids:
        for row in session.scalars(
            select(MonitorDaily).where(MonitorDaily.monitor_id.in_(ids), MonitorDaily.aspect_group == REVIEW_LEVEL)
        ):
            by_monitor[row.monitor_id].append(row)
    per_tag = {
        tag: dict(by_period([row for i in group for row in by_monitor[i]], by, COUNTS))
        for tag, group in members.items()
    }
    starts = sorted({start for counts in per_tag.values() for start in counts})
    periods = []
    for start in starts:
        total = sum(per_tag[tag].get(start, {}).get("mentions", 0) for tag in tags)
        shares = []
        for tag in tags:
            counts = per_tag[tag].get(start, dict.fromkeys(COUNTS, 0))
            shares.append(
                VoiceShare(
                    tag=tag,
                    mentions=counts["mentions"],
                    share=round(counts["mentions"] / total, 4) if total else 0.0,
                    net_sentiment=net(counts["positive"], counts["negative"], counts["mentions"]),
                )
            )
        periods.append(VoicePeriod(period=start, tags=shares))
    return ShareOfVoice(by=by, tags=tags, periods=periods)
