"""``opinara evaluate``: score the analyzer on labeled sentiment data or SemEval ABSA XML."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opinara.cli.app import app
from opinara.config import Settings
from opinara.errors import InputError


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Labeled sentiment file, or SemEval XML for --task aspects.")],
    task: Annotated[str, typer.Option(help="sentiment or aspects.")] = "sentiment",
    backend: Annotated[str | None, typer.Option(help="lexicon, encoder or transformer.")] = None,
    model: Annotated[str | None, typer.Option(help="Model id or path.")] = None,
    runtime: Annotated[str | None, typer.Option(help="torch or onnx.")] = None,
    aspect_extractor: Annotated[str | None, typer.Option(help="tagger or rules.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Sentiment: accuracy, macro-F1, per-class recall (binary data: positive vs negative). Aspects:
    term precision/recall/F1 (exact spans) and polarity accuracy on gold terms."""
    from rich.progress import Progress

    from opinara.analysis.pipeline import Analyzer
    from opinara.evaluation.runner import evaluate_aspects, evaluate_sentiment
    from opinara.training.datasets import read_labeled, read_semeval

    if task not in ("sentiment", "aspects"):
        raise InputError(f"--task must be sentiment or aspects, not {task!r}")
    if output_format not in ("table", "json"):
        raise InputError(f"--format must be table or json, not {output_format!r}")
    overrides = {"backend": backend, "model": model, "runtime": runtime, "aspect_extractor": aspect_extractor}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    examples: list = read_labeled(data) if task == "sentiment" else read_semeval(data)
    if not examples:
        raise InputError(f"{data}: no labeled examples")
    analyzer = Analyzer(settings)
    with Progress(console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty()) as bar:
        progress_task = bar.add_task(f"evaluate {task}", total=len(examples))

        def advance(n: int) -> None:
            bar.update(progress_task, advance=n)

        run = evaluate_sentiment if task == "sentiment" else evaluate_aspects
        report = run(analyzer, examples, advance)
    report["data"] = str(data)
    report["model"] = analyzer.backend.info.model_dump()
    if output_format == "json":
        typer.echo(json.dumps(report, indent=2))
        return
    Console().print(_table(report))


def _table(report: dict) -> Table:
    table = Table(title=f"{report['task']} on {Path(report['data']).name}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in _flatten(report):
        if key not in ("data", "task") and not key.startswith("model."):
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def _flatten(value: object, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(v, f"{prefix}{k}.")]
    return [(prefix.rstrip("."), value)]
