"""Ingest runs on SQLite and PostgreSQL: formats, rejects, idempotence, quality flags, aggregates."""

import gzip
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from opinara.errors import InputError
from opinara.ingest.metadata import ingest_metadata
from opinara.ingest.runner import Ingester, IngestOptions
from opinara.insights import aggregates
from opinara.store.models import AspectDaily, AspectMention, Product, ProductReviewCount, RejectedRecord, Review


def write_jsonl(path, rows):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(row if isinstance(row, str) else json.dumps(row))
            handle.write("\n")
    return path


def review_2023(i, text, rating=5.0, asin="B0TEST0001", **extra):
    return {
        "rating": rating,
        "title": f"title {i}",
        "text": text,
        "images": [],
        "asin": asin,
        "parent_asin": asin,
        "user_id": f"USER{i}",
        "timestamp": 1700000000000 + i * 86_400_000,
        "helpful_vote": i,
        "verified_purchase": True,
        **extra,
    }


def count(store, model):
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def ingester(store, lexicon_analyzer):
    return Ingester(store, lexicon_analyzer)


def test_amazon_2023_file_with_bad_records(ingester, store, tmp_path):
    path = write_jsonl(
        tmp_path / "reviews.jsonl.gz",
        [
            review_2023(1, "The battery life is great but the screen is dim."),
            "{broken json",
            review_2023(3, "Love the sturdy case.", rating=4.0),
            {k: v for k, v in review_2023(4, "x").items() if k != "text"},
            review_2023(5, 12345),
            review_2023(6, "Absurd rating here", rating=11),
            review_2023(7, "Terrible strap, it snapped.", rating=1.0, asin="B0TEST0002"),
        ],
    )
    summary = ingester.ingest(path)
    assert (summary.format, summary.read, summary.stored, summary.duplicates, summary.rejected) == (
        "amazon-2023",
        7,
        3,
        0,
        4,
    )
    with store.session() as session:
        rejected = {r.line: r.reason for r in session.scalars(select(RejectedRecord))}
        review = session.scalars(select(Review).where(Review.rating == 4.0)).one()
        products = set(session.scalars(select(Product.external_id)))
    assert rejected[2].startswith("invalid JSON")
    assert rejected[4] == "missing text"
    assert rejected[5] == "text is an int, not a string"
    assert rejected[6] == "rating 11 is outside 0-5"
    assert review.created_at.astimezone(UTC) == datetime.fromtimestamp(1700000000 + 3 * 86400, tz=UTC)
    assert (review.helpful_votes, review.verified_purchase, review.title) == (3, True, "title 3")
    assert review.author_hash and "USER3" not in review.author_hash
    assert products == {"B0TEST0001", "B0TEST0002"}


def test_reingest_adds_nothing_and_in_file_duplicates_are_counted(ingester, store, tmp_path):
    row = review_2023(1, "Great fit and great price.")
    path = write_jsonl(tmp_path / "dup.jsonl", [row, review_2023(2, "Zipper broke."), row])
    first = ingester.ingest(path)
    assert (first.stored, first.duplicates) == (2, 1)
    second = ingester.ingest(path)
    assert (second.stored, second.duplicates, second.run_id != first.run_id) == (0, 3, True)
    assert count(store, Review) == 2


def test_csv_with_a_column_mapping(ingester, store, tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text(
        "sku,stars,body,when,who,rid\n"
        'P1,5,"Comfortable straps, light pack.",2026-01-03,ann,r1\n'
        "P1,2,The zipper jams constantly.,2026-01-10,bob,r2\n"
        "P2,,No rating on this one but the lid cracked.,2026-02-01,cy,r3\n"
        "P2,9,Bad rating value.,2026-02-02,dee,r4\n"
    )
    mapping = {"product": "sku", "rating": "stars", "text": "body", "created_at": "when", "author": "who", "id": "rid"}
    summary = ingester.ingest(path, IngestOptions(mapping=mapping))
    assert (summary.format, summary.stored, summary.rejected) == ("csv", 3, 1)
    with store.session() as session:
        keys = set(session.scalars(select(Review.review_key)))
        unrated = session.scalars(select(Review).where(Review.review_key == "id:r3")).one()
    assert keys == {"id:r1", "id:r2", "id:r3"}
    assert unrated.rating is None and unrated.day.isoformat() == "2026-02-01"


def test_csv_without_a_text_column_is_refused(ingester, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no text column"):
        ingester.ingest(path)


def test_quality_flags_and_aggregates_leave_low_quality_out(ingester, store, tmp_path):
    copied = "I received this yesterday and honestly it is the best purchase I have made all year, five stars."
    path = write_jsonl(
        tmp_path / "quality.jsonl",
        [
            review_2023(1, "The screen is bright and the battery lasts all day."),
            review_2023(2, "Nice"),
            review_2023(3, "BUY NOW AT WWW.CHEAP-DEALS.EXAMPLE BEST PRICE!!!!!!!!"),
            review_2023(4, "The screen is bright and the battery lasts all day.", user_id="USER1"),
            review_2023(5, "La pantalla es muy brillante y la batería dura todo el día sin problemas."),
            review_2023(6, "Great gift"),
            review_2023(7, "Great gift"),
            review_2023(8, copied),
            review_2023(9, copied),
        ],
    )
    ingester.ingest(path)
    with store.session() as session:
        flags = {r.helpful_votes: (r.quality_flags, r.quality_score) for r in session.scalars(select(Review))}
        review_level = session.scalar(select(func.sum(AspectDaily.mentions)).where(AspectDaily.aspect_group == ""))
        counts = dict(session.execute(select(ProductReviewCount.reason, ProductReviewCount.reviews)).all())
    assert flags[1] == ([], 1.0)
    assert flags[2][0] == ["short"]
    assert "spam" in flags[3][0]
    assert flags[4][0] == ["duplicate_text"], "the same author's text again"
    assert flags[5][0] == ["language"]
    assert flags[6][0] == flags[7][0] == ["short"], "a short phrase many people write is no duplicate"
    assert flags[8][0] == [] and flags[9][0] == ["duplicate_text"], "a long text copied from another author"
    assert review_level == 5, "1, 2, 6, 7 and 8 count; the spam, duplicates and the Spanish one do not"
    assert counts == {"stored": 9, "counted": 5, "duplicate_text": 2, "spam": 1, "language": 1}


def test_rebuild_gives_identical_aggregates(ingester, store, tmp_path):
    rows = [
        review_2023(i, text, rating=float(1 + i % 5))
        for i, text in enumerate(
            ["The fit is great.", "The strap broke.", "Great strap.", "Awful fit and awful strap."] * 5
        )
    ]
    ingester.ingest(write_jsonl(tmp_path / "agg.jsonl", rows))

    def snapshot():
        with store.session() as session:
            return sorted(
                (
                    r.product_id,
                    r.aspect_group,
                    r.day,
                    r.mentions,
                    r.positive,
                    r.negative,
                    r.neutral,
                    r.mixed,
                    r.rating_centi_sum,
                    r.rating_count,
                )
                for r in session.scalars(select(AspectDaily))
            )

    before = snapshot()
    with store.session() as session:
        aggregates.rebuild(session)
    assert snapshot() == before
    assert any(group == "strap" for _, group, *_ in before)


def test_metadata_fills_product_titles(ingester, store, tmp_path):
    ingester.ingest(write_jsonl(tmp_path / "r.jsonl", [review_2023(1, "Great kettle, boils fast.")]))
    meta = write_jsonl(
        tmp_path / "meta.jsonl",
        [{"parent_asin": "B0TEST0001", "title": "Aurora Kettle", "main_category": "Home"}, "not json"],
    )
    assert ingest_metadata(store, meta) == 1
    with store.session() as session:
        product = session.scalars(select(Product)).one()
    assert (product.title, product.category) == ("Aurora Kettle", "Home")


def test_mentions_keep_spans_and_opinions(ingester, store, tmp_path):
    ingester.ingest(
        write_jsonl(tmp_path / "m.jsonl", [review_2023(1, "The battery life is great but the screen is dim.")])
    )
    with store.session() as session:
        mentions = {m.term: m for m in session.scalars(select(AspectMention))}
    assert mentions["battery life"].polarity == "positive" and mentions["battery life"].opinions == ["great"]
    assert mentions["screen"].polarity == "negative" and (mentions["screen"].start, mentions["screen"].end) == (34, 40)


def test_analyses_record_the_components_and_model_that_made_them(ingester, store, tmp_path):
    from opinara.store.models import Analysis

    ingester.ingest(write_jsonl(tmp_path / "c.jsonl", [review_2023(1, "The lid is sturdy and the handle is great.")]))
    with store.session() as session:
        analysis = session.scalars(select(Analysis)).one()
    assert (analysis.component, analysis.aspects_component) == ("sentiment.vader.v1", "aspects.rules.v1")
    assert analysis.model_version.startswith("lexicon:sentiment.vader.v1@")
