"""``opinara analyze`` as a user runs it: arguments, files of each format, standard input, bad input."""

import gzip
import json
import random

import pytest

LEXICON = ("--backend", "lexicon")


def results(stdout: bytes) -> list[dict]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


def test_texts_as_arguments_give_one_json_line_each_in_order(run_cli):
    done = run_cli("analyze", *LEXICON, "I love the screen.", "The battery died.")
    assert done.returncode == 0, done.stderr
    first, second = results(done.stdout)
    assert (first["line"], first["sentiment"]["label"]) == (1, "positive")
    assert (second["line"], second["sentiment"]["label"]) == (2, "negative")
    assert first["language"]["code"] == "en"


def test_default_backend_gives_aspects_with_opinions(run_cli):
    done = run_cli("analyze", "The battery life is great but the screen is dim.")
    assert done.returncode == 0, done.stderr
    [result] = results(done.stdout)
    assert result["model"]["backend"] == "encoder"
    aspects = {a["term"]: a for a in result["aspects"]}
    assert aspects["battery life"]["sentiment"]["label"] == "positive"
    assert aspects["battery life"]["group"] == "battery"
    assert [o["text"] for o in aspects["battery life"]["opinions"]] == ["great"]
    assert aspects["screen"]["sentiment"]["label"] == "negative"
    assert [o["text"] for o in aspects["screen"]["opinions"]] == ["dim"]


def test_plain_text_file_skips_and_reports_bad_lines(run_cli, tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_bytes(b"Great value.\n\nBad \xff\xfe bytes\n" + b"x" * 1_000_001 + b"\nTerrible zipper.\n")
    done = run_cli("analyze", *LEXICON, "--no-aspects", "--file", str(path))
    assert done.returncode == 1
    assert [r["line"] for r in results(done.stdout)] == [1, 5]
    errors = done.stderr.decode()
    assert "line 2: empty line" in errors
    assert "line 3: invalid UTF-8" in errors
    assert "line 4: text has 1000001 characters; the limit is 100000" in errors
    assert "Traceback" not in errors


def test_jsonl_gz_with_text_field_and_ids(run_cli, tmp_path):
    path = tmp_path / "reviews.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"id": "r1", "body": "Works perfectly."}) + "\n")
        handle.write("{not json\n")
        handle.write(json.dumps({"id": "r3", "body": 5}) + "\n")
        handle.write(json.dumps({"id": "r4", "body": "Broke on day two."}) + "\n")
    done = run_cli("analyze", *LEXICON, "--file", str(path), "--text-field", "body")
    assert done.returncode == 1
    assert [(r["line"], r["id"]) for r in results(done.stdout)] == [(1, "r1"), (4, "r4")]
    assert "line 2: invalid JSON" in done.stderr.decode()
    assert "line 3: field 'body' is int, not a string" in done.stderr.decode()


def test_csv_file_with_text_column(run_cli, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review\n1,"Comfortable, light and cheap."\n2,"Zipper broke, awful."\n')
    done = run_cli("analyze", *LEXICON, "--file", str(path), "--text-field", "review")
    assert done.returncode == 0, done.stderr
    assert [r["sentiment"]["label"] for r in results(done.stdout)] == ["positive", "negative"]


def test_standard_input_one_document_per_line(run_cli):
    done = run_cli("analyze", *LEXICON, stdin=b"good phone\nawful case\n")
    assert [r["sentiment"]["label"] for r in results(done.stdout)] == ["positive", "negative"]


def test_table_format_for_people(run_cli):
    done = run_cli("analyze", *LEXICON, "--format", "table", "The strap is comfortable.")
    assert done.returncode == 0
    assert "positive" in done.stdout.decode() and "strap" in done.stdout.decode()


def test_redaction(run_cli):
    done = run_cli("analyze", *LEXICON, "--redact-pii", "Mail me at jo@example.com, the fit is great.")
    [result] = results(done.stdout)
    assert result["redacted_text"] == "Mail me at <EMAIL>, the fit is great."
    assert result["pii"][0]["type"] == "EMAIL"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--file", "/no/such/file.txt"), "no such file"),
        (("--format", "xml", "text"), "--format must be jsonl or table"),
        (("--backend", "magic", "text"), "backend"),
        (("--batch-size", "0", "text"), "--batch-size"),
        (("--backend", "transformer", "text"), "needs --model"),
        (("--backend", "transformer", "--model", "/no/such/model", "text"), "could not load"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(run_cli, args, message):
    done = run_cli("analyze", *args)
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.parametrize("content", [bytes(range(256)) * 64, random.Random(3).randbytes(20_000)])
def test_binary_file_is_refused(run_cli, tmp_path, content):
    path = tmp_path / "garbage.bin"
    path.write_bytes(content)
    done = run_cli("analyze", *LEXICON, "--file", str(path))
    assert done.returncode == 2
    assert "looks like binary data" in done.stderr.decode()
    assert done.stdout == b""


def test_a_text_file_with_a_nul_line_is_analyzed_except_that_line(run_cli, tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_bytes(b"Great value.\nBad\x00 zipper.\nTerrible strap.\n")
    done = run_cli("analyze", *LEXICON, "--no-aspects", "--file", str(path))
    assert done.returncode == 1
    assert [(r["line"], r["sentiment"]["label"]) for r in results(done.stdout)] == [(1, "positive"), (3, "negative")]
    assert done.stderr.decode().splitlines() == [
        "opinara: line 2: contains a NUL character at character 3",
        "opinara: 1 record(s) skipped",
    ]


def test_an_over_long_jsonl_line_is_reported_and_the_others_analyzed(run_cli, tmp_path):
    path = tmp_path / "reviews.jsonl"
    lines = [{"text": "Great value."}, {"text": "word " * 40_000}, {"text": "Terrible strap."}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = run_cli(
        "analyze", *LEXICON, "--no-aspects", "--file", str(path), env_extra={"OPINARA_MAX_LINE_BYTES": "100000"}
    )
    assert done.returncode == 1
    assert [r["line"] for r in results(done.stdout)] == [1, 3]
    assert "opinara: line 2: line is longer than 100000 bytes; skipped" in done.stderr.decode().splitlines()


def test_csv_without_the_text_column_names_the_columns(run_cli, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("id,body\n1,hi\n")
    done = run_cli("analyze", "--file", str(path))
    assert done.returncode == 2
    assert "no column 'text' (columns: id, body)" in done.stderr.decode()


def test_worker_processes_keep_input_order_and_results(run_cli, tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("".join(f"review {i}: the strap is {'great' if i % 3 else 'awful'}\n" for i in range(300)))
    one = run_cli("analyze", *LEXICON, "--no-aspects", "--batch-size", "16", "--file", str(path))
    two = run_cli("analyze", *LEXICON, "--no-aspects", "--batch-size", "16", "--workers", "2", "--file", str(path))
    assert one.returncode == two.returncode == 0, two.stderr
    assert [r["line"] for r in results(two.stdout)] == list(range(1, 301))
    assert results(one.stdout) == results(two.stdout)


def test_an_argument_that_is_not_utf8_is_reported_and_the_others_analyzed(run_cli):
    # Arguments are bytes to the operating system; a shell passes these as they are.
    done = run_cli("analyze", "--backend", "lexicon", "--no-aspects", "fine", b"bad \xff")  # type: ignore[arg-type]
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["line"] for line in lines] == [1]
    assert b"line 2: argument contains a lone surrogate (U+DCFF) at character 4" in done.stderr
