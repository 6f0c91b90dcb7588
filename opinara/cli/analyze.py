"""``opinara analyze``: texts from arguments, a file or standard input -> JSON Lines or a table."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer

from opinara.cli.app import app
from opinara.cli.output import ResultTable, progress_bar
from opinara.config import Settings
from opinara.ingest.text_records import TextRecord, detect_format, open_binary, read_records


def _argument_records(texts: list[str], max_chars: int) -> Iterator[TextRecord]:
    """One record per argument; an argument that is not valid UTF-8 (Python keeps its bytes as lone
    surrogates) or holds a NUL is a bad record, like a bad line of a file."""
    from opinara.validation import text_problem

    for number, text in enumerate(texts, start=1):
        if (problem := text_problem(text)) is not None:
            yield TextRecord(number, error=f"argument {problem} (is it valid UTF-8?)")
        elif len(text) > max_chars:
            yield TextRecord(number, error=f"text has {len(text)} characters; the limit is {max_chars}")
        else:
            yield TextRecord(number, text=text)


@app.command()
def analyze(
    texts: Annotated[
        list[str] | None, typer.Argument(help="Texts to analyze; none reads --file or standard input.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Plain text (one per line), .jsonl or .csv; .gz too.")
    ] = None,
    input_format: Annotated[str, typer.Option("--input-format", help="auto, text, jsonl or csv.")] = "auto",
    text_field: Annotated[str, typer.Option(help="JSON field or CSV column holding the text.")] = "text",
    output_format: Annotated[
        str | None, typer.Option("--format", help="jsonl or table (default: table on a terminal).")
    ] = None,
    backend: Annotated[str | None, typer.Option(help="lexicon, encoder or transformer.")] = None,
    model: Annotated[str | None, typer.Option(help="Model id or path for the backend.")] = None,
    runtime: Annotated[str | None, typer.Option(help="torch or onnx.")] = None,
    no_aspects: Annotated[bool, typer.Option("--no-aspects", help="Skip aspect extraction.")] = False,
    redact_pii: Annotated[bool, typer.Option("--redact-pii", help="Find PII and add redacted_text.")] = False,
    pii: Annotated[bool, typer.Option("--pii", help="Find PII without redacting.")] = False,
    batch_size: Annotated[int | None, typer.Option(min=1, max=4096)] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (each loads its own models).")] = 1,
) -> None:
    """Analyze sentiment, aspects, language and PII. Bad records (an over-long line, a NUL, invalid
    UTF-8) are reported on stderr with their line number and skipped; the exit code is then 1 (2 for
    unusable input or options, such as a file that is mostly binary)."""
    from opinara.errors import InputError

    if input_format not in ("auto", "text", "jsonl", "csv"):
        raise InputError(f"--input-format must be auto, text, jsonl or csv, not {input_format!r}")
    if output_format not in (None, "jsonl", "table"):
        raise InputError(f"--format must be jsonl or table, not {output_format!r}")
    if texts and file:
        raise InputError("give texts as arguments or --file, not both")
    overrides = {
        k: v
        for k, v in {"backend": backend, "model": model, "runtime": runtime, "batch_size": batch_size}.items()
        if v is not None
    }
    if no_aspects:
        overrides["aspects"] = False
    try:
        settings = Settings(**overrides, redact_pii=redact_pii, pii=pii)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(_first_error(exc)) from exc
    fmt: Literal["jsonl", "table"] = output_format or ("table" if sys.stdout.isatty() else "jsonl")  # type: ignore[assignment]

    if texts:
        records: Iterator[TextRecord] = _argument_records(texts, settings.max_text_chars)
        total_bytes, stream = None, None
    else:
        stream = open_binary(file) if file else sys.stdin.buffer
        kind = detect_format(file) if input_format == "auto" else input_format
        total_bytes = file.stat().st_size if file else None
        # Lines are bounded; the total is not: a local file or a pipe is the user's own, not an upload.
        records = read_records(
            stream,
            kind,  # type: ignore[arg-type]
            text_field,
            settings.max_text_chars,
            str(file or "stdin"),
            max_line_bytes=settings.max_line_bytes,
            max_total_bytes=None,
        )

    bad = _run(settings, records, fmt, workers, total_bytes, file)
    if stream is not None and file:
        stream.close()
    if bad:
        typer.echo(f"opinara: {bad} record(s) skipped", err=True)
        raise typer.Exit(1)


def _batches(
    records: Iterator[TextRecord], size: int, advance: Callable[[int, int], None], skipped: list[int]
) -> Iterator[list[TextRecord]]:
    """Good records in batches; bad ones are reported on stderr as they are met (their lines go to ``skipped``)."""
    batch: list[TextRecord] = []
    for record in records:
        if record.error:
            skipped.append(record.line)
            typer.echo(f"opinara: line {record.line}: {record.error}", err=True)
            continue
        batch.append(record)
        advance(len((record.text or "").encode()) + 1, 1)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run(
    settings: Settings, records: Iterator[TextRecord], fmt: str, workers: int, total: int | None, file: Path | None
) -> int:
    from opinara.analysis.schema import AnalysisResult
    from opinara.cli import analyze_worker
    from opinara.concurrency import ordered_map

    table = ResultTable() if fmt == "table" else None
    skipped: list[int] = []
    with progress_bar(total, file) as advance:
        batches = _batches(records, settings.batch_size, advance, skipped)
        for lines in ordered_map(
            analyze_worker.analyze_batch, batches, workers, analyze_worker.start, (settings.model_dump_json(),)
        ):
            if table is None:
                sys.stdout.write("".join(text for _, text in lines))
                sys.stdout.flush()
                continue
            for number, text in lines:
                table.add(number, AnalysisResult.model_validate_json(text))
    if table is not None:
        table.print()
    return len(skipped)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
