"""Insight queries on SQLite and PostgreSQL over a small CSV whose answers are known."""

import pytest

from opinara.errors import NotFoundError
from opinara.ingest.runner import Ingester
from opinara.insights import queries

ROWS = [
    # product, rating, date, text
    ("kettle", 5, "2026-01-05", "The handle is comfortable."),
    ("kettle", 5, "2026-01-06", "Great handle."),
    ("kettle", 1, "2026-01-20", "The lid is awful and it leaks."),
    ("kettle", 2, "2026-02-02", "The lid is terrible."),
    ("kettle", 4, "2026-02-03", "Comfortable handle."),
    ("toaster", 3, "2026-02-10", "The timer is fine."),
]


@pytest.fixture
def loaded(store, lexicon_analyzer, tmp_path):
    path = tmp_path / "shop.csv"
    lines = ["product_id,rating,date,text"] + [f'{p},{r},{d},"{t}"' for p, r, d, t in ROWS]
    path.write_text("\n".join(lines) + "\n")
    Ingester(store, lexicon_analyzer).ingest(path)
    return store


def test_products_summarize_reviews_ratings_and_aspects(loaded):
    with loaded.session() as session:
        products = {p.external_id: p for p in queries.products(session, min_mentions=1).products}
    kettle = products["kettle"]
    assert (kettle.reviews, kettle.counted_reviews, kettle.excluded) == (5, 5, {})
    assert kettle.variants == ["kettle"]
    assert kettle.average_rating == pytest.approx(17 / 5)
    mix = kettle.sentiment
    assert mix.positive + mix.negative + mix.neutral + mix.mixed == 5
    assert [a.group for a in kettle.top_positive_aspects][:1] == ["handle"]
    assert [a.group for a in kettle.top_negative_aspects][:1] == ["lid"]
    assert products["toaster"].reviews == 1


def test_products_are_paged_by_cursor(loaded):
    with loaded.session() as session:
        first = queries.products(session, limit=1)
        second = queries.products(session, limit=1, cursor=first.next_cursor)
        one = queries.product(session, "toaster")
    assert [p.external_id for p in first.products] == ["kettle"] and first.next_cursor is not None
    assert [p.external_id for p in second.products] == ["toaster"] and second.next_cursor is None
    assert one.reviews == 1 and one.external_id == "toaster"


def test_aspects_rank_and_show_examples(loaded):
    with loaded.session() as session:
        by_mentions = queries.aspects(session, "kettle")
        by_net = queries.aspects(session, "kettle", sort="net")
    handle = next(a for a in by_mentions.aspects if a.group == "handle")
    assert (handle.mentions, handle.positive, handle.negative) == (3, 3, 0)
    assert handle.net_sentiment == 1.0
    assert len(handle.examples) == 2 and "handle" in handle.examples[0].snippet.lower()
    assert by_net.aspects[0].group == "handle" and by_net.aspects[-1].group == "lid"


def test_aspects_without_examples_run_no_example_query(loaded):
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(loaded.engine, "before_cursor_execute", record)
    try:
        with loaded.session() as session:
            result = queries.aspects(session, "kettle", examples=0)
    finally:
        event.remove(loaded.engine, "before_cursor_execute", record)
    assert all(a.examples == [] for a in result.aspects) and result.aspects
    assert not [s for s in statements if "aspect_mentions" in s], "no example query when none are asked for"


def test_trends_bucket_by_period(loaded):
    with loaded.session() as session:
        months = queries.trends(session, "kettle", by="month").periods
        weeks = queries.trends(session, "kettle", aspect="lid", by="week").periods
    assert [(p.period.isoformat(), p.mentions) for p in months] == [("2026-01-01", 3), ("2026-02-01", 2)]
    assert months[0].average_rating == pytest.approx(11 / 3, abs=1e-3)
    assert [p.period.isoformat() for p in weeks] == ["2026-01-19", "2026-02-02"]


def test_drivers_find_the_aspect_behind_low_ratings(loaded):
    with loaded.session() as session:
        result = queries.drivers(session, "kettle", min_mentions=1)
    top = result.drivers[0]
    assert top.group == "lid"
    assert top.negative_reviews == 2 and top.average_rating_when_negative == 1.5
    assert top.share_of_low_ratings == 1.0
    assert (result.reviews, result.low_rated_reviews) == (5, 2)
    assert result.average_rating == pytest.approx(17 / 5)
    # impact: (mean - mean when negative) x share of rated reviews with the complaint
    assert top.impact == pytest.approx((17 / 5 - 1.5) * 2 / 5, abs=1e-4)


@pytest.mark.parametrize("ref", ["nope", "²", "99999999999999999999", "0"])
def test_unknown_product_is_not_found(loaded, ref):
    with loaded.session() as session, pytest.raises(NotFoundError, match="no product"):
        queries.aspects(session, ref)
