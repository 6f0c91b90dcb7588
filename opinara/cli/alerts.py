"""``opinara alerts|silences|channels ...``: alert rules, what fires, silences and channels, from the
command line. Each command parses, calls the alert service and shapes the output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from opinara.cli.app import app
from opinara.config import Settings
from opinara.errors import InputError

alerts_app = typer.Typer(help="Alerts: list, history, rules, enable, disable, evaluate.", no_args_is_help=True)
silences_app = typer.Typer(help="Silences: add, list, expire.", no_args_is_help=True)
channels_app = typer.Typer(help="Notification channels: add, list, remove.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(silences_app, name="silences")
app.add_typer(channels_app, name="channels")
FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]


def _service() -> Any:
    from opinara.alerts.service import AlertService
    from opinara.store.db import open_store

    settings = Settings()
    service = AlertService(settings, open_store(settings))
    service.install_defaults()
    return service


def _format(value: str) -> str:
    if value not in ("table", "json"):
        raise InputError(f"--format must be table or json, not {value!r}")
    return value


def _checked(model: type, **values: Any) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        raise InputError(f"{where}: {first['msg']}") from None


def _pairs(pairs: list[str], option: str) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} takes KEY=VALUE, not {pair!r}")
        out[key.strip()] = value
    return out


def _print(rows: list[Any], output_format: str, columns: list[str], cells: Any) -> None:
    if output_format == "json":
        typer.echo(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*[str(cell) for cell in cells(row)])
    Console().print(table)


@alerts_app.command("list")
def list_alerts(output_format: FormatOption = "table") -> None:
    """Every rule subject that is not inactive: firing, pending, no data, error."""
    output_format = _format(output_format)
    rows = _service().alerts()
    _print(
        rows,
        output_format,
        ["rule", "subject", "state", "since", "value"],
        lambda a: (
            a.rule,
            a.subject or "-",
            a.state,
            f"{a.since:%Y-%m-%d %H:%M}" if a.since else "-",
            "-" if a.value is None else f"{a.value:g}",
        ),
    )


@alerts_app.command("history")
def history(
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    output_format: FormatOption = "table",
) -> None:
    """Transitions, newest first: fired, resolved, no data, error, recovered."""
    output_format = _format(output_format)
    rows = _service().history(rule, None, limit).events
    _print(
        rows,
        output_format,
        ["at", "rule", "event", "severity", "subject", "message"],
        lambda e: (
            f"{e.at:%Y-%m-%d %H:%M}",
            e.rule,
            e.event + (" (silenced)" if e.silenced_by else ""),
            e.severity,
            e.subject or "-",
            e.message,
        ),
    )


@alerts_app.command("rules")
def rules(output_format: FormatOption = "table") -> None:
    """The rules, shipped and made here."""
    output_format = _format(output_format)
    rows = _service().rules()
    _print(
        rows,
        output_format,
        ["name", "kind", "severity", "enabled", "builtin", "firing", "condition"],
        lambda r: (
            r.name,
            r.spec.kind,
            r.spec.severity,
            r.enabled,
            r.builtin,
            r.firing,
            _condition(r.spec),
        ),
    )


def _condition(spec: Any) -> str:
    if spec.kind == "insight":
        return f"open insights of severity >= {spec.min_severity or 'info'}"
    if spec.op is None:
        return f"{spec.series}: no data for {spec.no_data_seconds} s"
    return f"{spec.aggregation}({spec.series}[{spec.window_seconds}s]) {spec.op} {spec.threshold:g}"


@alerts_app.command("enable")
def enable(rule: str) -> None:
    """Enable a rule."""
    from opinara.alerts.service import RuleChanges

    typer.echo(f"rule {_service().update_rule(rule, RuleChanges(enabled=True)).name}: enabled")


@alerts_app.command("disable")
def disable(rule: str) -> None:
    """Disable a rule (its alerts resolve at the next evaluation)."""
    from opinara.alerts.service import RuleChanges

    typer.echo(f"rule {_service().update_rule(rule, RuleChanges(enabled=False)).name}: disabled")


@alerts_app.command("evaluate")
def evaluate_now() -> None:
    """Evaluate every rule once now and send what is due (the workers do this on their schedule)."""
    from opinara.alerts.evaluate import EVALUATOR_LEASE, AlertEvaluator, take_lease
    from opinara.alerts.outbox import Outbox

    service = _service()
    if not take_lease(service.store, EVALUATOR_LEASE, "cli", service.settings.alert_eval_seconds * 3):
        raise InputError("a worker is evaluating the rules right now; try again shortly")
    report = AlertEvaluator(service.settings, service.store).evaluate(datetime.now(UTC))
    sent = Outbox(service.settings, service.store).deliver_due("cli")
    typer.echo(
        f"{report.rules} rules, {report.subjects} subjects: {report.events} transitions, "
        f"{report.notifications} notifications queued ({report.silenced} silenced); "
        f"sent {sent.sent}, retrying {sent.retrying}, given up {sent.dead}"
    )


@silences_app.command("add")
def add_silence(
    matchers: Annotated[list[str], typer.Argument(help='Label matchers: alertname="queue-depth" host=~"web-.*"')],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d.")] = "2h",
    comment: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Silence the alerts whose labels match, from now on for a while."""
    from opinara.alerts.service import SilenceSpec
    from opinara.monitors.models import parse_interval

    try:
        seconds = parse_interval(duration)
    except ValueError as exc:
        raise InputError(f"--for {exc}") from None
    spec = _checked(SilenceSpec, matchers=matchers, duration_seconds=seconds, comment=comment)
    silence = _service().create_silence(spec, "cli")
    typer.echo(f"silence {silence.id}: {', '.join(silence.matchers)} until {silence.ends_at:%Y-%m-%d %H:%M} UTC")


@silences_app.command("list")
def list_silences(output_format: FormatOption = "table") -> None:
    """Silences, newest first."""
    output_format = _format(output_format)
    rows = _service().silences()
    _print(
        rows,
        output_format,
        ["id", "matchers", "active", "ends", "comment"],
        lambda s: (
            s.id,
            ", ".join(s.matchers),
            s.active,
            f"{s.ends_at:%Y-%m-%d %H:%M}",
            s.comment,
        ),
    )


@silences_app.command("expire")
def expire_silence(silence_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """End a silence now."""
    silence = _service().expire_silence(silence_id)
    typer.echo(f"silence {silence.id}: ended")


@channels_app.command("add")
def add_channel(
    name: str,
    kind: Annotated[str, typer.Option("--kind", help="webhook, slack, email or alertmanager.")],
    config: Annotated[
        list[str] | None, typer.Option("--config", help="KEY=VALUE; repeat (to=a@x,b@y for lists).")
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="KEY=VALUE; stored encrypted; env:NAME works.")
    ] = None,
    min_severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    match: Annotated[list[str] | None, typer.Option("--match", help='A label matcher: team="payments".')] = None,
) -> None:
    """Add a notification channel."""
    from opinara.alerts.service import ChannelSpec

    values: dict[str, Any] = _pairs(config or [], "--config")
    if "to" in values:
        values["to"] = [address.strip() for address in values["to"].split(",") if address.strip()]
    spec = _checked(
        ChannelSpec,
        name=name,
        kind=kind,
        config=values,
        secrets=_pairs(secret or [], "--secret"),
        min_severity=min_severity,
        matchers=match or [],
    )
    channel = _service().create_channel(spec)
    typer.echo(f"channel {channel.name} ({channel.kind}): takes {channel.min_severity} and above")


@channels_app.command("list")
def list_channels(output_format: FormatOption = "table") -> None:
    """Channels, with secrets masked."""
    output_format = _format(output_format)
    rows = _service().channels()
    _print(
        rows,
        output_format,
        ["name", "kind", "min severity", "matchers", "config", "secrets"],
        lambda c: (
            c.name,
            c.kind,
            c.min_severity,
            ", ".join(c.matchers) or "-",
            json.dumps(c.config),
            json.dumps(c.secrets),
        ),
    )


@channels_app.command("remove")
def remove_channel(name: str) -> None:
    """Remove a channel (its pending deliveries go with it)."""
    _service().delete_channel(name)
    typer.echo(f"channel {name}: removed")
