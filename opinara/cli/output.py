"""Shared output helpers for the CLI: progress bars on a terminal, result tables for people."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from opinara.analysis.schema import AnalysisResult

_COLORS = {"positive": "green", "negative": "red", "neutral": "yellow", "mixed": "magenta"}


@contextlib.contextmanager
def progress_bar(total_bytes: int | None, file: Path | None) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr when stderr is a terminal (bytes read, texts, rate, ETA); else nothing."""
    if not sys.stderr.isatty():
        yield lambda _bytes, _texts: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[texts]} texts"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(file.name if file else "analyze", total=total_bytes, texts=0)
        count = 0

        def advance(n_bytes: int, n_texts: int) -> None:
            nonlocal count
            count += n_texts
            progress.update(task, advance=n_bytes, texts=count)

        yield advance


def colored(label: str) -> str:
    return f"[{_COLORS.get(label, 'white')}]{label}[/]"


class ResultTable:
    """Analysis results as a table: line, language, sentiment, aspects, PII."""

    def __init__(self) -> None:
        self.table = Table(show_lines=False)
        for column in ("line", "lang", "sentiment", "aspects", "pii"):
            self.table.add_column(column, overflow="fold")

    def add(self, line: int, result: AnalysisResult) -> None:
        sentiment = result.sentiment
        feeling = f"{colored(sentiment.label)} {sentiment.confidence:.2f}" if sentiment else "-"
        aspects = ", ".join(f"{a.term} ({colored(a.sentiment.label)})" for a in result.aspects)
        pii = ", ".join(sorted({p.type for p in result.pii}))
        self.table.add_row(str(line), result.language.code or "?", feeling, aspects or "-", pii or "-")

    def print(self) -> None:
        Console().print(self.table)
