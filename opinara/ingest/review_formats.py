"""Review datasets -> :class:`ReviewRecord`: Amazon Reviews 2023 and 2018 JSON Lines, and CSV.

The format is detected from the first valid record. Each reader yields ``(line, record or problem,
raw excerpt)`` so the ingest run can store good records and reject bad ones with their line number:
every problem of one record (a field of the wrong type, an id too long, a number out of range, a
NUL or lone surrogate in any string, an over-long line) is a :class:`RecordProblem`, never an
exception that stops the run. Lines are read with :func:`opinara.ingest.lines.bounded_lines`.

Authors are pseudonymized by the ``pseudonymize`` callable the caller passes (an
:class:`opinara.privacy.Pseudonymizer`); the raw author id is never kept.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from opinara.errors import InputError, RecordError
from opinara.ingest.lines import MAX_LINE_BYTES, bounded_lines, csv_rows
from opinara.validation import MAX_DATE, MAX_ID, MIN_DATE, text_problem

AMAZON_2023 = "amazon-2023"
AMAZON_2018 = "amazon-2018"
CSV = "csv"
FORMATS = (AMAZON_2023, AMAZON_2018, CSV)
MAX_TEXT_CHARS = 100_000
MAX_ID_CHARS = 128  # product, variant and review ids: the store's external_id and review_key columns
MIN_KEY_WORDS = 4  # a shorter text ("Great") is keyed with its product, so two products' "Great" stay two reviews
QUOTE_CHARS = 40
EXCERPT_CHARS = 500
# Columns tried, in order, for each field of a CSV file when no mapping names one.
CSV_DEFAULTS: dict[str, tuple[str, ...]] = {
    "text": ("text", "review", "review_text", "reviewText", "body", "content"),
    "rating": ("rating", "stars", "score", "overall"),
    "product": ("product_id", "product", "parent_asin", "asin", "sku", "item_id"),
    "variant": ("variant", "asin", "sku"),  # only a column other than the product's
    "product_title": ("product_title", "product_name"),
    "id": ("review_id", "id"),
    "author": ("author", "user_id", "user", "reviewer_id", "reviewerID"),
    "title": ("title", "summary", "headline"),
    "created_at": ("created_at", "date", "timestamp", "time", "review_date"),
}
Pseudonymize = Callable[[str | None], str | None]
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?", re.ASCII)
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class ReviewRecord:
    product: str  # the family the source files the review under (parent_asin, else asin; a CSV's product)
    text: str
    review_key: str
    variant: str  # the listing the review was written on (asin, a CSV's variant column); else the product
    rating: float | None = None
    title: str | None = None
    author_hash: str | None = None  # the author's pseudonym
    created_at: datetime | None = None
    helpful_votes: int | None = None
    verified_purchase: bool | None = None
    product_title: str | None = None
    url: str | None = None  # where a mention was posted


class RecordProblem(RecordError):
    """Why one record was rejected.

    ``message`` may hold ``{value}`` where the offending value belongs: ``str()`` quotes it (cut to
    40 characters), ``reason(private=True)`` leaves it out, for a store that must keep no raw value."""

    def __init__(self, message: str, value: object = None) -> None:
        super().__init__(message)
        self.value = value

    def reason(self, private: bool = False) -> str:
        if "{value}" not in self.message:
            return self.message
        if private:
            return self.message.replace(" {value}", "").replace("{value}", "")
        return self.message.replace("{value}", _quote(self.value))

    def __str__(self) -> str:
        return self.reason()


def _quote(value: object) -> str:
    shown = repr(value)  # repr escapes NUL and surrogates: a reason is always safe to store and print
    return shown if len(shown) <= QUOTE_CHARS else shown[: QUOTE_CHARS - 1] + "…"


def _kind(value: object) -> str:
    names = {bool: "a bool", int: "an int", float: "a float", str: "a string", list: "a list", dict: "a dict"}
    return names.get(type(value), f"a {type(value).__name__}")


def review_key(record_id: str | None, author: str | None, product: str, created: datetime | None, text: str) -> str:
    """The source's review id; else a hash of the author's pseudonym, time and text.

    Amazon files list one review under each listing (colour, size) of a family: those copies share a
    key. When the author is unknown or the text short (under 4 words), the product is hashed too, so
    that two products' anonymous or one-word "Great" reviews are never taken for one."""
    if record_id:
        key = f"id:{record_id}"
        return key if len(key) <= MAX_ID_CHARS else "idh:" + hashlib.sha256(record_id.encode()).hexdigest()
    when = created.isoformat() if created else ""
    if author and len(text.split()) >= MIN_KEY_WORDS:
        parts = [author, when, text]
    else:
        parts = [author or "", product, when, text]
    return "h:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _string(value: Any, field: str, max_chars: int | None = None) -> str | None:
    """A string field: None when absent or empty; a problem when not a string, unsafe or too long."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordProblem(f"{field} is {_kind(value)}, not a string")
    if problem := text_problem(value):
        raise RecordProblem(f"{field} {problem}")
    if max_chars is not None and len(value) > max_chars:
        raise RecordProblem(f"{field} has {len(value)} characters; the limit is {max_chars}")
    return value


def _text(value: Any, field: str) -> str:
    text = _string(value, field, MAX_TEXT_CHARS)
    if text is None:
        raise RecordProblem(f"missing {field}" if value is None else f"empty {field}")
    if not text.strip():
        raise RecordProblem(f"empty {field}")
    return text


def _id(value: Any, field: str) -> str | None:
    found = _string(value, field, MAX_ID_CHARS)
    return found.strip() or None if found else None


def _rating(value: Any, field: str = "rating") -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordProblem(f"{field} is {_kind(value)}, not a number")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value.strip()):
        raise RecordProblem(f"{field} {{value}} is not a number", value)
    try:
        rating = float(value)
    except OverflowError:  # an int too large for a float
        raise RecordProblem(f"{field} {{value}} is outside 0-5", value) from None
    if not math.isfinite(rating):
        raise RecordProblem(f"{field} {{value}} is not a finite number", value)
    if not 0 <= rating <= 5:
        raise RecordProblem(f"{field} {{value}} is outside 0-5", value)
    return round(rating, 2)  # hundredths of a star: aggregates sum them as integers


def _timestamp(value: Any, unit: float, field: str = "timestamp") -> datetime | None:
    """A Unix time (``unit`` 1000 for milliseconds) of a review: 1995 (Amazon's first) to 2100."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordProblem(f"{field} is {_kind(value)}, not a number")
    try:
        moment = datetime.fromtimestamp(value / unit, tz=UTC)
    except (OverflowError, OSError, ValueError):  # huge, NaN or beyond the platform's time_t
        raise RecordProblem(f"{field} {{value}} is out of range", value) from None
    if not 1995 <= moment.year <= 2100:
        raise RecordProblem(f"{field} {{value}} is out of range", value)
    return moment


def _parse_date(value: str, field: str = "created_at") -> datetime | None:
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        if len(value) > 15:
            raise RecordProblem(f"{field} {{value}} is out of range", value)
        number = int(value)
        return _timestamp(number, 1000 if number > 10**11 else 1, field)
    for parse in (datetime.fromisoformat, lambda v: datetime.strptime(v, "%m %d, %Y")):
        try:
            moment = parse(value)
        except ValueError:
            continue
        if not MIN_DATE <= moment.date() <= MAX_DATE:
            raise RecordProblem(f"{field} {{value}} is out of range ({MIN_DATE.year} to {MAX_DATE.year})", value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise RecordProblem(f"{field} {{value}} is not ISO 8601 or a Unix timestamp", value)


def _count(value: Any, field: str) -> int | None:
    """A count such as helpful votes: an int, or a string of ASCII digits (``"1,204"``), 0 to 2**31-1."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        digits = value.strip().replace(",", "")
        if not (digits.isascii() and digits.isdigit()):
            raise RecordProblem(f"{field} {{value}} is not a whole number", value)
        number = int(digits) if len(digits) <= 10 else MAX_ID + 1
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise RecordProblem(f"{field} is {_kind(value)}, not a whole number")
    if not 0 <= number <= MAX_ID:
        raise RecordProblem(f"{field} {{value}} is out of range (0 to {MAX_ID})", value)
    return number


def _flag(value: Any, field: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise RecordProblem(f"{field} is {_kind(value)}, not true or false")
    return value


@dataclass(frozen=True)
class AmazonFields:
    """Where one Amazon schema keeps each field."""

    text: str
    products: tuple[str, ...]  # the family: first present wins
    variant: str  # the listing the review was filed under
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
        "asin",
        "timestamp",
        1000,
        "user_id",
        "rating",
        "title",
        "helpful_vote",
        "verified_purchase",
    ),
    AMAZON_2018: AmazonFields(
        "reviewText", ("asin",), "asin", "unixReviewTime", 1, "reviewerID", "overall", "summary", "vote", "verified"
    ),
}


def parse_amazon(row: dict[str, Any], fields: AmazonFields, pseudonymize: Pseudonymize) -> ReviewRecord:
    """One Amazon review (2023 or 2018 schema, by ``fields``) as a record; RecordProblem when unusable."""
    text = _text(row.get(fields.text), fields.text)
    ids = {name: _id(row.get(name), name) for name in (*fields.products, fields.variant)}
    product = next((ids[name] for name in fields.products if ids[name]), None)
    if product is None:
        raise RecordProblem(f"missing {'/'.join(fields.products)}")
    created = _timestamp(row.get(fields.timestamp), fields.seconds_per_unit, fields.timestamp)
    author = pseudonymize(_string(row.get(fields.author), fields.author))
    return ReviewRecord(
        product=product,
        text=text,
        review_key=review_key(None, author, product, created, text),
        variant=ids[fields.variant] or product,
        rating=_rating(row.get(fields.rating), fields.rating),
        title=_string(row.get(fields.title), fields.title),
        author_hash=author,
        created_at=created,
        helpful_votes=_count(row.get(fields.helpful), fields.helpful),
        verified_purchase=_flag(row.get(fields.verified), fields.verified),
    )


def detect_json_format(row: dict[str, Any]) -> str:
    if "reviewText" in row or "overall" in row or "reviewerID" in row:
        return AMAZON_2018
    if "parent_asin" in row or ("asin" in row and "text" in row):
        return AMAZON_2023
    raise InputError(
        "unknown JSON Lines review schema: expected Amazon 2023 (text, asin, parent_asin) or 2018 (reviewText, asin)"
    )


def detect_review_format(stream: BinaryIO, name: str, csv_suffix: bool, max_line_bytes: int = MAX_LINE_BYTES) -> str:
    """CSV by file name; otherwise the schema of the first JSON object among the first lines."""
    if csv_suffix:
        return CSV
    for _, raw in itertools.islice(bounded_lines(stream, max_line_bytes, name=name), 1000):
        row = _json_object(raw) if raw is not None else None
        if isinstance(row, dict):
            return detect_json_format(row)
    raise InputError(f"{name}: no JSON object in its first lines; is it a review file (JSON Lines or .csv)?")


def _json_object(raw: bytes) -> dict[str, Any] | RecordProblem:
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return RecordProblem(f"invalid UTF-8 at byte {exc.start}")
    except json.JSONDecodeError as exc:
        return RecordProblem(f"invalid JSON ({exc})")
    except RecursionError:
        return RecordProblem("invalid JSON (nested too deeply)")
    except ValueError:  # Python refuses to convert an integer of over 4300 digits
        return RecordProblem("invalid JSON (a number too long)")
    return row if isinstance(row, dict) else RecordProblem(f"not a JSON object but {_kind(row)}")


def _excerpt(text: str) -> str:
    """At most 500 characters of a raw record, with nothing a database refuses (NUL, surrogates)."""
    return _UNSAFE.sub("\ufffd", text[:EXCERPT_CHARS])


def read_json_reviews(
    stream: BinaryIO,
    fmt: str,
    start_line: int,
    pseudonymize: Pseudonymize,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_total_bytes: int | None = None,
    name: str = "input",
) -> Iterator[tuple[int, ReviewRecord | RecordProblem, str]]:
    """``(line, record or problem, raw excerpt)`` for each non-blank line after ``start_line``."""
    fields = AMAZON_FIELDS[fmt]
    for number, raw in bounded_lines(stream, max_line_bytes, max_total_bytes, name):
        if number <= start_line:
            continue
        if raw is None:
            yield number, RecordProblem(f"line is longer than {max_line_bytes} bytes; skipped"), ""
            continue
        if not raw.strip():
            continue
        excerpt = _excerpt(raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace").rstrip("\r\n"))
        row = _json_object(raw)
        if isinstance(row, RecordProblem):
            yield number, row, excerpt
            continue
        try:
            yield number, parse_amazon(row, fields, pseudonymize), excerpt
        except RecordProblem as problem:
            yield number, problem, excerpt


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
        elif found := next((c for c in candidates if c in header and c != columns.get("product")), None):
            columns[field] = found
    for required in ("text", "product"):
        if required not in columns:
            raise InputError(
                f"no {required} column in the CSV header ({', '.join(header)}); map one with --map {required}=COLUMN"
            )
    return columns


def read_csv_reviews(
    stream: BinaryIO,
    mapping: dict[str, str],
    start_line: int,
    pseudonymize: Pseudonymize,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_total_bytes: int | None = None,
    name: str = "input",
) -> Iterator[tuple[int, ReviewRecord | RecordProblem, str]]:
    """``(row number, record or problem, raw excerpt)`` for each CSV row after ``start_line`` (header is row 0).

    Rows at or before ``start_line`` yield nothing, not even those that fail to parse: a resumed run
    never rejects a row twice."""
    rows = csv_rows(stream, max_line_bytes, max_total_bytes, name)
    first = next(rows, None)
    if first is None:
        return
    if first.problem:
        raise InputError(f"{name}: not a readable CSV file (header: {first.problem})")
    header = first.values
    columns = csv_columns(header, mapping)
    index = {field: header.index(column) for field, column in columns.items()}
    for number, row in enumerate(rows, start=1):
        if number <= start_line:
            continue
        if row.problem:
            yield number, RecordProblem(row.problem), ""
            continue
        if not any(v.strip() for v in row.values):
            continue
        excerpt = _excerpt(",".join(row.values))
        if len(row.values) != len(header):
            yield number, RecordProblem(f"row has {len(row.values)} fields, the header {len(header)}"), excerpt
            continue
        try:
            yield number, parse_csv_row({f: row.values[i] for f, i in index.items()}, pseudonymize), excerpt
        except RecordProblem as problem:
            yield number, problem, excerpt


def parse_csv_row(row: dict[str, str], pseudonymize: Pseudonymize) -> ReviewRecord:
    """One CSV row (field -> value, see :data:`CSV_DEFAULTS`) as a record; RecordProblem when unusable."""
    for field, value in row.items():
        if found := _NOT_UTF8.search(value):
            raise RecordProblem(f"{field} is not valid UTF-8 (at character {found.start()})")
    text = _text(row.get("text"), "text")
    product = _id(row.get("product"), "product")
    if product is None:
        raise RecordProblem("missing product")
    created = _parse_date(_string(row.get("created_at"), "created_at") or "")
    author = pseudonymize(_string(row.get("author"), "author"))
    return ReviewRecord(
        product=product,
        text=text,
        review_key=review_key(_id(row.get("id"), "id"), author, product, created, text),
        variant=_id(row.get("variant"), "variant") or product,
        rating=_rating(row.get("rating")),
        title=_string(row.get("title"), "title"),
        author_hash=author,
        created_at=created,
        product_title=_string(row.get("product_title"), "product_title"),
    )
