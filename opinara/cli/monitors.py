"""``opinara monitors ...`` and ``opinara mentions``: source monitors from the command line.

Each command parses, calls the monitor service (or the mention queries) and shapes the output;
``run --wait`` runs the monitor in this process, claimed like any worker's run."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from opinara.cli.app import app, monitors_app
from opinara.config import Settings
from opinara.errors import InputError

FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]
ParamOption = Annotated[
    list[str], typer.Option("--param", help="KEY=VALUE; repeat. Secrets may be env:NAME or file:PATH.")
]


def _platform() -> Any:
    from opinara.monitors.hosts import HostLimiter
    from opinara.monitors.runner import MonitorRunner
    from opinara.monitors.service import MonitorService
    from opinara.serving.service import AnalysisService
    from opinara.store.db import open_store

    settings = Settings()
    store = open_store(settings)
    service = MonitorService(settings, store)
    return (
        settings,
        store,
        service,
        lambda: MonitorRunner(settings, store, AnalysisService(settings), HostLimiter(settings)),
    )


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param takes KEY=VALUE, not {pair!r}")
        out[key.strip()] = value
    return out


def _checked(model: type, **values: Any) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def _emit(data: Any, output_format: str, table: Table | None = None) -> None:
    if output_format not in ("table", "json"):
        raise InputError(f"--format must be table or json, not {output_format!r}")
    if output_format == "json" or table is None:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        Console().print(table)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@monitors_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A unique name: letters, digits, '.', '_' or '-'.")],
    connector: Annotated[
        str, typer.Option("--connector", help="rss, reddit, mastodon, hackernews, youtube or webhook.")
    ],
    param: ParamOption = [],  # noqa: B006
    every: Annotated[str, typer.Option("--every", help="15m, 1h, 90s (at least 1m).")] = "15m",
    tag: Annotated[list[str], typer.Option("--tag", help="A brand or topic it counts toward; repeat.")] = [],  # noqa: B006
    product: Annotated[str | None, typer.Option("--product", help="The product it is about.")] = None,
) -> None:
    """Add a monitor; it first runs within a minute (a webhook monitor prints its signing secret once)."""
    from opinara.monitors.models import MonitorSpec

    spec = _checked(
        MonitorSpec, name=name, connector=connector, params=_params(param), every=every, tags=tag, product=product
    )
    _, _, service, _ = _platform()
    created = service.create(spec)
    monitor = created.monitor
    typer.echo(
        f"added monitor {monitor.name!r} ({monitor.connector}, every {monitor.interval_seconds} s); next run {_when(monitor.next_run_at)}"
    )
    if created.webhook_secret:
        typer.echo(f"webhook: POST /v1/monitors/{monitor.id}/events signed with this secret (shown once):")
        typer.echo(created.webhook_secret)


@monitors_app.command("list")
def list_(output_format: FormatOption = "table") -> None:
    """Every monitor: state, interval, last and next run, last error."""
    _, _, service, _ = _platform()
    monitors = service.list().monitors
    table = Table("id", "name", "connector", "every", "state", "last run", "status", "next run", "tags")
    for m in monitors:
        state = m.state if m.state == "active" else f"paused: {m.paused_reason}"
        table.add_row(
            str(m.id),
            m.name,
            m.connector.split(".")[1],
            f"{m.interval_seconds}s",
            state,
            _when(m.last_run_at),
            m.last_status or "-",
            _when(m.next_run_at),
            ", ".join(m.tags),
        )
    _emit([m.model_dump(mode="json") for m in monitors], output_format, table)


@monitors_app.command("show")
def show(name: Annotated[str, typer.Argument(help="The monitor's name or number.")]) -> None:
    """One monitor, as JSON (secrets masked)."""
    _, _, service, _ = _platform()
    typer.echo(service.get(name).model_dump_json(indent=2))


@monitors_app.command("pause")
def pause(
    name: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why (shown in list).")] = "paused by a user",
) -> None:
    """Stop a monitor's runs until it is resumed."""
    _, _, service, _ = _platform()
    typer.echo(f"paused {service.pause(name, reason).name!r}")


@monitors_app.command("resume")
def resume(name: Annotated[str, typer.Argument()]) -> None:
    """Schedule a paused monitor again."""
    _, _, service, _ = _platform()
    monitor = service.resume(name)
    typer.echo(f"resumed {monitor.name!r}; next run {_when(monitor.next_run_at)}")


@monitors_app.command("remove")
def remove(name: Annotated[str, typer.Argument()]) -> None:
    """Remove a monitor with its runs and mentions."""
    _, _, service, _ = _platform()
    removed = service.remove(name)
    typer.echo(f"removed {removed.monitor!r} and its {removed.mentions} mentions")


@monitors_app.command("edit")
def edit(
    name: Annotated[str, typer.Argument()],
    param: ParamOption = [],  # noqa: B006
    every: Annotated[str | None, typer.Option("--every")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Replaces the tags; repeat.")] = None,
    product: Annotated[str | None, typer.Option("--product", help="A product, or '' for none.")] = None,
) -> None:
    """Change a monitor's params (merged; KEY= removes one), interval, tags or product."""
    from opinara.monitors.models import MonitorChanges

    changes = _checked(MonitorChanges, params=_params(param) or None, every=every, tags=tag, product=product)
    _, _, service, _ = _platform()
    typer.echo(service.update(name, changes).model_dump_json(indent=2))


@monitors_app.command("run")
def run(
    name: Annotated[str, typer.Argument()],
    wait: Annotated[bool, typer.Option("--wait", help="Run it here and print the run's summary.")] = False,
) -> None:
    """Run a monitor now: due at once for the workers, or, with --wait, here."""
    from opinara.jobs.runner import worker_name

    _, _, service, make_runner = _platform()
    monitor = service.run_now(name)
    if not wait:
        typer.echo(f"{monitor.name!r} is due now; a worker runs it")
        return
    worker = f"{worker_name()}:cli"
    if monitor.id not in service.claim_due(worker, 1_000_000):
        raise InputError(f"{monitor.name!r} is running on a worker now; see `opinara monitors runs {monitor.name}`")
    info = make_runner().run(monitor.id, worker)
    typer.echo(info.model_dump_json(indent=2) if info else "the run was taken over by another worker")
    if info and info.status not in ("success", "partial"):
        raise typer.Exit(1)


@monitors_app.command("runs")
def runs(
    name: Annotated[str, typer.Argument()],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    output_format: FormatOption = "table",
) -> None:
    """A monitor's execution history, newest first."""
    _, _, service, _ = _platform()
    page = service.runs(name, limit=limit)
    table = Table("run", "started", "status", "lag s", "calls", "fetched", "new", "dup", "rej", "next run", "error")
    for r in page.runs:
        table.add_row(
            str(r.id),
            _when(r.started_at),
            r.status,
            f"{r.lag_seconds:.1f}",
            str(r.http_calls),
            str(r.fetched),
            str(r.new),
            str(r.duplicates),
            str(r.rejected),
            _when(r.next_run_at),
            r.error or "",
        )
    _emit([r.model_dump(mode="json") for r in page.runs], output_format, table)


@app.command()
def mentions(
    monitor: Annotated[str | None, typer.Option("--monitor", help="A monitor's name or number.")] = None,
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output_format: FormatOption = "table",
) -> None:
    """Mentions monitors found, newest first, with their sentiment."""
    from opinara.insights.mentions import list_mentions

    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise InputError(f"--since must be a date as YYYY-MM-DD, not {since!r}") from None
    _, store, _, _ = _platform()
    with store.session() as session:
        page = list_mentions(session, monitor, tag, start, None, None, limit)
    table = Table("id", "monitor", "published", "sentiment", "text", show_lines=True)
    for m in page.mentions:
        label = m.sentiment.label if m.sentiment else "-"
        table.add_row(str(m.id), m.monitor, _when(m.published_at), label or "-", m.text[:200])
    _emit([m.model_dump(mode="json") for m in page.mentions], output_format, table)
