"""Bounded line reading: over-long lines are reported and skipped, the total read is capped."""

from __future__ import annotations

import csv
import gzip
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opinara.errors import InputError, LimitExceeded
from opinara.ingest.lines import _Quoting, bounded_lines, csv_rows, sniff


def lines(data: bytes, max_line_bytes: int, max_total_bytes: int | None = None) -> list[tuple[int, bytes | None]]:
    return list(bounded_lines(io.BytesIO(data), max_line_bytes, max_total_bytes))


def test_short_lines_keep_their_newline_and_long_ones_become_markers():
    data = b"ab\n" + b"x" * 10 + b"\nc\r\nlast"
    assert lines(data, 4) == [(1, b"ab\n"), (2, None), (3, b"c\r\n"), (4, b"last")]


def test_the_limit_counts_the_line_without_its_newline():
    assert lines(b"abcd\nabcde\nabcd", 4) == [(1, b"abcd\n"), (2, None), (3, b"abcd")]
    assert lines(b"abcde", 4) == [(1, None)], "an over-long last line without a newline"


def test_an_over_long_line_is_skipped_in_chunks_not_read_whole():
    class Recording(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.sizes: list[int] = []

        def readline(self, size: int | None = -1) -> bytes:
            self.sizes.append(-1 if size is None else size)
            return super().readline(size)

    stream = Recording(b"y" * 1_000_000 + b"\nok\n")
    assert list(bounded_lines(stream, 100)) == [(1, None), (2, b"ok\n")]
    assert max(stream.sizes) <= 1 << 16 and -1 not in stream.sizes


def test_reading_more_than_the_total_limit_raises():
    assert lines(b"a\n" * 50, 10, max_total_bytes=100) == [(n, b"a\n") for n in range(1, 51)]
    with pytest.raises(LimitExceeded) as raised:
        lines(b"a\n" * 51, 10, max_total_bytes=100)
    assert raised.value.limit == "decompressed size"
    assert "more than 100 bytes" in str(raised.value)


def test_the_total_limit_counts_the_skipped_part_of_an_over_long_line():
    with pytest.raises(LimitExceeded):
        lines(b"z" * 10_000, 10, max_total_bytes=5_000)


def test_a_corrupt_gzip_stream_is_an_input_error():
    data = gzip.compress(b"line\n" * 10_000)
    truncated = gzip.GzipFile(fileobj=io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(InputError, match=r"corrupt\.gz: cannot read"):
        list(bounded_lines(truncated, 100, name="corrupt.gz"))  # type: ignore[arg-type]


@given(data=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\x00", b"\xff", b"long" * 5])).map(b"".join))
def test_every_newline_separated_line_is_accounted_for(data: bytes):
    for limit in (1, 3, 8, 64):
        got = lines(data, limit)
        pieces = data.split(b"\n")
        ended = [piece + b"\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
        expected = [(n, None if len(line.rstrip(b"\n")) > limit else line) for n, line in enumerate(ended, start=1)]
        assert got == expected
        assert [n for n, _ in got] == list(range(1, len(got) + 1))


@given(data=st.binary(max_size=300), limit=st.integers(min_value=0, max_value=300))
def test_the_total_limit_raises_exactly_when_the_input_is_larger(data: bytes, limit: int):
    try:
        lines(data, 16, max_total_bytes=limit)
    except LimitExceeded:
        assert len(data) > limit
    else:
        assert len(data) <= limit


def test_sniff_returns_the_head_and_replays_it():
    data = bytes(range(256)) * 100
    head, replay = sniff(io.BytesIO(data), 1000)
    assert head == data[:1000]
    assert replay.read() == data
    head, replay = sniff(io.BytesIO(b"short\nfile\n"), 1000)
    assert head == b"short\nfile\n" and replay.readline(100) == b"short\n"


def test_csv_rows_report_an_over_long_line_inside_a_quoted_field_and_go_on():
    data = b'id,text\n1,"starts\n' + b"x" * 200 + b'\nends"\n2,fine\n'
    rows = list(csv_rows(io.BytesIO(data), 100))
    assert rows[0].values == ["id", "text"]
    assert (rows[1].line, rows[1].values, rows[1].problem) == (4, [], "its line 3 is longer than 100 bytes; skipped")
    assert rows[-1].values == ["2", "fine"] and rows[-1].problem is None


def test_a_quoted_field_over_many_short_lines_is_one_bad_row_and_never_held():
    data = b'id,text\n1,"' + b'short ""line""\n' * 100 + b'end", tail\n2,after\n3,"two\nlines"\n'
    rows = list(csv_rows(io.BytesIO(data), 200))
    assert [(r.line, r.values, r.problem) for r in rows[1:]] == [
        (102, [], "row is longer than 200 bytes; skipped"),
        (103, ["2", "after"], None),
        (105, ["3", "two\nlines"], None),
    ]


def test_a_row_of_many_lines_closing_right_at_the_limit_is_kept():
    data = b'id,text\n1,"' + b"x" * 50 + b"\n" + b"y" * 50 + b'"\n2,next\n'
    rows = list(csv_rows(io.BytesIO(data), 200))
    assert [r.values for r in rows[1:]] == [["1", "x" * 50 + "\n" + "y" * 50], ["2", "next"]]


def test_the_process_wide_csv_field_limit_is_restored():
    before = csv.field_size_limit()
    list(csv_rows(io.BytesIO(b"a,b\n1,2\n"), 5000))
    assert csv.field_size_limit() == before


def test_csv_rows_decode_bad_bytes_as_escapes():
    [_, row] = csv_rows(io.BytesIO(b"text\nb\xffd\n"), 100)
    assert row.values == ["b\udcffd"] and row.problem is None


@given(line=st.text(alphabet='a,"\r', max_size=12), quoted=st.booleans())
def test_quote_tracking_agrees_with_the_csv_module(line: str, quoted: bool):
    lines = (['"\n'] if quoted else []) + [line + "\n", "z\n"]
    reader = csv.reader(iter(lines))
    try:
        next(reader)
    except csv.Error:
        return  # "new-line character seen in unquoted field": a bad row either way
    quoting = _Quoting()
    quoting.reset(quoted)
    for start in range(0, len(line) + 1, 3):  # in chunks, as an over-long line comes
        quoting.feed((line + "\n").encode()[start : start + 3])
    assert quoting.quoted == (reader.line_num == len(lines))


@given(text=st.text(alphabet='ab,"\n', max_size=60))
def test_csv_rows_match_the_csv_module_when_no_limit_is_reached(text: str):
    expected = [row for row in csv.reader(io.StringIO(text, newline=""))]
    assert [r.values for r in csv_rows(io.BytesIO(text.encode()), 1000)] == expected


def test_an_over_long_line_closing_a_quoted_field_ends_its_row():
    data = b'id,text\n1,"starts\n' + b"x" * 300 + b'", tail\n2,next\n3,"' + b"y" * 300 + b'\nmore"\n4,last\n'
    rows = list(csv_rows(io.BytesIO(data), 100))
    assert [(r.line, r.values, r.problem) for r in rows[1:]] == [
        (3, [], "its line 3 is longer than 100 bytes; skipped"),
        (4, ["2", "next"], None),
        (6, [], "its line 5 is longer than 100 bytes; skipped"),
        (7, ["4", "last"], None),
    ]


@given(
    rows=st.lists(
        st.lists(st.text(alphabet='ab ,"\n', max_size=30), min_size=1, max_size=4),
        min_size=1,
        max_size=8,
    ),
    limit=st.integers(min_value=4, max_value=60),
)
def test_each_row_written_by_the_csv_module_is_read_back_or_reported(rows: list[list[str]], limit: int):
    written = []
    for row in rows:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(row)
        written.append(out.getvalue().encode())
    got = list(csv_rows(io.BytesIO(b"".join(written)), limit))
    assert len(got) == len(rows)
    end = 0
    for row, text, read in zip(rows, written, got, strict=True):
        end += text.count(b"\n")
        assert read.line == end
        if len(text) - 1 <= limit:  # the row's bytes without its final newline
            assert (read.values, read.problem) == (row, None)
        else:
            assert read.values == [] and read.problem is not None and "longer than" in read.problem
