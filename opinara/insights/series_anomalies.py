"""Insights from stored series: volume spikes and drops, metric anomalies on hosts, level shifts.

- Volumes (``reviews_daily{product}``, ``mentions_daily{monitor}``, ``mentions_daily_tag{tag}``): the
  latest day against the same weekday of the weeks before (or the recent days, while there are fewer
  than four such weeks), by ``detector.counts.v1``: ``volume_spike`` / ``volume_drop``.
- Host metrics (``host_*{host}``): the default streaming detector replayed over the last
  ``REPLAY_HOURS`` of points; an alert within the last ``recent`` seconds is a ``metric_anomaly``.
- Sentiment level (``net_sentiment_daily{product}``): ``detector.cusum.v1`` over the last weeks; a shift
  found on the latest day is a ``level_shift``.
Each open insight whose condition is gone is resolved by the same pass. Reads series through the store;
raises insights through :class:`InsightService`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select

from opinara.insights.anomalies import InsightCandidate, InsightService, Severity
from opinara.signals.detectors.base import DEFAULT_DETECTOR, DETECTORS, load
from opinara.signals.detectors.counts import CountTest
from opinara.signals.detectors.cusum import LevelShift
from opinara.store.db import Store
from opinara.store.models import MetricPoint, MetricSeries

VOLUMES = {
    "reviews_daily": ("product", "reviews"),
    "mentions_daily": ("monitor", "mentions"),
    "mentions_daily_tag": ("tag", "mentions"),
}
HISTORY_DAYS = 56
REPLAY_HOURS = 48
SHIFT_DAYS = 7  # a level shift stays an open insight for a week of daily points
FRESH = timedelta(days=2)  # a daily series whose latest point is older is not judged


class SeriesReport(BaseModel):
    judged: int = 0
    raised: int = 0
    created: int = 0
    resolved: int = 0


def _series(session: object, names: list[str] | None = None, prefix: str | None = None) -> list[tuple[int, str, dict]]:
    query = select(MetricSeries.id, MetricSeries.name, MetricSeries.labels)
    query = (
        query.where(MetricSeries.name.in_(names)) if names else query.where(MetricSeries.name.startswith(prefix or ""))
    )
    return [(sid, name, dict(labels)) for sid, name, labels in session.execute(query)]  # type: ignore[attr-defined]


def _points(session: object, series_id: int, since: datetime, until: datetime) -> list[tuple[datetime, float]]:
    query = (
        select(MetricPoint.at, MetricPoint.value)
        .where(MetricPoint.series_id == series_id, MetricPoint.at > since, MetricPoint.at <= until)
        .order_by(MetricPoint.at)
    )
    return [(at, value) for at, value in session.execute(query)]  # type: ignore[attr-defined]


def _raise_all(
    insights: InsightService,
    candidates: list[InsightCandidate],
    detector: str,
    types: list[str],
    now: datetime,
    judged: int,
) -> SeriesReport:
    report = SeriesReport(judged=judged, raised=len(candidates))
    present = set()
    for candidate in candidates:
        present.add(candidate.entity_key())
        raised = insights.raise_insight(candidate, now)
        report.created += int(bool(raised and raised.created))
    report.resolved = insights.resolve_ended(detector, types, present, now)
    return report


def _severity(score: float, ratio: float) -> Severity:
    if score >= 0.9 and (ratio >= 4 or ratio <= 0.25):
        return "critical"
    return "warning" if ratio >= 2 or ratio <= 0.5 else "info"


def detect_volume_changes(
    store: Store, insights: InsightService, now: datetime, test: CountTest | None = None
) -> SeriesReport:
    test = test or CountTest()
    candidates, judged = [], 0
    with store.session() as session:
        for series_id, name, labels in _series(session, list(VOLUMES)):
            points = _points(session, series_id, now - timedelta(days=HISTORY_DAYS + 1), now)
            if len(points) < 2 or now - points[-1][0] > FRESH:
                continue
            judged += 1
            latest, value = points[-1]
            earlier = [(at, v) for at, v in points[:-1]]
            same_day = [int(v) for at, v in earlier if at.weekday() == latest.weekday()]
            history = (
                same_day if len(same_day) >= 4 else [int(v) for at, v in earlier if latest - at <= timedelta(days=28)]
            )
            change = test.test(int(value), history)
            if not change.alert:
                continue
            kind, noun = VOLUMES[name]
            entity = labels.get(kind, "")
            day = (latest - timedelta(days=1)).date()
            verb = "rose" if change.direction == "spike" else "fell"
            candidates.append(
                InsightCandidate(
                    type="volume_spike" if change.direction == "spike" else "volume_drop",
                    severity=_severity(change.score, change.ratio),
                    entity_kind=kind,  # type: ignore[arg-type]
                    entity={kind: entity},
                    message=(
                        f"{noun.capitalize()} of {kind} {entity} {verb} to {change.count} on {day.isoformat()}, "
                        f"{change.ratio:.1f} times the usual {change.expected:.0f} a day"
                    ),
                    evidence={
                        "window": {"start": day.isoformat(), "end": day.isoformat()},
                        "baseline": {"days": len(history), "same_weekday": len(same_day) >= 4},
                        "figures": {
                            "count": change.count,
                            "expected": round(change.expected, 2),
                            "spread": round(change.spread, 2),
                            "ratio": round(change.ratio, 2),
                            "p_value": change.p_value,
                        },
                        "detector": CountTest.name,
                        "score": round(change.score, 4),
                        "series": {"name": name, "labels": labels},
                    },
                    detector=CountTest.name,
                    score=change.score,
                )
            )
    return _raise_all(insights, candidates, CountTest.name, ["volume_spike", "volume_drop"], now, judged)


def detect_metric_anomalies(store: Store, insights: InsightService, now: datetime, recent: timedelta) -> SeriesReport:
    load()
    candidates, judged = [], 0
    with store.session() as session:
        for series_id, name, labels in _series(session, prefix="host_"):
            points = _points(session, series_id, now - timedelta(hours=REPLAY_HOURS), now)
            if not points or now - points[-1][0] > recent:
                continue
            judged += 1
            detector = DETECTORS.create(DEFAULT_DETECTOR)
            found = None
            for at, value in points:
                verdict = detector.update(at, value)
                if verdict.alert and now - at <= recent:
                    found = (at, value, verdict)
            if found is None:
                continue
            at, value, verdict = found
            host = labels.get("host", "")
            metric = name.removeprefix("host_").replace("_", " ")
            expected = verdict.expected if verdict.expected is not None else value
            candidates.append(
                InsightCandidate(
                    type="metric_anomaly",
                    severity="critical" if verdict.score >= 0.9 else "warning",
                    entity_kind="host",
                    entity={"host": host, "series": name},
                    message=f"{metric.capitalize()} on {host} went to {value:g} at {at:%H:%M} UTC, against about {expected:.3g} expected",
                    evidence={
                        "window": {"start": at.isoformat(), "end": at.isoformat()},
                        "figures": {
                            "value": value,
                            "expected": verdict.expected,
                            "spread": verdict.spread,
                            "deviation": verdict.deviation,
                        },
                        "detector": detector.name,
                        "score": round(verdict.score, 4),
                        "series": {"name": name, "labels": labels},
                    },
                    detector=detector.name,
                    score=verdict.score,
                )
            )
    return _raise_all(insights, candidates, DETECTORS.create(DEFAULT_DETECTOR).name, ["metric_anomaly"], now, judged)


def detect_level_shifts(store: Store, insights: InsightService, now: datetime) -> SeriesReport:
    candidates, judged = [], 0
    with store.session() as session:
        for series_id, _name, labels in _series(session, ["net_sentiment_daily"]):
            points = _points(session, series_id, now - timedelta(days=HISTORY_DAYS + 1), now)
            if len(points) < 16 or now - points[-1][0] > FRESH:
                continue
            judged += 1
            detector = LevelShift()
            verdicts = [detector.update(at, value) for at, value in points]
            shifts = [i for i, verdict in enumerate(verdicts) if verdict.alert and len(points) - i <= SHIFT_DAYS]
            if not shifts:
                continue
            latest = verdicts[shifts[-1]]
            product = labels.get("product", "")
            before, after = latest.expected or 0.0, sum(v for _, v in points[shifts[-1] :]) / (len(points) - shifts[-1])
            candidates.append(
                InsightCandidate(
                    type="level_shift",
                    severity="warning" if abs(after - before) >= 0.2 else "info",
                    entity_kind="product",
                    entity={"product": product},
                    message=f"Net sentiment of {product} shifted from {before:+.2f} to {after:+.2f} around {(points[shifts[-1]][0] - timedelta(days=1)).date().isoformat()}",
                    evidence={
                        "window": {"start": points[shifts[-1]][0].isoformat(), "end": points[-1][0].isoformat()},
                        "figures": {"before": before, "after": after, "spread": latest.spread},
                        "detector": LevelShift.name,
                        "score": round(latest.score, 4),
                        "series": {"name": "net_sentiment_daily", "labels": labels},
                    },
                    detector=LevelShift.name,
                    score=latest.score,
                )
            )
    return _raise_all(insights, candidates, LevelShift.name, ["level_shift"], now, judged)
