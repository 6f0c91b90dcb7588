"""The retention pass on SQLite and PostgreSQL: what is old goes, what is recent or still running stays, and a
second pass finds nothing more to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from opinara.config import Settings
from opinara.ingest.runner import Ingester
from opinara.jobs import records
from opinara.jobs.models import JobOptions
from opinara.ops.maintenance import run_maintenance
from opinara.store.models import AspectDaily, Job, JobItem, Review
from tests.ingest.test_ingest import review_2023, write_jsonl

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _job(store, status: str, finished_days_ago: float | None) -> str:
    job = records.create_analyze_job(store, [("a", "some text", None), ("b", "more text", None)], JobOptions())
    with store.session() as session:
        finished = NOW - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
        session.execute(update(Job).where(Job.id == job.id).values(status=status, finished_at=finished))
    return job.id


def test_finished_jobs_past_their_retention_are_deleted_with_their_items(store, tmp_path):
    old = _job(store, "succeeded", 31)
    old_failed = _job(store, "failed", 45)
    recent = _job(store, "succeeded", 2)
    running = _job(store, "running", None)
    settings = Settings(data_dir=tmp_path, job_retention_days=30)
    report = run_maintenance(store, settings, now=NOW)
    with store.session() as session:
        left = set(session.scalars(select(Job.id)))
        items = set(session.scalars(select(JobItem.job_id).distinct()))
    assert report.jobs_deleted == 2 and report.texts_blanked == 0
    assert left == items == {recent, running}
    assert old not in left and old_failed not in left
    assert run_maintenance(store, settings, now=NOW).jobs_deleted == 0, "a second pass has nothing to do"


def test_old_review_texts_are_blanked_and_their_insights_stay(store, lexicon_analyzer, tmp_path):
    Ingester(store, lexicon_analyzer).ingest(
        write_jsonl(tmp_path / "r.jsonl", [review_2023(i, f"The lid leaks badly, day {i}.") for i in range(3)])
    )
    with store.session() as session:
        session.execute(update(Review).where(Review.helpful_votes == 0).values(ingested_at=NOW - timedelta(days=400)))
        mentions_before = session.scalar(select(func.sum(AspectDaily.mentions)))
    kept = run_maintenance(store, Settings(data_dir=tmp_path, text_retention_days=None), now=NOW)
    blanked = run_maintenance(store, Settings(data_dir=tmp_path, text_retention_days=365), now=NOW)
    with store.session() as session:
        texts = {votes: text for votes, text in session.execute(select(Review.helpful_votes, Review.text))}
        mentions_after = session.scalar(select(func.sum(AspectDaily.mentions)))
    assert kept.texts_blanked == 0 and blanked.texts_blanked == 1
    assert texts[0] == "" and texts[1].startswith("The lid leaks")
    assert mentions_after == mentions_before, "the aggregates keep their numbers"
