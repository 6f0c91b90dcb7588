"""``opinara demo``: analyze the shipped sample reviews and print a per-product aspect summary."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opinara.cli.app import app
from opinara.cli.output import colored
from opinara.config import Settings


@app.command()
def demo(
    backend: Annotated[str | None, typer.Option(help="lexicon, encoder or transformer.")] = None,
    top: Annotated[int, typer.Option(min=1, max=50, help="Aspects shown per product.")] = 6,
) -> None:
    """Analyze the demo reviews (three products) and summarize what customers say about each aspect."""
    from opinara.analysis.pipeline import Analyzer
    from opinara.demo import load_demo_reviews
    from opinara.insights.summary import summarize

    settings = Settings(**({"backend": backend} if backend else {}))  # type: ignore[arg-type]
    reviews = load_demo_reviews()
    console = Console()
    with console.status(f"analyzing {len(reviews)} demo reviews"):
        analyzer = Analyzer(settings)
        results = analyzer.analyze([r.text for r in reviews])
    for summary in summarize((r.product, r.rating, res) for r, res in zip(reviews, results, strict=True)):
        mix = ", ".join(f"{colored(label)} {count}" for label, count in summary.sentiment.most_common())
        table = Table(
            title=f"{summary.product}: {summary.reviews} reviews, {summary.average_rating:.1f} stars; {mix}",
            title_justify="left",
        )
        for column, justify in (
            ("aspect", "left"),
            ("mentions", "right"),
            ("positive", "right"),
            ("negative", "right"),
            ("net", "right"),
        ):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for aspect in summary.ranked_aspects(top):
            net_color = "green" if aspect.net > 0 else "red" if aspect.net < 0 else "yellow"
            table.add_row(
                aspect.group,
                str(aspect.mentions),
                str(aspect.positive),
                str(aspect.negative),
                f"[{net_color}]{aspect.net:+.2f}[/]",
            )
        console.print(table)
    console.print(
        f"model: {analyzer.backend.info.name} {analyzer.backend.info.version} ({analyzer.backend.info.backend})"
    )
