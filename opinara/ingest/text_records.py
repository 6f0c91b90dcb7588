"""Text records from plain text, JSON Lines or CSV files (``.gz`` too) or standard input.

Reading is streamed line by line, so memory stays flat on any file size. A bad record (invalid
UTF-8 or JSON, a missing or non-string field, an empty or oversized text) becomes a
:class:`TextRecord` with an ``error`` and its line number; reading goes on.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from opinara.errors import InputError

Format = Literal["auto", "text", "jsonl", "csv"]
_SNIFF_BYTES = 8192


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


def _check_not_binary(head: bytes, name: str) -> None:
    if b"\x00" in head:
        raise InputError(f"{name}: looks like binary data, not text (it contains NUL bytes)")


def read_records(
    stream: BinaryIO,
    fmt: Format,
    text_field: str = "text",
    max_chars: int = 100_000,
    name: str = "input",
    id_field: str | None = "id",
) -> Iterator[TextRecord]:
    """Yield one record per input line (per CSV row), with errors instead of exceptions."""
    buffered = io.BufferedReader(stream) if not isinstance(stream, io.BufferedReader) else stream  # type: ignore[arg-type]
    try:
        _check_not_binary(buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES], name)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{name}: cannot read ({exc})") from exc
    if fmt == "csv":
        yield from _csv_records(buffered, text_field, max_chars, name, id_field)
        return
    for number, raw in enumerate(_lines(buffered, name), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield TextRecord(number, error=f"invalid UTF-8 at byte {exc.start}")
            continue
        line = line.rstrip("\r\n")
        if not line.strip():
            yield TextRecord(number, error="empty line")
            continue
        if "\x00" in line:
            yield TextRecord(number, error="binary data (NUL bytes)")
            continue
        if fmt == "jsonl":
            yield _json_record(number, line, text_field, max_chars, id_field)
        else:
            yield _checked(number, line, max_chars)


def _lines(stream: BinaryIO, name: str) -> Iterator[bytes]:
    try:
        yield from stream
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{name}: cannot read ({exc})") from exc


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
    if not isinstance(value, dict):
        return TextRecord(number, error=f"expected a JSON object, got {type(value).__name__}")
    if field not in value:
        return TextRecord(number, error=f"no {field!r} field")
    text = value[field]
    if not isinstance(text, str):
        return TextRecord(number, error=f"field {field!r} is {type(text).__name__}, not a string")
    record_id = value.get(id_field) if id_field else None
    return _checked(number, text, max_chars, None if record_id is None else str(record_id))


def _csv_records(stream: BinaryIO, field: str, max_chars: int, name: str, id_field: str | None) -> Iterator[TextRecord]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise InputError(f"{name}: not a readable CSV file ({exc})") from exc
    if field not in header:
        raise InputError(
            f"{name}: no column {field!r} (columns: {', '.join(header) or 'none'}); choose one with --text-field"
        )
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield TextRecord(reader.line_num, error=f"bad CSV row ({exc})")
            continue
        value = row.get(field)
        if value is None:
            yield TextRecord(reader.line_num, error=f"row has no value for {field!r}")
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield TextRecord(reader.line_num, error="invalid UTF-8")
            continue
        record_id = row.get(id_field) if id_field else None
        yield _checked(reader.line_num, value, max_chars, record_id)
