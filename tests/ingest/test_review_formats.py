import collections
import io
import json

import pytest

from opinara.errors import InputError
from opinara.ingest import review_formats
from opinara.ingest.quality import quality_score, spam_signals
from opinara.ingest.review_formats import (
    AMAZON_2018,
    AMAZON_2023,
    RecordProblem,
    ReviewRecord,
    csv_columns,
    detect_review_format,
    read_csv_reviews,
    read_json_reviews,
    review_key,
)
from opinara.privacy import Pseudonymizer
from tests.conftest import require_shared

PSEUDONYM = Pseudonymizer(b"0" * 32)


def stream(*lines: object) -> io.BytesIO:
    return io.BytesIO("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode())


def review_2023(**fields: object) -> dict[str, object]:
    row = {
        "rating": 4.0,
        "title": "Fits well",
        "text": "The strap is comfortable.",
        "asin": "B0CHILD001",
        "parent_asin": "B0PARENT01",
        "user_id": "USER1",
        "timestamp": 1700000000000,
        "helpful_vote": 2,
        "verified_purchase": True,
    }
    return {k: v for k, v in {**row, **fields}.items() if v is not ...}


def parse_2023(*rows: object, **options: object) -> list[tuple[int, ReviewRecord | RecordProblem, str]]:
    return list(read_json_reviews(stream(*rows), AMAZON_2023, 0, PSEUDONYM, **options))  # type: ignore[arg-type]


def reasons(items: list[tuple[int, ReviewRecord | RecordProblem, str]]) -> dict[int, str]:
    return {line: str(item) for line, item, _ in items if isinstance(item, RecordProblem)}


def test_detects_each_schema_from_its_fields():
    assert detect_review_format(stream({"reviewText": "x", "asin": "A", "overall": 5}), "f", False) == AMAZON_2018
    assert (
        detect_review_format(stream("junk", {"text": "x", "asin": "A", "parent_asin": "P"}), "f", False) == AMAZON_2023
    )
    assert detect_review_format(stream("x" * 5000, {"text": "x", "asin": "A"}), "f", False, 1024) == AMAZON_2023
    assert detect_review_format(stream("a,b"), "f.csv", True) == "csv"
    with pytest.raises(InputError, match="unknown JSON Lines review schema"):
        detect_review_format(stream({"foo": 1}), "f", False)


def test_a_2023_record_keeps_the_family_and_the_listing_and_only_a_pseudonym():
    [(_, record, excerpt)] = parse_2023(review_2023())
    assert isinstance(record, ReviewRecord)
    assert (record.product, record.variant) == ("B0PARENT01", "B0CHILD001")
    assert (record.rating, record.title, record.helpful_votes, record.verified_purchase) == (4.0, "Fits well", 2, True)
    assert record.author_hash == PSEUDONYM("USER1") and "USER1" not in record.author_hash
    assert record.created_at is not None and record.created_at.isoformat() == "2023-11-14T22:13:20+00:00"
    assert json.loads(excerpt)["text"] == "The strap is comfortable."
    [(_, without_parent, _)] = parse_2023(review_2023(parent_asin=...))
    assert isinstance(without_parent, ReviewRecord)
    assert (without_parent.product, without_parent.variant) == ("B0CHILD001", "B0CHILD001")


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
            0,
            PSEUDONYM,
        )
    )
    record = rows[0][1]
    assert isinstance(record, ReviewRecord)
    assert (record.product, record.variant, record.rating, record.title) == ("A1", "A1", 4.0, "ok")
    assert (record.helpful_votes, record.verified_purchase, record.author_hash) == (1204, True, PSEUDONYM("R"))
    assert record.created_at is not None and record.created_at.isoformat() == "2016-09-01T00:00:00+00:00"
    assert [str(r[1]) for r in rows[1:]] == [
        "overall 'five' is not a number",
        "unixReviewTime 1000000000000000 is out of range",
        "missing asin",
    ]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"rating": [5]}, "rating is a list, not a number"),
        ({"rating": {"stars": 5}}, "rating is a dict, not a number"),
        ({"rating": True}, "rating is a bool, not a number"),
        ({"rating": "five"}, "rating 'five' is not a number"),
        ({"rating": -1}, "rating -1 is outside 0-5"),
        ({"rating": 11}, "rating 11 is outside 0-5"),
        ({"rating": 10**400}, "rating " + repr(10**400)[:39] + "… is outside 0-5"),
        ({"parent_asin": 123}, "parent_asin is an int, not a string"),
        ({"asin": 123, "parent_asin": ...}, "asin is an int, not a string"),
        ({"parent_asin": "P" * 129}, "parent_asin has 129 characters; the limit is 128"),
        ({"asin": "A" * 200}, "asin has 200 characters; the limit is 128"),
        ({"asin": ..., "parent_asin": ...}, "missing parent_asin/asin"),
        ({"helpful_vote": "abc"}, "helpful_vote 'abc' is not a whole number"),
        ({"helpful_vote": 2.5}, "helpful_vote is a float, not a whole number"),
        ({"helpful_vote": 2**31}, "helpful_vote 2147483648 is out of range (0 to 2147483647)"),
        ({"helpful_vote": -3}, "helpful_vote -3 is out of range (0 to 2147483647)"),
        ({"helpful_vote": "١٢"}, "helpful_vote '١٢' is not a whole number"),
        ({"verified_purchase": "true"}, "verified_purchase is a string, not true or false"),
        ({"title": 42}, "title is an int, not a string"),
        ({"user_id": ["u"]}, "user_id is a list, not a string"),
        ({"timestamp": "2023-01-01"}, "timestamp is a string, not a number"),
        ({"timestamp": 10**30}, "timestamp 1000000000000000000000000000000 is out of range"),
        ({"timestamp": -(10**15)}, "timestamp -1000000000000000 is out of range"),
        ({"timestamp": 1000}, "timestamp 1000 is out of range"),
        ({"text": 12345}, "text is an int, not a string"),
        ({"text": ...}, "missing text"),
        ({"text": "   "}, "empty text"),
        ({"text": "x" * 100_001}, "text has 100001 characters; the limit is 100000"),
    ],
)
def test_each_bad_field_is_a_rejected_record_with_its_reason(fields, reason):
    items = parse_2023(review_2023(**fields), review_2023(text="The next review is read."))
    assert reasons(items) == {1: reason}
    assert isinstance(items[1][1], ReviewRecord)


@pytest.mark.parametrize("literal", ["1e309", "-1e309", "NaN", "Infinity"])
def test_non_finite_ratings_are_rejected(literal):
    line = json.dumps(review_2023(rating=0)).replace('"rating": 0', f'"rating": {literal}')
    [(_, problem, _)] = parse_2023(line)
    assert isinstance(problem, RecordProblem)
    assert problem.reason(private=True) == "rating is not a finite number"


@pytest.mark.parametrize("field", ["text", "title", "asin", "parent_asin", "user_id"])
@pytest.mark.parametrize(("escape", "what"), [("\\u0000", "a NUL character"), ("\\ud800", "a lone surrogate (U+D800)")])
def test_unencodable_characters_in_any_string_field_are_rejected(field, escape, what):
    line = json.dumps(review_2023(**{field: "abcMARK"})).replace("MARK", escape)
    assert reasons(parse_2023(line)) == {1: f"{field} contains {what} at character 3"}


def test_unparseable_lines_are_rejected_and_reading_goes_on():
    data = stream("{broken json", "[1, 2]", "[" * 50_000, '{"text": ' + "9" * 5000 + "}").getvalue()
    data += b'{"text": "caf\xe9"}\n\n' + stream(review_2023()).getvalue()
    items = list(read_json_reviews(io.BytesIO(data), AMAZON_2023, 0, PSEUDONYM))
    problems = reasons(items)
    assert problems[1].startswith("invalid JSON (Expecting property name")
    assert problems[2] == "not a JSON object but a list"
    assert problems[3] == "invalid JSON (nested too deeply)"
    assert problems[4] == "invalid JSON (a number too long)"
    assert problems[5] == "invalid UTF-8 at byte 13"
    assert [line for line, item, _ in items if isinstance(item, ReviewRecord)] == [7], "blank line 6 yields nothing"


def test_an_over_long_line_is_rejected_without_being_read_whole():
    items = parse_2023(review_2023(text="y " * 10_000), review_2023(), max_line_bytes=4096)
    assert [(line, str(item), excerpt) for line, item, excerpt in items[:1]] == [
        (1, "line is longer than 4096 bytes; skipped", "")
    ]
    assert isinstance(items[1][1], ReviewRecord)


def test_excerpts_hold_nothing_a_database_refuses():
    items = parse_2023('{"text": "nul \x00 raw", "asin": "A"}')
    assert "\x00" not in items[0][2] and "\ufffd" in items[0][2]


def test_private_reasons_quote_no_value_and_public_ones_cap_it():
    problem = RecordProblem("created_at {value} is not ISO 8601 or a Unix timestamp", "call me on 555-0100 " * 5)
    assert problem.reason(private=True) == "created_at is not ISO 8601 or a Unix timestamp"
    public = str(problem)
    assert public.startswith("created_at 'call me on 555-0100 call me on 555-") and "…" in public
    assert len(public) == len("created_at  is not ISO 8601 or a Unix timestamp") + 40
    assert RecordProblem("missing text").reason(private=True) == str(RecordProblem("missing text")) == "missing text"
    assert not hasattr(review_formats, "hash_author")


def test_every_reason_of_a_rejected_value_can_be_rendered_privately():
    secret = "jo@example.com"
    rows = [
        review_2023(rating=secret),
        review_2023(helpful_vote=secret),
        review_2023(timestamp=1e20),
    ]
    for _, problem, _ in parse_2023(*rows):
        assert isinstance(problem, RecordProblem)
        assert secret not in problem.reason(private=True) and "{value}" not in problem.reason(private=True)
        assert "1e+20" not in problem.reason(private=True)


def test_resume_skips_lines_up_to_the_checkpoint():
    lines = [{"text": f"t{i}", "asin": "A", "timestamp": 1700000000000} for i in range(5)]
    assert [n for n, _, _ in read_json_reviews(stream(*lines), AMAZON_2023, 3, PSEUDONYM)] == [4, 5]


def test_csv_defaults_and_mapping_errors():
    assert csv_columns(["review_id", "asin", "stars", "body"], {}) == {
        "text": "body",
        "rating": "stars",
        "product": "asin",
        "id": "review_id",
    }
    assert csv_columns(["parent_asin", "asin", "text"], {}) == {
        "text": "text",
        "product": "parent_asin",
        "variant": "asin",
    }
    assert csv_columns(["sku", "variant", "text"], {"product": "sku"})["variant"] == "variant"
    with pytest.raises(InputError, match="unknown field"):
        csv_columns(["a"], {"colour": "a"})
    with pytest.raises(InputError, match="not in the CSV header"):
        csv_columns(["a"], {"text": "b"})


def test_csv_rows_with_dates_and_bad_fields():
    data = io.BytesIO(
        "product,text,date,rating,author,product_title\n"
        "P,Good.,2026-03-04,4,ann,Pack\n"
        "P,Bad date.,yesterday,2,bob,Pack\n"
        "P,Short row\n"
        "P,Digits.,²,2,cy,Pack\n"
        "P,Far.,9999-01-01,2,dee,Pack\n"
        "P,Huge.,99999999999999999999,2,eve,Pack\n"
        "P,Rating.,2026-03-04,inf,fay,Pack\n"
        "P,Bytes.,2026-03-04,3,g\udcffus,Pack\n"
        "P,Title.,2026-03-04,3,hal,Pa\x00ck\n"
        "P,Fine.,1700000000,3,,\n".encode("utf-8", "surrogateescape")
    )
    rows = list(read_csv_reviews(data, {"created_at": "date"}, 0, PSEUDONYM))
    first = rows[0][1]
    assert isinstance(first, ReviewRecord)
    assert first.created_at is not None and first.created_at.isoformat() == "2026-03-04T00:00:00+00:00"
    assert (first.product, first.variant, first.author_hash, first.product_title) == (
        "P",
        "P",
        PSEUDONYM("ann"),
        "Pack",
    )
    assert reasons(rows) == {
        2: "created_at 'yesterday' is not ISO 8601 or a Unix timestamp",
        3: "row has 2 fields, the header 6",
        4: "created_at '²' is not ISO 8601 or a Unix timestamp",
        5: "created_at '9999-01-01' is out of range (1900 to 2200)",
        6: "created_at '99999999999999999999' is out of range",
        7: "rating 'inf' is not a number",
        8: "author is not valid UTF-8 (at character 1)",
        9: "product_title contains a NUL character at character 2",
    }
    last = rows[-1][1]
    assert isinstance(last, ReviewRecord) and last.author_hash is None and last.product_title is None


def test_csv_variant_column_and_over_long_ids():
    data = io.BytesIO(
        (
            "parent_asin,asin,text,review_id\n"
            "FAMILY,RED,Red one.,r1\n"
            f"FAMILY,BLUE,Blue one.,{'i' * 129}\n"
            f"{'F' * 129},BLUE,Too long.,r3\n"
            f"FAMILY,GREEN,Long id.,{'j' * 128}\n"
        ).encode()
    )
    rows = list(read_csv_reviews(data, {}, 0, PSEUDONYM))
    red = rows[0][1]
    assert isinstance(red, ReviewRecord) and (red.product, red.variant, red.review_key) == ("FAMILY", "RED", "id:r1")
    assert reasons(rows) == {
        2: "id has 129 characters; the limit is 128",
        3: "product has 129 characters; the limit is 128",
    }
    long_id = rows[3][1]
    assert isinstance(long_id, ReviewRecord)
    assert long_id.review_key.startswith("idh:") and len(long_id.review_key) <= 128


def test_csv_resume_after_a_bad_row_yields_nothing_at_or_before_the_checkpoint():
    data = b'product,text\nP,one\nP,"bad"quote\r,x\nP,three\nP,"four\n' + b"x" * 300 + b'"\nP,five\n'
    everything = list(read_csv_reviews(io.BytesIO(data), {}, 0, PSEUDONYM, max_line_bytes=100))
    assert [(n, isinstance(item, ReviewRecord)) for n, item, _ in everything] == [
        (1, True),
        (2, False),
        (3, True),
        (4, False),
        (5, True),
    ]
    for start in range(6):
        resumed = list(read_csv_reviews(io.BytesIO(data), {}, start, PSEUDONYM, max_line_bytes=100))
        assert [n for n, _, _ in resumed] == [n for n, _, _ in everything if n > start]


def test_review_key_prefers_the_source_id():
    assert review_key("abc", "u", "p", None, "t") == "id:abc"
    assert review_key(None, "u", "p", None, "t") == review_key(None, "u", "p", None, "t")
    assert review_key(None, "u", "p", None, "t") != review_key(None, "u", "p", None, "t2")


def test_one_review_filed_under_several_listings_has_one_key():
    text = "The strap broke after a week."
    assert review_key(None, "pseudo", "A1", None, text) == review_key(None, "pseudo", "A2", None, text)
    assert review_key(None, "pseudo", "A1", None, text) != review_key(None, "other", "A1", None, text)


def test_short_or_anonymous_reviews_stay_apart_per_product():
    assert review_key(None, "pseudo", "A1", None, "Great fit") != review_key(None, "pseudo", "A2", None, "Great fit")
    text = "The strap broke after a week."
    assert review_key(None, None, "A1", None, text) != review_key(None, None, "A2", None, text)


def test_keys_are_built_from_the_pseudonym_not_the_author_id():
    row = review_2023(text="The strap broke after a week.")
    [(_, one, _)] = list(read_json_reviews(stream(row), AMAZON_2023, 0, PSEUDONYM))
    [(_, other, _)] = list(read_json_reviews(stream(row), AMAZON_2023, 0, Pseudonymizer(b"1" * 32)))
    assert isinstance(one, ReviewRecord) and isinstance(other, ReviewRecord)
    assert one.review_key != other.review_key, "another deployment's secret gives other keys"
    assert one.review_key == review_key(None, PSEUDONYM("USER1"), "B0PARENT01", one.created_at, row["text"])  # type: ignore[arg-type]


def test_the_shared_2018_fashion_file_counts_one_review_once():
    path = require_shared("reviews", "AMAZON_FASHION_5.json")
    with path.open("rb") as handle:
        items = list(read_json_reviews(handle, AMAZON_2018, 0, PSEUDONYM))
    records = [item for _, item, _ in items if isinstance(item, ReviewRecord)]
    assert (len(items), len(records)) == (3176, 3160)
    assert collections.Counter(str(item) for _, item, _ in items if isinstance(item, RecordProblem)) == {
        "missing reviewText": 16
    }
    assert all(r.product == r.variant for r in records)
    listings: dict[str, set[str]] = collections.defaultdict(set)
    for record in records:
        listings[record.review_key].add(record.variant)
    substantial = {r.review_key for r in records if len(r.text.split()) >= 4}
    assert len(listings) == 892, "367 substantial reviews once each, 79 short ones once per listing (525)"
    assert len(substantial) == 367
    assert sum(1 for k in substantial if len(listings[k]) > 1) == 341
    assert max(len(v) for v in listings.values()) == 8


def test_spam_signals_and_scores():
    assert spam_signals("Visit www.deals.example for more")
    assert spam_signals("sooooooooo good")
    assert not spam_signals("The strap broke after a week, sadly.")
    assert quality_score([]) == 1.0 and quality_score(["short"]) == 0.7 and quality_score(["empty"]) == 0.0
