"""``opinara analyze``: texts from arguments, a file or standard input -> JSON Lines or a table."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer

from opinara.cli.app import app
from opinara.cli.output import ResultTable, progress_bar
from opinara.config import Settings
from opinara.ingest.text_records import TextRecord, detect_format, open_binary, read_records


def _argument_records(texts: list[str], max_chars: int) -> Iterator[TextRecord]:
    for number, text in enumerate(texts, start=1):
        if len(text) > max_chars:
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
) -> None:
    """Analyze sentiment, aspects, language and PII. Bad records are reported on stderr with their
    line number and skipped; the exit code is then 1 (2 for unusable input or options)."""
    from opinara.analysis.pipeline import Analyzer
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
        records = read_records(stream, kind, text_field, settings.max_text_chars, str(file or "stdin"))  # type: ignore[arg-type]

    analyzer = Analyzer(settings)
    bad = _run(analyzer, records, fmt, settings.batch_size, total_bytes, file)
    if stream is not None and file:
        stream.close()
    if bad:
        typer.echo(f"opinara: {bad} record(s) skipped", err=True)
        raise typer.Exit(1)


def _run(
    analyzer: object, records: Iterator[TextRecord], fmt: str, batch_size: int, total: int | None, file: Path | None
) -> int:
    from opinara.analysis.pipeline import Analyzer

    assert isinstance(analyzer, Analyzer)
    table = ResultTable() if fmt == "table" else None
    bad = 0
    batch: list[TextRecord] = []
    out = sys.stdout

    def flush() -> None:
        results = analyzer.analyze([r.text or "" for r in batch])
        for record, result in zip(batch, results, strict=True):
            if table is not None:
                table.add(record.line, result)
            else:
                out.write(json_line(record, result.model_dump_json()))
        out.flush()
        batch.clear()

    with progress_bar(total, file) as advance:
        for record in records:
            if record.error:
                bad += 1
                typer.echo(f"opinara: line {record.line}: {record.error}", err=True)
                continue
            batch.append(record)
            advance(len((record.text or "").encode()) + 1, 1)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    if table is not None:
        table.print()
    return bad


def json_line(record: TextRecord, result_json: str) -> str:
    """The result object with the record's ``line`` (and ``id``) first; pydantic serializes the rest."""
    prefix = f'{{"line": {record.line}, ' + (f'"id": {json.dumps(record.id)}, ' if record.id is not None else "")
    return prefix + result_json[1:] + "\n"


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
