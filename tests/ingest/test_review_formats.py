import io
import json

import pytest

from opinara.errors import InputError
from opinara.ingest.quality import quality_score, spam_signals
from opinara.ingest.review_formats import (
    AMAZON_2018,
    AMAZON_2023,
    csv_columns,
    detect_review_format,
    read_csv_reviews,
    read_json_reviews,
    review_key,
)


def stream(*lines: object) -> io.BytesIO:
    return io.BytesIO("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode())


def test_detects_each_schema_from_its_fields():
    assert detect_review_format(stream({"reviewText": "x", "asin": "A", "overall": 5}), "f", False) == AMAZON_2018
    assert (
        detect_review_format(stream("junk", {"text": "x", "asin": "A", "parent_asin": "P"}), "f", False) == AMAZON_2023
    )
    assert detect_review_format(stream("a,b"), "f.csv", True) == "csv"
    with pytest.raises(InputError, match="unknown JSON Lines review schema"):
        detect_review_format(stream({"foo": 1}), "f", False)


def test_2018_records_and_their_problems():
    rows = list(
        read_json_reviews(
            stream(
                {
                    "overall": 4.0,
                    "reviewText": "Nice.",
                    "summary": "ok",
                    "asin": "A1",
                    "reviewerID": "R",
                    "unixReviewTime": 1472688000,
                    "vote": "1,204",
                    "verified": True,
                },
                {"overall": "five", "reviewText": "x", "asin": "A1"},
                {"overall": 3, "reviewText": "x", "asin": "A1", "unixReviewTime": 10**15},
                {"overall": 3, "reviewText": "x"},
            ),
            AMAZON_2018,
        )
    )
    record = rows[0][1]
    assert (record.product, record.rating, record.title, record.helpful_votes, record.verified_purchase) == (
        "A1",
        4.0,
        "ok",
        1204,
        True,
    )
    assert record.created_at.isoformat() == "2016-09-01T00:00:00+00:00"
    assert [r[1] for r in rows[1:]] == [
        "rating 'five' is not a number",
        "timestamp 1000000000000000 is out of range",
        "missing asin",
    ]


def test_resume_skips_lines_up_to_the_checkpoint():
    lines = [{"text": f"t{i}", "asin": "A", "timestamp": 1700000000000} for i in range(5)]
    assert [n for n, _, _ in read_json_reviews(stream(*lines), AMAZON_2023, start_line=3)] == [4, 5]


def test_csv_defaults_and_mapping_errors():
    assert csv_columns(["review_id", "asin", "stars", "body"], {}) == {
        "text": "body",
        "rating": "stars",
        "product": "asin",
        "id": "review_id",
    }
    with pytest.raises(InputError, match="unknown field"):
        csv_columns(["a"], {"colour": "a"})
    with pytest.raises(InputError, match="not in the CSV header"):
        csv_columns(["a"], {"text": "b"})


def test_csv_rows_with_dates_and_bad_fields():
    data = io.BytesIO(b"product,text,date,rating\nP,Good.,2026-03-04,4\nP,Bad date.,yesterday,2\nP,Short row\n")
    rows = list(read_csv_reviews(data, {"created_at": "date"}))
    assert rows[0][1].created_at.isoformat() == "2026-03-04T00:00:00+00:00"
    assert rows[1][1] == "date 'yesterday' is not ISO 8601 or a Unix timestamp"
    assert rows[2][1] == "row has 2 fields, the header 4"


def test_review_key_prefers_the_source_id():
    assert review_key("abc", "u", "p", None, "t") == "id:abc"
    assert review_key(None, "u", "p", None, "t") == review_key(None, "u", "p", None, "t")
    assert review_key(None, "u", "p", None, "t") != review_key(None, "u", "p", None, "t2")


def test_spam_signals_and_scores():
    assert spam_signals("Visit www.deals.example for more")
    assert spam_signals("sooooooooo good")
    assert not spam_signals("The strap broke after a week, sadly.")
    assert quality_score([]) == 1.0 and quality_score(["short"]) == 0.7 and quality_score(["empty"]) == 0.0
