"""Sentiment dips end to end on SQLite and PostgreSQL: eight steady weeks of reviews, then a week where
battery complaints triple -> one sentiment_dip insight for that product and aspect, with examples;
evaluated again -> the same insight refreshed; the rise gone -> resolved; a steady product -> nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from opinara.config import Settings
from opinara.ingest.runner import Ingester
from opinara.insights.anomalies import InsightService
from opinara.insights.dips import detect_emerging_aspects, detect_sentiment_dips

START = date(2026, 9, 7)  # a Monday; nine weeks of reviews
CALM = ["The sound is great.", "Comfortable fit and good case.", "Pairing was quick.", "Nice sound, good value."]


def week_rows(product: str, week: int, complaints: int, reviews: int = 100) -> list[str]:
    rows = []
    for i in range(reviews):
        day = START + timedelta(days=7 * week + i % 7)
        text = "The battery is terrible and dies fast." if i < complaints else CALM[i % len(CALM)]
        rating = 1 if i < complaints else 5
        order = f"Order {product}-{week}-{i}."  # a text of its own: repeated texts count once
        rows.append(f'{product},{rating},{day.isoformat()},"{text} {order}"')
    return rows


@pytest.fixture
def service(store, tmp_path):
    return InsightService(Settings(data_dir=tmp_path), store)


def test_a_week_of_tripled_battery_complaints_is_one_dip_with_examples(store, lexicon_analyzer, service, tmp_path):
    lines = ["product_id,rating,date,text"]
    for week in range(9):
        lines += week_rows("aurora-x2", week, 24 if week == 8 else 8, reviews=200)
        lines += week_rows("steady-s1", week, 4)
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    Ingester(store, lexicon_analyzer).ingest(path)
    now = datetime.combine(START + timedelta(days=7 * 8 + 6), datetime.min.time(), UTC)

    report = detect_sentiment_dips(store, service, now, weeks=8)
    assert (report.raised, report.created, report.resolved) == (1, 1, 0) and report.evaluated >= 2
    [dip] = service.list(status="open").insights
    assert dip.type == "sentiment_dip" and dip.entity["aspect"] == "battery"
    assert dip.entity["product_name"] == "aurora-x2"
    assert (
        dip.message.startswith("Complaints about battery on aurora-x2 ")
        and "of reviews this week (24 of 200)" in dip.message
    )
    assert "from 4% to 12%" in dip.message and "8-week baseline" in dip.message
    figures = dip.evidence["figures"]
    assert (figures["negative"], figures["reviews"], figures["baseline_negative"], figures["baseline_reviews"]) == (
        24,
        200,
        64,
        1600,
    )
    assert dip.evidence["window"] == {"start": "2026-11-02", "end": "2026-11-08"}
    assert len(dip.evidence["examples"]) == 5 and dip.severity in ("warning", "critical")

    again = detect_sentiment_dips(store, service, now + timedelta(hours=1), weeks=8)
    assert (again.raised, again.created) == (1, 0), "the open insight is refreshed, not repeated"
    assert len(service.list().insights) == 1

    later = detect_sentiment_dips(store, service, now + timedelta(days=14), weeks=8)
    assert later.resolved == 1 and service.get(dip.id).status == "resolved"
    assert service.get(dip.id).resolved_by == "condition ended"


def test_an_aspect_that_was_rare_and_is_now_talked_about_is_emerging(store, lexicon_analyzer, service, tmp_path):
    lines = ["product_id,rating,date,text"]
    for week in range(9):
        rows = week_rows("aurora-x2", week, 0, reviews=150)
        if week == 8:  # thirty reviews of the last week talk about the strap, which nobody did before
            rows = [row.replace("The sound is great.", "The strap is lovely and soft.") for row in rows]
        lines += rows
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    Ingester(store, lexicon_analyzer).ingest(path)
    now = datetime.combine(START + timedelta(days=62), datetime.min.time(), UTC)
    report = detect_emerging_aspects(store, service, now, weeks=8)
    assert (report.raised, report.created) == (1, 1)
    [insight] = service.list(type="emerging_aspect").insights
    assert insight.entity["aspect"] == "strap" and insight.message.startswith("Strap is new in aurora-x2 reviews: ")
    assert "against 0% over the 8 weeks before" in insight.message
    assert detect_sentiment_dips(store, service, now, weeks=8).raised == 0, "liked, not complained about"
