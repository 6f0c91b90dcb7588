"""Product families on SQLite and PostgreSQL: a review filed under several ids of one product is one review,
credited to the family, whichever id came first; the counts a user sees add up."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from opinara.ingest.runner import Ingester
from opinara.insights import aggregates, queries
from opinara.store.models import AspectDaily, ProductReviewCount, ProductVariant
from tests.conftest import require_shared

DAY = 1_500_000_000


def review_2018(asin: str, author: str, text: str, day: int = 0, rating: float = 5.0) -> dict[str, object]:
    return {
        "overall": rating,
        "verified": True,
        "reviewTime": "07 14, 2017",
        "reviewerID": author,
        "asin": asin,
        "reviewerName": "someone",
        "reviewText": text,
        "summary": "summary",
        "unixReviewTime": DAY + day * 86_400,
    }


def write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def ingester(store, lexicon_analyzer):
    return Ingester(store, lexicon_analyzer)


def snapshot(store):
    with store.session() as session:
        daily = sorted(
            (r.product_id, r.aspect_group, r.day, r.mentions, r.positive, r.negative, r.rating_centi_sum)
            for r in session.scalars(select(AspectDaily))
        )
        counts = sorted((r.product_id, r.reason, r.reviews) for r in session.scalars(select(ProductReviewCount)))
    return daily, counts


def test_a_review_filed_under_every_colour_is_one_review_of_one_family(ingester, store, tmp_path):
    shared = "The fabric is soft and the stitching held up after many washes."
    rows = [
        review_2018("RED", "ann", shared),
        review_2018("BLUE", "ann", shared),
        review_2018("GREEN", "ann", shared),
        review_2018("BLUE", "bob", "Runs small, order a size up, otherwise a lovely shirt.", day=1, rating=4),
        review_2018("RED", "cid", "Nice", day=2),
        review_2018("BLUE", "cid", "Nice", day=2),
    ]
    summary = ingester.ingest(write(tmp_path / "fashion.json", rows))
    assert (summary.read, summary.stored, summary.duplicates, summary.rejected) == (6, 3, 3, 0)
    with store.session() as session:
        page = queries.products(session, min_mentions=1)
        by_variant = queries.product(session, "GREEN")
    [family] = page.products
    assert family.variants == ["BLUE", "GREEN", "RED"]
    assert by_variant.id == family.id
    # "Nice" by cid under RED and BLUE is too short to merge two products on, but within one family the same
    # author's same text at the same time is the same review: stored once.
    assert (family.reviews, family.counted_reviews, family.excluded) == (3, 3, {})
    assert family.average_rating == pytest.approx((5 + 4 + 5) / 3, abs=1e-3)


def test_short_copies_stored_before_the_families_met_are_removed_when_they_merge(ingester, store, tmp_path):
    rows = [
        review_2018("SMALL", "dan", "Love it"),
        review_2018("LARGE", "dan", "Love it"),  # a short text: no evidence yet that SMALL and LARGE are one
        review_2018("SMALL", "eve", "The seams came apart after the second wash, disappointing."),
        review_2018("LARGE", "eve", "The seams came apart after the second wash, disappointing."),
    ]
    before = ingester.ingest(write(tmp_path / "first.json", rows[:2]))
    assert before.stored == 2
    after = ingester.ingest(write(tmp_path / "second.json", rows[2:]))
    with store.session() as session:
        [family] = queries.products(session, min_mentions=1).products
        moved = snapshot(store)
        aggregates.rebuild(session)
    assert family.variants == ["LARGE", "SMALL"]
    assert (family.reviews, family.counted_reviews) == (2, 2), "one 'Love it' and one complaint"
    assert (after.stored, after.duplicates) == (0, 2), "the complaint once, and dan's copy removed by the merge"
    assert snapshot(store) == moved, "the family's aggregates equal rebuilt ones"


def test_two_families_with_reviews_of_their_own_merge_when_a_review_joins_them(ingester, store, tmp_path):
    first = write(
        tmp_path / "a.json",
        [
            review_2018("SIZE-S", "ann", "The zipper broke within a week of light use.", rating=1),
            review_2018("SIZE-L", "bob", "Great pockets and the zipper is sturdy enough.", day=1, rating=5),
        ],
    )
    ingester.ingest(first)
    with store.session() as session:
        assert len(queries.products(session).products) == 2, "nothing says they are one product yet"
    joining = write(
        tmp_path / "b.json",
        [
            review_2018("SIZE-L", "cid", "Comfortable straps and plenty of room for a laptop.", day=2, rating=4),
            review_2018("SIZE-S", "cid", "Comfortable straps and plenty of room for a laptop.", day=2, rating=4),
        ],
    )
    summary = ingester.ingest(joining)
    assert (summary.stored, summary.duplicates) == (1, 1)
    merged = snapshot(store)
    with store.session() as session:
        [family] = queries.products(session, min_mentions=1).products
        variants = sorted(session.scalars(select(ProductVariant.external_id)))
        aggregates.rebuild(session)
    assert family.variants == variants == ["SIZE-L", "SIZE-S"]
    assert (family.reviews, family.counted_reviews) == (3, 3)
    assert family.external_id == "SIZE-L", "the older family (one batch creates ids in sorted order) keeps its id"
    assert family.average_rating == pytest.approx(10 / 3, abs=1e-3)
    assert snapshot(store) == merged, "moved aggregates equal rebuilt ones"


def test_amazon_2023_parent_asin_names_the_family_and_its_variants(ingester, store, tmp_path):
    rows = [
        {
            "parent_asin": "P1",
            "asin": asin,
            "user_id": f"u{i}",
            "rating": 5,
            "timestamp": 1_700_000_000_000 + i,
            "text": f"Lovely colour and it fits well, review number {i}.",
        }
        for i, asin in enumerate(["A1", "A2", "A1", "A3"])
    ]
    ingester.ingest(write(tmp_path / "p.jsonl", rows))
    with store.session() as session:
        [family] = queries.products(session).products
        assert queries.product(session, "A2").id == family.id
    assert (family.external_id, family.variants, family.reviews) == ("P1", ["A1", "A2", "A3", "P1"], 4)


def test_the_shared_fashion_file_credits_every_review_to_its_family(ingester, store):
    path = require_shared("reviews", "AMAZON_FASHION_5.json")
    summary = ingester.ingest(path)
    with store.session() as session:
        families = queries.products(session, limit=500).products
    assert summary.rejected == 16, "the rows without reviewText"
    # The file lists 3,160 rows with text under 31 ASINs; they hold 446 distinct (reviewer, time, text)
    # reviews, 417-odd of them under 2 to 8 ASINs of one family. Each is stored once, in its family.
    assert summary.stored == sum(f.reviews for f in families) == 446
    assert summary.duplicates == 3160 - 446
    assert sum(len(f.variants) for f in families) == 31, "every ASIN belongs to exactly one family"
    assert len(families) == 19
    biggest = max(families, key=lambda f: f.reviews)
    assert len(biggest.variants) == 8 and biggest.reviews > 300, "the shirt sold in eight variants"
    assert sum(f.counted_reviews for f in families) >= 440
