"""Store commands: ``opinara db upgrade``, ``ingest``, ``products``, ``aspects``, ``trends``, ``drivers``,
``aggregates rebuild`` and ``reanalyze``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opinara.cli.app import aggregates_app, app, db_app
from opinara.cli.output import colored
from opinara.config import Settings
from opinara.errors import InputError


def _store(migrate: bool = True) -> Any:
    from opinara.store.db import open_store

    return open_store(Settings(), migrate=migrate)


def _emit(data: Any, output_format: str, table: Table | None) -> None:
    if output_format not in ("table", "json"):
        raise InputError(f"--format must be table or json, not {output_format!r}")
    if output_format == "json" or table is None:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        Console().print(table)


def _net(value: float) -> str:
    color = "green" if value > 0 else "red" if value < 0 else "yellow"
    return f"[{color}]{value:+.2f}[/]"


FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending database migrations."""
    from opinara.store.db import make_engine, redact_url, upgrade

    settings = Settings()
    applied = upgrade(make_engine(settings))
    where = redact_url(settings.resolved_database_url)
    typer.echo(f"applied {', '.join(applied)} to {where}" if applied else f"{where} is up to date")


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise InputError(f"--map takes FIELD=COLUMN, not {pair!r}")
        mapping[field.strip()] = column.strip()
    return mapping


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Review files: Amazon 2023 or 2018 JSON Lines, or CSV; .gz too.")],
    source: Annotated[str | None, typer.Option(help="Source name (default: amazon, or the CSV file's name).")] = None,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="amazon-2023, amazon-2018 or csv (default: detect).")
    ] = None,
    mapping: Annotated[
        list[str],
        typer.Option(
            "--map",
            help="CSV column for a field: FIELD=COLUMN (text, rating, product, id, author, title, created_at, product_title).",
        ),
    ] = [],  # noqa: B006
    meta: Annotated[
        Path | None, typer.Option(help="Product metadata (Amazon 2023 meta_* JSON Lines) to fill titles.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10000)] = 256,
    backend: Annotated[str | None, typer.Option(help="Sentiment backend for the analysis.")] = None,
    redact_pii: Annotated[
        bool, typer.Option("--redact-pii", help="Store redacted texts (also OPINARA_REDACT_PII=true).")
    ] = False,
) -> None:
    """Ingest review files: analyze each review, store it, update the aggregates. Re-running adds
    nothing; a run that was killed resumes from its checkpoint."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from opinara.analysis.pipeline import Analyzer
    from opinara.ingest.metadata import ingest_metadata
    from opinara.ingest.runner import Ingester, IngestOptions

    for path in [*paths, *([meta] if meta else [])]:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
    settings = Settings(**({"backend": backend} if backend else {}))  # type: ignore[arg-type]
    store = _store()
    if meta:
        typer.echo(f"{meta}: {ingest_metadata(store, meta, source or 'amazon')} products updated", err=True)
    ingester = Ingester(store, Analyzer(settings))
    options = IngestOptions(
        source=source,
        format=input_format,
        mapping=_parse_mapping(mapping),
        batch_size=batch_size,
        redact_pii=redact_pii or settings.redact_pii,
    )
    console = Console(stderr=True)
    for path in paths:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[stored]} stored"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, disable=not sys.stderr.isatty(), transient=True) as bar:
            task = bar.add_task(path.name, total=path.stat().st_size, stored=0)
            summary = ingester.ingest(
                path, options, lambda done, stored, t=task: bar.update(t, completed=done, stored=stored)
            )
        resumed = f", resumed at line {summary.resumed_from_line}" if summary.resumed_from_line else ""
        languages = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_language.items(), key=lambda kv: -kv[1]))
        typer.echo(
            f"{path}: {summary.format}, read {summary.read}, stored {summary.stored}, duplicates {summary.duplicates}, "
            f"rejected {summary.rejected} in {summary.seconds:.1f}s (run {summary.run_id}{resumed}); languages: {languages or '-'}"
        )


@app.command()
def products(
    output_format: FormatOption = "table",
    top: Annotated[int, typer.Option(min=1, max=20)] = 3,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many products (default: all).")] = None,
) -> None:
    """Every product family: stored and counted reviews, average rating, sentiment mix, net sentiment,
    top positive and negative aspects."""
    from opinara.insights import queries

    rows: list[Any] = []
    cursor = None
    with _store().session() as session:
        while limit is None or len(rows) < limit:
            page = queries.products(
                session, top=top, cursor=cursor, limit=min(500, limit - len(rows) if limit else 500)
            )
            rows += page.products
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    table = Table(title="products")
    for column in (
        "id",
        "product",
        "variants",
        "reviews",
        "counted",
        "rating",
        "pos/neg/neu/mixed",
        "net",
        "loved",
        "hated",
    ):
        table.add_column(column)
    for p in rows:
        mix = "/".join(str(getattr(p.sentiment, k)) for k in ("positive", "negative", "neutral", "mixed"))
        left_out = ", ".join(f"{reason} {n}" for reason, n in p.excluded.items())
        table.add_row(
            str(p.id),
            p.title or p.external_id,
            str(len(p.variants)),
            str(p.reviews),
            f"{p.counted_reviews}" + (f" ({left_out})" if left_out else ""),
            f"{p.average_rating:.2f}" if p.average_rating is not None else "-",
            mix,
            _net(p.net_sentiment),
            ", ".join(a.group for a in p.top_positive_aspects),
            ", ".join(a.group for a in p.top_negative_aspects),
        )
    _emit([p.model_dump(mode="json") for p in rows], output_format, table)


@app.command()
def aspects(
    product: Annotated[str, typer.Argument(help="Product id (asin, a variant's id) or Opinara's numeric id.")],
    sort: Annotated[str, typer.Option(help="mentions or net.")] = "mentions",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    output_format: FormatOption = "table",
) -> None:
    """A product's aspect groups with counts per polarity, net sentiment and two example snippets."""
    from opinara.insights import queries

    with _store().session() as session:
        data = queries.aspects(session, product, sort=sort, limit=limit)
    table = Table(title=f"aspects of {data.product.title or data.product.external_id}", show_lines=True)
    for column in ("aspect", "mentions", "pos", "neg", "neu", "net", "examples"):
        table.add_column(column)
    for a in data.aspects:
        examples = "\n".join(f"{colored(e.polarity)}: {e.snippet}" for e in a.examples)
        table.add_row(
            a.group, str(a.mentions), str(a.positive), str(a.negative), str(a.neutral), _net(a.net_sentiment), examples
        )
    _emit(data.model_dump(mode="json"), output_format, table)


@app.command()
def trends(
    product: Annotated[str, typer.Argument(help="Product id or Opinara's numeric id.")],
    aspect: Annotated[str | None, typer.Option(help="An aspect group; default: all reviews.")] = None,
    by: Annotated[str, typer.Option(help="day, week or month.")] = "month",
    output_format: FormatOption = "table",
) -> None:
    """Mentions and net sentiment per period."""
    from opinara.insights import queries

    with _store().session() as session:
        data = queries.trends(session, product, aspect=aspect, by=by)  # type: ignore[arg-type]
    table = Table(title=f"{aspect or 'all reviews'} by {by}")
    for column in ("period", "mentions", "pos", "neg", "net", "rating"):
        table.add_column(column)
    for p in data.periods:
        rating = f"{p.average_rating:.2f}" if p.average_rating is not None else "-"
        table.add_row(
            p.period.isoformat(), str(p.mentions), str(p.positive), str(p.negative), _net(p.net_sentiment), rating
        )
    _emit(data.model_dump(mode="json"), output_format, table)


@app.command()
def drivers(
    product: Annotated[str, typer.Argument(help="Product id or Opinara's numeric id.")],
    output_format: FormatOption = "table",
) -> None:
    """Which aspects' sentiment best explains low star ratings."""
    from opinara.insights import queries

    with _store().session() as session:
        data = queries.drivers(session, product)
    average = f"{data.average_rating:.2f}" if data.average_rating is not None else "-"
    table = Table(title=f"drivers of low ratings ({data.reviews} rated reviews, average {average})")
    for column in ("aspect", "negative reviews", "rating when negative", "drop", "share of low ratings", "impact"):
        table.add_column(column)
    for d in data.drivers:
        table.add_row(
            d.group,
            str(d.negative_reviews),
            f"{d.average_rating_when_negative:.2f}",
            f"{d.rating_drop:+.2f}",
            f"{d.share_of_low_ratings:.0%}",
            f"{d.impact:.3f}",
        )
    _emit(data.model_dump(mode="json"), output_format, table)


@aggregates_app.command("rebuild")
def aggregates_rebuild() -> None:
    """Recompute the product x aspect x day aggregates from the stored reviews."""
    from opinara.insights import aggregates

    with _store().session() as session:
        rows = aggregates.rebuild(session)
    typer.echo(f"rebuilt {rows} aggregate rows")


@app.command()
def reanalyze(
    product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
    model: Annotated[str | None, typer.Option(help="Model id or path for the analysis.")] = None,
    backend: Annotated[str | None, typer.Option(help="Sentiment backend.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10000)] = 256,
) -> None:
    """Re-run the analysis of stored reviews (after a model change) and rebuild their aggregates."""
    from rich.progress import Progress

    from opinara.analysis.pipeline import Analyzer
    from opinara.ingest.reanalysis import reanalyze as run

    overrides = {k: v for k, v in {"model": model, "backend": backend}.items() if v}
    analyzer = Analyzer(Settings(**overrides))  # type: ignore[arg-type]
    store = _store()
    with Progress(console=Console(stderr=True), disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("reanalyze", total=None)
        count = run(
            store, analyzer, product, batch_size, lambda done, total: bar.update(task, completed=done, total=total)
        )
    typer.echo(f"reanalyzed {count} reviews with {analyzer.backend.info.name} {analyzer.backend.info.version}")


@app.command()
def maintenance() -> None:
    """Run the retention pass once: delete finished jobs older than OPINARA_JOB_RETENTION_DAYS and blank
    review texts older than OPINARA_TEXT_RETENTION_DAYS (`opinara serve` runs it on its own, hourly)."""
    from opinara.ops.maintenance import run_maintenance

    report = run_maintenance(_store(), Settings())
    typer.echo(f"deleted {report.jobs_deleted} finished jobs; blanked {report.texts_blanked} review texts")
