"""Text records as ``opinara analyze --file`` and analyze-job uploads read them: bad lines are
reported with their number, a file is refused only when it is mostly binary, memory stays flat."""

from __future__ import annotations

import gzip
import io
import json
import random
import tracemalloc
from pathlib import Path

import pytest

from opinara.errors import InputError, LimitExceeded
from opinara.ingest.text_records import BINARY_SHARE, TextRecord, binary_share, open_binary, read_records

BOMB_BYTES = 200 * 1024 * 1024


def read(data: bytes, fmt: str = "text", **options) -> list[TextRecord]:
    return list(read_records(io.BytesIO(data), fmt, **options))  # type: ignore[arg-type]


def errors(records: list[TextRecord]) -> dict[int, str | None]:
    return {r.line: r.error for r in records if r.error}


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 MB of one letter, one line, gzipped to a few hundred KB; written in 1 MiB chunks."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.txt.gz"
    chunk = b"a" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=6) as out:
        for _ in range(BOMB_BYTES // len(chunk)):
            out.write(chunk)
    return path


def test_a_gzip_bomb_line_is_one_skipped_line_read_with_flat_memory(bomb: Path):
    assert bomb.stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        with open_binary(bomb) as stream:
            records = list(read_records(stream, "text"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert records == [TextRecord(1, error="line is longer than 1048576 bytes; skipped")]
    assert peak < 50 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_a_gzip_file_unpacking_past_the_upload_limit_is_refused(bomb: Path):
    with open_binary(bomb) as stream, pytest.raises(LimitExceeded, match="more than 52428800 bytes") as raised:
        list(read_records(stream, "text", max_total_bytes=50 * 1024 * 1024))
    assert raised.value.limit == "decompressed size"


def test_random_bytes_are_refused_as_binary():
    noise = random.Random(7).randbytes(20_000)
    assert binary_share(noise[:8192]) > 0.5
    with pytest.raises(InputError, match=r"noise.bin: looks like binary data, not text \(\d+% of its first 8192 bytes"):
        list(read_records(io.BytesIO(noise), "text", name="noise.bin"))


def test_utf16_text_is_refused_with_a_hint():
    with pytest.raises(InputError, match="looks like UTF-16 text; convert it to UTF-8"):
        read("Great fit.\n".encode("utf-16"))


def test_text_with_a_few_bad_lines_is_read_and_the_bad_lines_reported():
    data = b"Great value.\nBad\x00 zipper\nCaf\xe9 latin-1\n\x07bell is a control byte\nTerrible strap.\n"
    assert binary_share(data) < BINARY_SHARE
    records = read(data)
    assert [(r.line, r.text) for r in records if r.text] == [
        (1, "Great value."),
        (4, "\x07bell is a control byte"),
        (5, "Terrible strap."),
    ]
    assert errors(records) == {2: "contains a NUL character at character 3", 3: "invalid UTF-8 at byte 3"}


def test_the_binary_rule_is_a_share_of_the_first_8_kib():
    assert binary_share(b"") == 0.0
    assert binary_share(b"plain text\twith tabs\r\n\x0cform feed") == 0.0
    assert binary_share(b"\x00" * 3 + b"a" * 7) == pytest.approx(0.3)
    assert read(b"\x00" * 3 + b"a" * 7 + b"\n")[0].error == "contains a NUL character at character 0"
    with pytest.raises(InputError, match="binary"):
        read(b"\x00" * 4 + b"a" * 6 + b"\n")
    text_after_binary_head = b"\x00" * 8192 + b"fine\n"
    with pytest.raises(InputError, match="binary"):
        read(text_after_binary_head)


def test_jsonl_records_with_unsafe_escapes_long_ids_and_deep_nesting():
    lines = [
        json.dumps({"id": "r1", "text": "Works perfectly."}),
        '{"id": "r2", "text": "bad \\ud800 surrogate"}',
        '{"id": "r3", "text": "nul \\u0000 char"}',
        json.dumps({"id": "x" * 300, "text": "long id"}),
        json.dumps({"id": ["a"], "text": "list id"}),
        json.dumps({"id": "\ud83d", "text": "surrogate id"}),
        "[" * 100_000 + "]" * 100_000,
        '{"text": "big number", "n": ' + "9" * 5000 + "}",
        json.dumps({"id": 7, "text": "Broke on day two."}),
    ]
    records = read("\n".join(lines).encode(), "jsonl")
    assert [(r.line, r.id, r.text) for r in records if r.text] == [
        (1, "r1", "Works perfectly."),
        (9, "7", "Broke on day two."),
    ]
    assert errors(records) == {
        2: "field 'text' contains a lone surrogate (U+D800) at character 4",
        3: "field 'text' contains a NUL character at character 4",
        4: "field 'id' has 300 characters; the limit is 256",
        5: "field 'id' is list, not a string or number",
        6: "field 'id' contains a lone surrogate (U+D83D) at character 0",
        7: "invalid JSON (nested too deeply)",
        8: "invalid JSON (a number too long)",
    }


def test_a_200_kb_jsonl_line_among_good_lines():
    lines = [{"text": "Good zipper."}, {"text": "y " * 100_000}, {"text": "Bad strap."}]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    at_default_limits = read(data, "jsonl")
    assert [r.text for r in at_default_limits] == ["Good zipper.", None, "Bad strap."]
    assert errors(at_default_limits) == {2: "text has 200000 characters; the limit is 100000"}
    with_short_lines = read(data, "jsonl", max_line_bytes=100_000)
    assert errors(with_short_lines) == {2: "line is longer than 100000 bytes; skipped"}
    assert [r.line for r in with_short_lines if r.text] == [1, 3]


def test_csv_bad_bytes_giant_fields_and_nul_are_bad_rows():
    data = (
        b"id,text\n"
        b"1,Comfortable.\n"
        b"2,B\xffd bytes\n"
        b'3,"' + b"long text " * 30 + b'"\n'
        b'4,"a quoted\n' + b"line after line\n" * 30 + b'end"\n'
        b"5,nul\x00here\n"
        b"\xfe6,id with a bad byte\n"
        b"\n"
        b"7\n"
        b"8,Zipper broke.\n"
    )
    records = read(data, "csv", max_line_bytes=200)
    assert [(r.line, r.id, r.text) for r in records if r.text] == [(2, "1", "Comfortable."), (41, "8", "Zipper broke.")]
    assert errors(records) == {
        3: "column 'text' is not valid UTF-8 (at character 1)",
        4: "line is longer than 200 bytes; skipped",
        36: "row is longer than 200 bytes; skipped",
        37: "column 'text' contains a NUL character at character 3",
        38: "column 'id' is not valid UTF-8 (at character 0)",
        40: "row has no value for 'text'",
    }


def test_csv_header_problems_are_input_errors():
    with pytest.raises(InputError, match="no column 'text' \\(columns: id, body\\)"):
        read(b"id,body\n1,hi\n", "csv")
    with pytest.raises(InputError, match="not a readable CSV file \\(header: line is longer than 1024 bytes"):
        read(b"x" * 2000 + b"\n1\n", "csv", max_line_bytes=1024)
