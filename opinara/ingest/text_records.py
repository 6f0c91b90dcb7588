"""Text records from plain text, JSON Lines or CSV files (``.gz`` too) or standard input.

Reading is streamed through :mod:`opinara.ingest.lines`, so memory stays flat on any file and any
line length. A bad record (an over-long line, invalid UTF-8 or JSON, a NUL character or a lone
surrogate, a missing or non-string field, an empty or oversized text) becomes a :class:`TextRecord`
with an ``error`` and its line number; reading goes on.

A file is refused as binary only when it is mostly binary: when more than 30% of its first 8 KiB
are NUL or other control bytes (all but tab, newline, carriage return, form feed and escape) or
bytes that are not UTF-8. Text with a few such bytes is read, and the lines holding them reported.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from opinara.errors import InputError
from opinara.ingest.lines import MAX_LINE_BYTES, MAX_TOTAL_BYTES, bounded_lines, csv_rows, sniff
from opinara.validation import text_problem

Format = Literal["auto", "text", "jsonl", "csv"]
SNIFF_BYTES = 8192
BINARY_SHARE = 0.3
MAX_ID_CHARS = 256
# Control characters that text does not hold, and the escapes ``surrogateescape`` gives bytes that are not UTF-8.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f\udc80-\udcff]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class TextRecord:
    line: int
    text: str | None = None
    error: str | None = None
    id: str | None = None


def detect_format(path: Path | None) -> Format:
    """From the file name: ``.jsonl``/``.ndjson``/``.json`` -> jsonl, ``.csv`` -> csv, else plain text."""
    if path is None:
        return "text"
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv" if suffix == ".csv" else "text"


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading bytes, decompressing gzip (by magic number, whatever its name)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    if handle.read(2) == b"\x1f\x8b":
        handle.seek(0)
        return gzip.open(handle, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def binary_share(head: bytes) -> float:
    """The share of ``head`` that text does not hold: NUL and other control bytes, and bytes that are not UTF-8."""
    if not head:
        return 0.0
    return len(_NOT_TEXT.findall(head.decode("utf-8", "surrogateescape"))) / len(head)


def _check_not_binary(head: bytes, name: str) -> None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name}: looks like UTF-16 text; convert it to UTF-8")
    share = binary_share(head)
    if share > BINARY_SHARE:
        raise InputError(
            f"{name}: looks like binary data, not text ({share:.0%} of its first {len(head)} bytes"
            " are control bytes or not UTF-8)"
        )


def read_records(
    stream: BinaryIO,
    fmt: Format,
    text_field: str = "text",
    max_chars: int = 100_000,
    name: str = "input",
    id_field: str | None = "id",
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_total_bytes: int | None = MAX_TOTAL_BYTES,
) -> Iterator[TextRecord]:
    """Yield one record per input line (per CSV row), with errors instead of exceptions.

    Raises :class:`InputError` for a mostly binary input or an unusable CSV header, and
    :class:`~opinara.errors.LimitExceeded` once more than ``max_total_bytes`` were read."""
    head, replay = sniff(stream, SNIFF_BYTES, name)
    _check_not_binary(head, name)
    if fmt == "csv":
        yield from _csv_records(replay, text_field, max_chars, name, id_field, max_line_bytes, max_total_bytes)
        return
    for number, raw in bounded_lines(replay, max_line_bytes, max_total_bytes, name):
        if raw is None:
            yield TextRecord(number, error=f"line is longer than {max_line_bytes} bytes; skipped")
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield TextRecord(number, error=f"invalid UTF-8 at byte {exc.start}")
            continue
        line = line.rstrip("\r\n")
        if not line.strip():
            yield TextRecord(number, error="empty line")
        elif problem := text_problem(line):  # a NUL; strict UTF-8 decoding leaves no surrogates
            yield TextRecord(number, error=problem)
        elif fmt == "jsonl":
            yield _json_record(number, line, text_field, max_chars, id_field)
        else:
            yield _checked(number, line, max_chars)


def _checked(number: int, text: str, max_chars: int, record_id: str | None = None) -> TextRecord:
    if len(text) > max_chars:
        return TextRecord(number, error=f"text has {len(text)} characters; the limit is {max_chars}")
    if not text.strip():
        return TextRecord(number, error="empty text")
    return TextRecord(number, text=text, id=record_id)


def _json_record(number: int, line: str, field: str, max_chars: int, id_field: str | None) -> TextRecord:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return TextRecord(number, error=f"invalid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return TextRecord(number, error="invalid JSON (nested too deeply)")
    except ValueError:  # Python refuses to convert an integer of over 4300 digits
        return TextRecord(number, error="invalid JSON (a number too long)")
    if not isinstance(value, dict):
        return TextRecord(number, error=f"expected a JSON object, got {type(value).__name__}")
    if field not in value:
        return TextRecord(number, error=f"no {field!r} field")
    text = value[field]
    if not isinstance(text, str):
        return TextRecord(number, error=f"field {field!r} is {type(text).__name__}, not a string")
    if problem := text_problem(text):  # "\ud800" and "\u0000" escapes decode to what UTF-8 cannot hold
        return TextRecord(number, error=f"field {field!r} {problem}")
    record_id = value.get(id_field) if id_field else None
    if record_id is None:
        return _checked(number, text, max_chars)
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        return TextRecord(number, error=f"field {id_field!r} is {type(record_id).__name__}, not a string or number")
    return _with_id(number, text, max_chars, str(record_id), id_field)


def _with_id(number: int, text: str, max_chars: int, record_id: str, id_field: str | None) -> TextRecord:
    if len(record_id) > MAX_ID_CHARS:
        return TextRecord(
            number, error=f"field {id_field!r} has {len(record_id)} characters; the limit is {MAX_ID_CHARS}"
        )
    if problem := text_problem(record_id):
        return TextRecord(number, error=f"field {id_field!r} {problem}")
    return _checked(number, text, max_chars, record_id)


def _csv_problem(value: str, column: str) -> str | None:
    """Why a CSV value (decoded with ``surrogateescape``) cannot be used, or None."""
    if found := _NOT_UTF8.search(value):
        return f"column {column!r} is not valid UTF-8 (at character {found.start()})"
    problem = text_problem(value)
    return f"column {column!r} {problem}" if problem else None


def _csv_records(
    stream: BinaryIO,
    field: str,
    max_chars: int,
    name: str,
    id_field: str | None,
    max_line_bytes: int,
    max_total_bytes: int | None,
) -> Iterator[TextRecord]:
    rows = csv_rows(stream, max_line_bytes, max_total_bytes, name)
    first = next(rows, None)
    if first is not None and first.problem:
        raise InputError(f"{name}: not a readable CSV file (header: {first.problem})")
    header = first.values if first else []
    if field not in header:
        raise InputError(
            f"{name}: no column {field!r} (columns: {', '.join(header) or 'none'}); choose one with --text-field"
        )
    text_at = header.index(field)
    id_at = header.index(id_field) if id_field and id_field in header else None
    for row in rows:
        if row.problem:
            yield TextRecord(row.line, error=row.problem)
            continue
        if not row.values:
            continue  # a blank line
        if text_at >= len(row.values):
            yield TextRecord(row.line, error=f"row has no value for {field!r}")
            continue
        value = row.values[text_at]
        record_id = row.values[id_at] if id_at is not None and id_at < len(row.values) else None
        problem = _csv_problem(value, field) or (_csv_problem(record_id, str(id_field)) if record_id else None)
        if problem:
            yield TextRecord(row.line, error=problem)
        elif record_id:
            yield _with_id(row.line, value, max_chars, record_id, id_field)
        else:
            yield _checked(row.line, value, max_chars)
