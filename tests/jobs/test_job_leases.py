"""Jobs that finish: the heartbeat beside a long step, the reaper's requeue, swept uploads, chunks
bounded by characters, and an ingest run taken over while its first worker still writes. Real stores
(SQLite and PostgreSQL), real worker threads."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, update

from opinara.analysis.pipeline import Analyzer
from opinara.config import Settings
from opinara.ingest.runner import Ingester, IngestSummary
from opinara.jobs import leases, records
from opinara.jobs.models import JobOptions
from opinara.jobs.queue import JobQueue, Reaper, sweep_uploads
from opinara.jobs.runner import JobRunner
from opinara.platform import Platform
from opinara.privacy import Pseudonymizer
from opinara.serving.service import AnalysisService
from opinara.store.models import IngestRun, Job, RejectedRecord, Review
from tests.jobs.conftest import item_texts, write_amazon_reviews
from tests.store.conftest import make_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    yield from make_store(request.param, tmp_path)


def _job(store, texts=("a fine text",), **values) -> str:
    job = records.create_analyze_job(store, [(None, text, None) for text in texts], JobOptions())
    if values:
        with store.session() as session:
            session.execute(update(Job).where(Job.id == job.id).values(**values))
    return job.id


def _row(store, job_id: str) -> Job:
    with store.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_the_reaper_leaves_a_job_claimed_between_its_look_and_its_write(store):
    """A queued job untouched for a lease is the reaper's to re-queue, unless a worker claims it first:
    here the claim lands just before the reaper's write, and the reaper takes nothing back."""
    job_id = _job(store, created_at=records.now() - timedelta(seconds=120))
    claimed: list[bool] = []

    def claim_first(_conn, _cursor, statement: str, *_args) -> None:
        if not claimed and statement.lstrip().upper().startswith("UPDATE JOBS") and "RETURNING" in statement.upper():
            claimed.append(leases.claim(store, job_id, "worker-b", lease_seconds=30))

    event.listen(store.engine, "before_cursor_execute", claim_first)
    try:
        requeued = leases.requeue_stale(store, lease_seconds=30)
    finally:
        event.remove(store.engine, "before_cursor_execute", claim_first)
    row = _row(store, job_id)
    assert claimed == [True] and requeued == []
    assert (row.status, row.worker, row.attempts) == ("running", "worker-b", 1)


def test_the_reaper_requeues_jobs_of_silent_workers_and_lost_messages_oldest_first(store):
    old = records.now() - timedelta(seconds=120)
    lost = _job(store, created_at=old)
    silent = _job(store, created_at=old - timedelta(seconds=1))
    assert leases.claim(store, silent, "worker-a", lease_seconds=30)
    fresh = _job(store)
    with store.session() as session:
        session.execute(update(Job).where(Job.id == silent).values(heartbeat_at=old))
    assert leases.requeue_stale(store, lease_seconds=30) == [silent, lost]
    assert [_row(store, j).status for j in (silent, lost, fresh)] == ["queued", "queued", "queued"]
    assert leases.requeue_stale(store, lease_seconds=30) == [], "each is re-queued once per lease"
    assert not leases.heartbeat(store, silent, "worker-a"), "the silent worker finds it lost the job"


def test_a_job_that_ends_keeps_its_results_and_loses_its_texts(store):
    job_id = _job(store, texts=("first text", "second text"))
    assert leases.claim(store, job_id, "w", lease_seconds=30)
    assert leases.finish(store, job_id, "w", "succeeded")
    cancelled = _job(store, texts=("never run",))
    records.cancel_job(store, cancelled)
    assert item_texts(store, job_id) == ["", ""] and item_texts(store, cancelled) == [""]


def test_the_reaper_deletes_uploads_that_no_active_job_needs(store, tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    needed, ended, orphan, young = (folder / name for name in ("a.jsonl", "b.jsonl", "c.jsonl.gz", "d.csv"))
    for path in (needed, ended, orphan, young):
        path.write_text("{}\n")
    queued = records.create_ingest_job(store, str(needed), 3, JobOptions())
    cancelled = records.create_ingest_job(store, str(ended), 3, JobOptions())
    records.cancel_job(store, cancelled.id)
    an_hour_ago = time.time() - 3600
    for path in (needed, ended, orphan):
        os.utime(path, (an_hour_ago, an_hour_ago))
    queue = JobQueue(Settings(data_dir=tmp_path), lambda job_id: None)
    reaper = Reaper(store, queue, lease_seconds=30, uploads=folder, upload_grace_seconds=600)
    reaper.sweep()
    assert sorted(p.name for p in folder.iterdir()) == ["a.jsonl", "d.csv"]
    assert records.get_job(store, queued.id).status == "queued"
    assert sweep_uploads(store, folder, grace_seconds=0) == [young]


@pytest.fixture
def slow_platform(tmp_path: Path):
    """Two embedded workers, a 1-second lease, and an analyzer whose every call takes 1.5 s."""
    settings = Settings(
        data_dir=tmp_path,
        backend="lexicon",
        aspect_extractor="rules",
        job_lease_seconds=1.0,
        job_chunk_size=2,
    )
    platform = Platform(settings)
    loaded = platform.analysis.load()
    calls: list[list[str]] = []
    analyze = loaded.analyzer.analyze

    def slow(texts: list[str], options=None):
        calls.append(list(texts))
        time.sleep(1.5)
        return analyze(texts, options)

    loaded.analyzer.analyze = slow  # type: ignore[method-assign]
    platform.start(workers=2, preload=False)
    try:
        yield platform, calls
    finally:
        platform.stop()
        platform.store.engine.dispose()


def test_a_chunk_longer_than_the_lease_keeps_its_job_and_is_written_once(slow_platform):
    platform, calls = slow_platform
    texts = [f"text {i}: sturdy and well made" for i in range(5)]
    job = records.create_analyze_job(platform.store, [(f"r{i}", t, None) for i, t in enumerate(texts)], JobOptions())
    platform.queue.enqueue(job.id)
    deadline = time.monotonic() + 60
    while (done := records.get_job(platform.store, job.id)).status not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, done
        time.sleep(0.1)
    assert done.status == "succeeded" and done.attempts == 1 and done.succeeded == 5
    assert Counter(text for call in calls for text in call) == Counter(texts), "each text analyzed exactly once"
    results = records.job_results(platform.store, job.id).items
    assert [item.result.text_length for item in results] == [len(t) for t in texts]  # type: ignore[union-attr]


def test_chunks_are_bounded_by_characters_as_well_as_texts(tmp_path):
    settings = Settings(
        data_dir=tmp_path, backend="lexicon", aspect_extractor="rules", job_chunk_size=100, job_chunk_chars=1000
    )
    service = AnalysisService(settings)
    platform_store = make_store("sqlite", tmp_path)
    store = next(platform_store)
    calls: list[int] = []
    loaded = service.load()
    analyze = loaded.analyzer.analyze

    def counting(texts: list[str], options=None):
        calls.append(len(texts))
        return analyze(texts, options)

    loaded.analyzer.analyze = counting  # type: ignore[method-assign]
    long_texts = ["a long review. " * 40] * 3 + ["short"] * 4  # 600 characters each, then 5
    job = records.create_analyze_job(store, [(None, t, None) for t in long_texts], JobOptions())
    JobRunner(settings, store, service).run(job.id)
    assert records.get_job(store, job.id).status == "succeeded"
    assert calls == [1, 1, 5]
    service.close()
    next(platform_store, None)


class _MeetingPseudonymizer:
    """Authors' pseudonyms, after both workers have read the run's checkpoint (they meet at the first record)."""

    def __init__(self, real: Pseudonymizer, meeting: threading.Barrier) -> None:
        self.real = real
        self.meeting = meeting
        self.met = False

    def __call__(self, value: str | None) -> str | None:
        if not self.met:
            self.met = True
            self.meeting.wait(timeout=30)
        return self.real(value)


def test_a_second_worker_on_the_same_run_skips_rows_the_first_already_rejected(store, tmp_path):
    settings = Settings(data_dir=tmp_path, backend="lexicon", aspect_extractor="rules")
    analyzer = Analyzer(settings)
    path = write_amazon_reviews(tmp_path / "upload.jsonl", "BAG-1", 6)
    with path.open("a") as handle:
        handle.write("not json\n{}\n")  # two records every pass rejects
    meeting = threading.Barrier(2)
    summaries: list[IngestSummary] = []
    errors: list[BaseException] = []

    def work() -> None:
        pseudonymize = _MeetingPseudonymizer(Pseudonymizer.for_settings(settings), meeting)
        try:
            summaries.append(Ingester(store, analyzer, pseudonymize).ingest(path))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=work)
    first.start()
    while meeting.n_waiting < 1:  # the first worker has started the run and read its checkpoint
        assert first.is_alive(), errors
        threading.Event().wait(0.01)
    second = threading.Thread(target=work)  # takes over: finds the run running, resumes at the same line
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)
    assert errors == []
    with store.session() as session:
        runs = session.scalar(select(func.count()).select_from(IngestRun))
        rejected = list(session.scalars(select(RejectedRecord.line).order_by(RejectedRecord.line)))
        reviews = session.scalar(select(func.count()).select_from(Review))
    assert runs == 1 and rejected == [7, 8] and reviews == 6
    assert sorted(s.stored for s in summaries) == [0, 6]
