"""Cursor paging, property-tested: whatever the page size, walking the pages of products, reviews and job
results gives every row exactly once, in order, and the last page says so; a cursor from anywhere is safe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from opinara.config import Settings
from opinara.ingest.runner import Ingester
from opinara.insights import queries
from opinara.insights.reviews import list_reviews
from opinara.jobs import records
from opinara.jobs.models import JobOptions
from opinara.store.db import Store, open_store
from opinara.store.models import JobItem, Product, Review
from opinara.validation import MAX_ID

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PRODUCTS = 7
REVIEWS_PER_PRODUCT = 5
JOB_ITEMS = 23


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, lexicon_analyzer) -> Iterator[Store]:
    folder: Path = tmp_path_factory.mktemp("paging")
    store = open_store(Settings(data_dir=folder))
    rows = [
        {
            "parent_asin": f"P{p}",
            "asin": f"P{p}",
            "user_id": f"u{p}-{r}",
            "rating": 1 + (p + r) % 5,
            "timestamp": 1_767_225_600_000 + (p * 10 + r) * 86_400_000,
            "text": f"Product {p}, review {r}: the handle is {'great' if r % 2 else 'awful'} and sturdy enough.",
        }
        for p in range(PRODUCTS)
        for r in range(REVIEWS_PER_PRODUCT)
    ]
    path = folder / "reviews.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    Ingester(store, lexicon_analyzer).ingest(path)
    yield store
    store.engine.dispose()


@pytest.fixture(scope="module")
def job_id(store: Store, lexicon_analyzer) -> str:
    items = [(f"id{i}", f"text {i}", "bad line" if i % 5 == 0 else None) for i in range(JOB_ITEMS)]
    job = records.create_analyze_job(store, items, JobOptions())
    result = lexicon_analyzer.analyze(["a fine text"])[0].model_dump(mode="json")
    with store.session() as session:  # results as a worker writes them
        session.execute(update(JobItem).where(JobItem.job_id == job.id, JobItem.error.is_(None)).values(result=result))
    return job.id


def _walk(fetch, first) -> list[int]:
    seen, cursor = [], first
    for _ in range(1000):
        ids, cursor = fetch(cursor)
        seen += ids
        if cursor is None:
            return seen
    raise AssertionError("paging never ended")


@PROPERTY
@given(limit=st.integers(min_value=1, max_value=PRODUCTS + 2))
def test_product_pages_give_every_product_once_in_order(store, limit):
    with store.session() as session:
        expected = list(session.scalars(select(Product.id).order_by(Product.id)))

        def fetch(cursor):
            page = queries.products(session, cursor=cursor, limit=limit)
            assert len(page.products) <= limit
            return [p.id for p in page.products], page.next_cursor

        assert _walk(fetch, None) == expected


@PROPERTY
@given(limit=st.integers(min_value=1, max_value=40), product=st.sampled_from([None, "P0", "P3"]))
def test_review_pages_give_every_review_once_newest_first(store, limit, product):
    with store.session() as session:
        query = select(Review.id).order_by(Review.id.desc())
        if product:
            query = query.join(Product).where(Product.external_id == product)
        expected = list(session.scalars(query))

        def fetch(cursor):
            page = list_reviews(session, product=product, cursor=cursor, limit=limit)
            return [r.id for r in page.reviews], page.next_cursor

        assert _walk(fetch, None) == expected


@PROPERTY
@given(limit=st.integers(min_value=1, max_value=JOB_ITEMS + 3))
def test_job_result_pages_give_every_item_once_in_input_order(store, job_id, limit):
    def fetch(cursor):
        page = records.job_results(store, job_id, cursor, limit)
        return [item.index for item in page.items], page.next_cursor

    assert _walk(fetch, -1) == list(range(JOB_ITEMS))


@PROPERTY
@given(cursor=st.integers(min_value=1, max_value=MAX_ID))
def test_a_cursor_from_anywhere_gives_a_page_after_it(store, cursor):
    with store.session() as session:
        reviews = list_reviews(session, cursor=cursor, limit=10)
        products = queries.products(session, cursor=cursor, limit=10)
    assert all(r.id < cursor for r in reviews.reviews)
    assert all(p.id > cursor for p in products.products)
