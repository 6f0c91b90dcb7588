"""Review datasets -> :class:`ReviewRecord`: Amazon Reviews 2023 and 2018 JSON Lines, and CSV.

The format is detected from the first valid record. Each reader yields ``(line, record or error)``
so the ingest run can store good records and reject bad ones with their line number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from opinara.errors import InputError

AMAZON_2023 = "amazon-2023"
AMAZON_2018 = "amazon-2018"
CSV = "csv"
MAX_TEXT_CHARS = 100_000
# Columns tried, in order, for each field of a CSV file when no mapping names one.
CSV_DEFAULTS: dict[str, tuple[str, ...]] = {
    "text": ("text", "review", "review_text", "reviewText", "body", "content"),
    "rating": ("rating", "stars", "score", "overall"),
    "product": ("product_id", "product", "asin", "parent_asin", "sku", "item_id"),
    "product_title": ("product_title", "product_name"),
    "id": ("review_id", "id"),
    "author": ("author", "user_id", "user", "reviewer_id", "reviewerID"),
    "title": ("title", "summary", "headline"),
    "created_at": ("created_at", "date", "timestamp", "time", "review_date"),
}


@dataclass(frozen=True)
class ReviewRecord:
    product: str
    text: str
    review_key: str
    rating: float | None = None
    title: str | None = None
    author_hash: str | None = None
    created_at: datetime | None = None
    helpful_votes: int | None = None
    verified_purchase: bool | None = None
    product_title: str | None = None


class RecordProblem(ValueError):
    """Why one record was rejected."""


def hash_author(author: str | None) -> str | None:
    """Authors are stored only as a hash."""
    return hashlib.sha256(f"opinara-author:{author}".encode()).hexdigest()[:32] if author else None


def review_key(record_id: str | None, author: str | None, product: str, created: datetime | None, text: str) -> str:
    """The source's review id, or a hash of author, product, time and text."""
    if record_id:
        return f"id:{record_id}"[:128]
    parts = [author or "", product, created.isoformat() if created else "", text]
    return "h:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _text(value: Any, field: str) -> str:
    if value is None:
        raise RecordProblem(f"missing {field}")
    if not isinstance(value, str):
        raise RecordProblem(f"{field} is {type(value).__name__}, not a string")
    if not value.strip():
        raise RecordProblem(f"empty {field}")
    if len(value) > MAX_TEXT_CHARS:
        raise RecordProblem(f"{field} has {len(value)} characters; the limit is {MAX_TEXT_CHARS}")
    return value


def _rating(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        rating = float(str(value).strip())
    except ValueError:
        raise RecordProblem(f"rating {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(rating) or not 0 <= rating <= 5:
        raise RecordProblem(f"rating {value!r} is outside 0-5")
    return round(rating, 2)  # hundredths of a star: aggregates sum them as integers


def _timestamp(value: Any, unit: float) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordProblem(f"timestamp {value!r} is not a number")
    try:
        moment = datetime.fromtimestamp(value / unit, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordProblem(f"timestamp {value!r} is out of range") from None
    if not 1995 <= moment.year <= 2100:
        raise RecordProblem(f"timestamp {value!r} is out of range")
    return moment


def _parse_date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        number = int(value)
        return _timestamp(number, 1000 if number > 10**11 else 1)
    for parse in (datetime.fromisoformat, lambda v: datetime.strptime(v, "%m %d, %Y")):
        try:
            moment = parse(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            continue
    raise RecordProblem(f"date {value!r} is not ISO 8601 or a Unix timestamp")


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).replace(",", ""))
    except ValueError:
        raise RecordProblem(f"{value!r} is not a whole number") from None


@dataclass(frozen=True)
class AmazonFields:
    """Where one Amazon schema keeps each field."""

    text: str
    products: tuple[str, ...]  # first present wins
    timestamp: str
    seconds_per_unit: float  # the timestamp's unit: 1000 for milliseconds
    author: str
    rating: str
    title: str
    helpful: str
    verified: str


AMAZON_FIELDS = {
    AMAZON_2023: AmazonFields(
        "text",
        ("parent_asin", "asin"),
        "timestamp",
        1000,
        "user_id",
        "rating",
        "title",
        "helpful_vote",
        "verified_purchase",
    ),
    AMAZON_2018: AmazonFields(
        "reviewText", ("asin",), "unixReviewTime", 1, "reviewerID", "overall", "summary", "vote", "verified"
    ),
}


def parse_amazon(row: dict[str, Any], fields: AmazonFields) -> ReviewRecord:
    """One Amazon review (2023 or 2018 schema, by ``fields``) as a record; RecordProblem when unusable."""
    text = _text(row.get(fields.text), fields.text)
    product = next((row[name] for name in fields.products if row.get(name)), None)
    if not isinstance(product, str) or not product:
        raise RecordProblem(f"missing {'/'.join(fields.products)}")
    created = _timestamp(row.get(fields.timestamp), fields.seconds_per_unit)
    author = row.get(fields.author)
    title = row.get(fields.title)
    return ReviewRecord(
        product=product,
        text=text,
        review_key=review_key(None, author, product, created, text),
        rating=_rating(row.get(fields.rating)),
        title=title if isinstance(title, str) else None,
        author_hash=hash_author(author),
        created_at=created,
        helpful_votes=_int(row.get(fields.helpful)),
        verified_purchase=bool(row[fields.verified]) if fields.verified in row else None,
    )


def detect_json_format(row: dict[str, Any]) -> str:
    if "reviewText" in row or "overall" in row or "reviewerID" in row:
        return AMAZON_2018
    if "parent_asin" in row or ("asin" in row and "text" in row):
        return AMAZON_2023
    raise InputError(
        "unknown JSON Lines review schema: expected Amazon 2023 (text, asin, parent_asin) or 2018 (reviewText, asin)"
    )


FORMATS = (AMAZON_2023, AMAZON_2018, CSV)


def detect_review_format(stream: BinaryIO, name: str, csv_suffix: bool) -> str:
    """CSV by file name; otherwise the schema of the first JSON object among the first lines."""
    if csv_suffix:
        return CSV
    for _, raw in zip(range(1000), stream, strict=False):
        try:
            row = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(row, dict):
            return detect_json_format(row)
    raise InputError(f"{name}: no JSON object in its first lines; is it a review file (JSON Lines or .csv)?")


def read_json_reviews(stream: BinaryIO, fmt: str, start_line: int = 0) -> Iterator[tuple[int, ReviewRecord | str, str]]:
    """``(line, record or reason, raw excerpt)`` for each line after ``start_line``."""
    fields = AMAZON_FIELDS[fmt]
    for number, raw in enumerate(stream, start=1):
        if number <= start_line:
            continue
        excerpt = raw[:500].decode("utf-8", errors="replace").rstrip("\r\n")
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield number, f"invalid JSON ({exc})", excerpt
            continue
        if not isinstance(row, dict):
            yield number, "not a JSON object", excerpt
            continue
        try:
            yield number, parse_amazon(row, fields), excerpt
        except RecordProblem as exc:
            yield number, str(exc), excerpt


def csv_columns(header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Field -> column, from the mapping or the defaults; text and product are required."""
    unknown = set(mapping) - set(CSV_DEFAULTS)
    if unknown:
        raise InputError(
            f"unknown field(s) in the column mapping: {', '.join(sorted(unknown))}; fields: {', '.join(CSV_DEFAULTS)}"
        )
    columns: dict[str, str] = {}
    for field, candidates in CSV_DEFAULTS.items():
        if field in mapping:
            if mapping[field] not in header:
                raise InputError(
                    f"column {mapping[field]!r} (for {field}) is not in the CSV header: {', '.join(header)}"
                )
            columns[field] = mapping[field]
        elif found := next((c for c in candidates if c in header), None):
            columns[field] = found
    for required in ("text", "product"):
        if required not in columns:
            raise InputError(
                f"no {required} column in the CSV header ({', '.join(header)}); map one with --map {required}=COLUMN"
            )
    return columns


def read_csv_reviews(
    stream: BinaryIO, mapping: dict[str, str], start_line: int = 0
) -> Iterator[tuple[int, ReviewRecord | str, str]]:
    """``(row number, record or reason, raw excerpt)`` for each CSV row after ``start_line`` (header is row 0)."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file ({exc})") from exc
    columns = csv_columns(header, mapping)
    index = {field: header.index(column) for field, column in columns.items()}
    number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield number, f"bad CSV row ({exc})", ""
            continue
        number += 1
        if number <= start_line or not any(v.strip() for v in values):
            continue
        excerpt = ",".join(values)[:500]
        if len(values) != len(header):
            yield number, f"row has {len(values)} fields, the header {len(header)}", excerpt
            continue
        row = {field: values[i] for field, i in index.items()}
        try:
            yield number, parse_csv_row(row), excerpt
        except RecordProblem as exc:
            yield number, str(exc), excerpt


def parse_csv_row(row: dict[str, str]) -> ReviewRecord:
    text = _text(row.get("text"), "text")
    product = (row.get("product") or "").strip()
    if not product:
        raise RecordProblem("missing product")
    created = _parse_date(row.get("created_at") or "")
    author = row.get("author") or None
    return ReviewRecord(
        product=product,
        text=text,
        review_key=review_key(row.get("id") or None, author, product, created, text),
        rating=_rating(row.get("rating")),
        title=row.get("title") or None,
        author_hash=hash_author(author),
        created_at=created,
        product_title=row.get("product_title") or None,
    )
