"""Bounded reading of line-oriented input (plain or gzip-decompressing streams).

A line longer than ``max_line_bytes`` is reported and skipped to the next newline in chunks, so it
is never held whole: a 200 MB line costs no more memory than a short one. The total read is capped
by ``max_total_bytes``, so a small gzip file cannot unpack to more than an upload may. A line's
length counts its bytes without the final ``\\n``.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from opinara.config import Settings
from opinara.errors import InputError, LimitExceeded

MAX_LINE_BYTES: int = Settings.model_fields["max_line_bytes"].default
MAX_TOTAL_BYTES: int = Settings.model_fields["max_upload_decompressed_bytes"].default
_SKIP_CHUNK = 1 << 16
# gzip.BadGzipFile is an OSError; a truncated gzip member raises EOFError; corrupt data zlib.error.
_READ_ERRORS = (OSError, EOFError, zlib.error)


def bounded_lines(
    stream: BinaryIO,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_total_bytes: int | None = None,
    name: str = "input",
    skipped: Callable[[bytes], None] | None = None,
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line with its newline)`` from 1, or ``(line number, None)`` for a line over the limit.

    ``skipped``, when given, sees each chunk of an over-long line as it is dropped. Raises
    :class:`LimitExceeded` (``limit="decompressed size"``) once more than ``max_total_bytes`` were
    read, and :class:`InputError` when the stream cannot be read (a corrupt gzip file)."""
    if max_line_bytes < 1:
        raise ValueError("max_line_bytes must be at least 1")
    total = 0
    number = 0
    while True:
        chunk = _read_line(stream, max_line_bytes + 1, name)
        if not chunk:
            return
        number += 1
        total = _counted(total, len(chunk), max_total_bytes, name)
        if chunk.endswith(b"\n") or len(chunk) <= max_line_bytes:
            yield number, chunk
            continue
        while True:  # over-long: drop the line, one chunk at a time
            if skipped is not None:
                skipped(chunk)
            if chunk.endswith(b"\n"):
                break
            chunk = _read_line(stream, _SKIP_CHUNK, name)
            if not chunk:
                break
            total = _counted(total, len(chunk), max_total_bytes, name)
        yield number, None


def _read_line(stream: BinaryIO, limit: int, name: str) -> bytes:
    try:
        return stream.readline(limit)
    except _READ_ERRORS as exc:
        raise InputError(f"{name}: cannot read ({exc})") from exc


def _counted(total: int, more: int, limit: int | None, name: str) -> int:
    total += more
    if limit is not None and total > limit:
        raise LimitExceeded(
            f"{name}: unpacks to more than {limit} bytes, the limit for one input", limit="decompressed size"
        )
    return total


class _Replay(io.RawIOBase):
    """Bytes already read from a stream, then the rest of that stream."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._head:
            size = min(len(view), len(self._head))
            view[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        read = getattr(self._stream, "read1", self._stream.read)  # read1: no waiting for a full buffer on a pipe
        data = read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def sniff(stream: BinaryIO, size: int = 8192, name: str = "input") -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes of ``stream`` (fewer at its end), and a stream that reads them again, then the rest."""
    try:
        head = stream.read(size)
    except _READ_ERRORS as exc:
        raise InputError(f"{name}: cannot read ({exc})") from exc
    return head, cast(BinaryIO, io.BufferedReader(_Replay(head, stream), buffer_size=_SKIP_CHUNK))


@dataclass(frozen=True)
class CsvRow:
    """One CSV row: its values, or why it cannot be used; ``line`` is the (physical) line it ends on."""

    line: int
    values: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class _RowProgress:
    """What the line feeder saw of the row the CSV reader is parsing."""

    line: int = 0  # the last line read
    size: int = 0  # bytes of the row so far
    overlong: int | None = None  # the first over-long line of the row
    too_long: bool = False  # the row's lines together passed the limit


def csv_rows(
    stream: BinaryIO,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_total_bytes: int | None = None,
    name: str = "input",
) -> Iterator[CsvRow]:
    """CSV rows (header first, default dialect) over :func:`bounded_lines`, decoded as UTF-8 with ``surrogateescape``.

    Invalid bytes become U+DC80-U+DCFF, which :func:`opinara.validation.text_problem` reports. A row
    is held to ``max_line_bytes`` like a line: a quoted field running over many lines past it makes
    one bad row, its remaining lines skipped up to its closing quote, never held. A row with an
    over-long line or a CSV error is a row with a ``problem``; reading goes on after it. Blank rows
    come with no values."""
    progress = _RowProgress()
    reader = csv.reader(_csv_lines(stream, max_line_bytes, max_total_bytes, name, progress))
    while True:
        first = progress.line + 1  # the row's first line
        # A backstop for the parser's own buffer; the limit is process-wide, so it is set only while parsing.
        previous = csv.field_size_limit(max_line_bytes)
        try:
            values, problem = next(reader), None
        except StopIteration:
            return
        except csv.Error as exc:
            values, problem = [], f"bad CSV row ({exc})"
        finally:
            csv.field_size_limit(previous)
        if progress.overlong is not None:
            where = "line" if first == progress.line else f"its line {progress.overlong}"
            values, problem = [], f"{where} is longer than {max_line_bytes} bytes; skipped"
        elif progress.too_long:
            values, problem = [], f"row is longer than {max_line_bytes} bytes; skipped"
        yield CsvRow(progress.line, values, problem)
        progress.size, progress.overlong, progress.too_long = 0, None, False


def _csv_lines(
    stream: BinaryIO, max_line_bytes: int, max_total_bytes: int | None, name: str, progress: _RowProgress
) -> Iterator[str]:
    """Lines for the CSV reader, each row held to ``max_line_bytes``.

    The reader asks for another line before it ends a row only inside a quoted field (``progress.size``
    is then not 0). A row that passes the limit, or has an over-long line, is dropped: its lines are
    scanned for the end of the quoted field, never held, and the reader is handed what ends the row
    for it (a closing quote when it stands inside a field), so the row is reported and the next one
    is read as it should be."""
    quoting = _Quoting()
    lines = bounded_lines(stream, max_line_bytes, max_total_bytes, name, skipped=quoting.feed)
    dropping = False  # the rest of the current row is being dropped
    while True:
        quoting.reset(quoted=dropping or progress.size > 0)
        item = next(lines, None)
        if item is None:
            if dropping:
                yield '"\n' if progress.size else "\n"
            return
        progress.line, raw = item
        if raw is None:  # its chunks went through ``quoting``
            progress.overlong = progress.overlong or progress.line
        elif dropping or (progress.size and progress.size + len(raw.rstrip(b"\n")) > max_line_bytes):
            progress.too_long = progress.too_long or not dropping
            quoting.feed(raw)
        else:
            progress.size += len(raw)
            yield raw.decode("utf-8", "surrogateescape")
            continue
        dropping = quoting.quoted  # the row goes on while its quoted field does
        if not dropping:
            yield '"\n' if progress.size else "\n"


class _Quoting:
    """Whether CSV bytes fed so far stand inside a quoted field (default dialect: a quote opens a
    field only at its start; inside, a doubled quote is a quote). Fed in chunks of one line."""

    _START, _FIELD, _QUOTED, _QUOTE = range(4)  # _QUOTE: a quote seen inside a quoted field

    def __init__(self) -> None:
        self.state = self._START

    def reset(self, quoted: bool) -> None:
        self.state = self._QUOTED if quoted else self._START

    @property
    def quoted(self) -> bool:
        return self.state == self._QUOTED

    def feed(self, data: bytes) -> None:
        state, i = self.state, 0
        while i < len(data):
            if state == self._QUOTED:
                end = data.find(b'"', i)
                if end < 0:
                    break
                state, i = self._QUOTE, end + 1
            elif state == self._FIELD:
                comma = data.find(b",", i)
                if comma < 0:
                    break
                state, i = self._START, comma + 1
            else:  # at a field's start, or after a quote inside one: the same three ways on
                byte = data[i]
                state = self._QUOTED if byte == 0x22 else self._START if byte == 0x2C else self._FIELD
                i += 1
        self.state = state
