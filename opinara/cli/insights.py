"""``opinara insights ...``: what the detectors found, from the command line; ``detect`` runs the
sentiment-dip detection over the stored reviews now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opinara.cli.app import app
from opinara.config import Settings
from opinara.errors import InputError

insights_app = typer.Typer(help="Insights: list, show, ack, resolve, detect.", no_args_is_help=True)
app.add_typer(insights_app, name="insights")
FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]


def _service() -> Any:
    from opinara.insights.anomalies import InsightService
    from opinara.store.db import open_store

    settings = Settings()
    return settings, InsightService(settings, open_store(settings))


def _format(value: str) -> str:
    if value not in ("table", "json"):
        raise InputError(f"--format must be table or json, not {value!r}")
    return value


@insights_app.command("list")
def list_insights(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
    type: Annotated[str | None, typer.Option("--type", help="sentiment_dip, volume_spike, ...")] = None,
    severity: Annotated[str | None, typer.Option(help="The least severity: info, warning or critical.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output_format: FormatOption = "table",
) -> None:
    """Insights, newest first."""
    from opinara.insights.anomalies import SEVERITIES

    output_format = _format(output_format)
    if status not in (None, "open", "acknowledged", "resolved"):
        raise InputError(f"--status must be open, acknowledged or resolved, not {status!r}")
    if severity not in (None, *SEVERITIES):
        raise InputError(f"--severity must be info, warning or critical, not {severity!r}")
    _, service = _service()
    page = service.list(status, type, severity, None, None, limit)  # type: ignore[arg-type]
    if output_format == "json":
        typer.echo(json.dumps([i.model_dump(mode="json") for i in page.insights], indent=2))
        return
    table = Table("id", "type", "severity", "status", "entity", "message", "last seen")
    for i in page.insights:
        entity = ", ".join(f"{k}={v}" for k, v in i.entity.items() if not k.endswith("_name"))
        table.add_row(str(i.id), i.type, i.severity, i.status, entity, i.message, f"{i.last_seen:%Y-%m-%d %H:%M}")
    Console().print(table)


@insights_app.command("show")
def show(insight_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """One insight with its evidence, as JSON."""
    _, service = _service()
    typer.echo(json.dumps(service.get(insight_id).model_dump(mode="json"), indent=2))


@insights_app.command("ack")
def acknowledge(insight_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Acknowledge an insight: someone is on it."""
    _, service = _service()
    typer.echo(f"insight {insight_id}: {service.acknowledge(insight_id, 'cli').status}")


@insights_app.command("resolve")
def resolve(insight_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Resolve an insight by hand."""
    _, service = _service()
    typer.echo(f"insight {insight_id}: {service.resolve(insight_id, 'cli').status}")


@insights_app.command("detect")
def detect_now(
    weeks: Annotated[int | None, typer.Option(min=1, max=52, help="Baseline weeks (default: the setting).")] = None,
) -> None:
    """Judge every product x aspect's complaints this week against the weeks before; raise and resolve
    sentiment dips now (the workers do this on their schedule)."""
    from opinara.insights.dips import detect_sentiment_dips

    settings, service = _service()
    report = detect_sentiment_dips(service.store, service, datetime.now(UTC), weeks or settings.insight_baseline_weeks)
    typer.echo(
        f"judged {report.evaluated} product x aspect pairs: {report.raised} dips ({report.created} new), "
        f"{report.resolved} resolved"
    )
