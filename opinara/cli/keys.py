"""``opinara keys create|list|revoke|usage``: API keys, shown once at creation, stored as hashes."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opinara.cli.app import keys_app
from opinara.config import Settings


def _store():
    from opinara.store.db import open_store

    return open_store(Settings())


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A unique name for the key.")],
    scopes: Annotated[
        str, typer.Option("--scopes", help="Comma-separated: analyze, read, ingest, monitor, metrics, alerts, admin.")
    ] = "analyze,read",
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="Like 600/minute; the default setting when absent.")
    ] = None,
    daily_quota: Annotated[int | None, typer.Option("--daily-quota", help="Texts per UTC day.")] = None,
    redact_pii: Annotated[
        bool, typer.Option("--redact-pii", help="Redact personal data in every request made with this key.")
    ] = False,
) -> None:
    """Create a key and print it. It is shown this once; only its hash is stored."""
    from opinara.access.keys import create_key

    settings = Settings()
    key, record = create_key(
        _store(), name, scopes, rate_limit or settings.default_rate_limit, daily_quota, redact_pii=redact_pii
    )
    typer.echo(key)
    redacted = ", personal data redacted" if record.redact_pii else ""
    typer.echo(
        f"created key {record.name!r} (id {record.id}, scopes {','.join(record.scopes)}, "
        f"{record.rate_limit}{redacted}); store it now: it cannot be shown again",
        err=True,
    )


@keys_app.command("list")
def list_(
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List keys (never the keys themselves: their prefixes)."""
    from opinara.access.keys import list_keys
    from opinara.errors import InputError

    keys = list_keys(_store())
    if output_format == "json":
        typer.echo(json.dumps([key.model_dump(mode="json") for key in keys], indent=2))
        return
    if output_format != "table":
        raise InputError(f"--format must be table or json, not {output_format!r}")
    table = Table("id", "name", "prefix", "scopes", "rate limit", "daily quota", "redact pii", "created", "status")
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.prefix + "…",
            ",".join(key.scopes),
            key.rate_limit,
            str(key.daily_quota or "-"),
            "yes" if key.redact_pii else "-",
            key.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "[red]revoked[/]" if key.revoked_at else "[green]active[/]",
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke(name_or_id: Annotated[str, typer.Argument(help="The key's name or id.")]) -> None:
    """Revoke a key; requests with it fail from the next one on."""
    from opinara.access.keys import revoke_key

    record = revoke_key(_store(), name_or_id)
    typer.echo(f"revoked key {record.name!r} (id {record.id})")


@keys_app.command("usage")
def usage_(
    name_or_id: Annotated[str | None, typer.Argument(help="One key's name or id; all keys when absent.")] = None,
) -> None:
    """Requests, texts and characters per key and UTC day, as JSON."""
    from opinara.access.keys import find_key
    from opinara.access.usage import usage

    store = _store()
    key_id = None
    if name_or_id is not None:
        with store.session() as session:
            key_id = find_key(session, name_or_id).id
    typer.echo(json.dumps([day.model_dump(mode="json") for day in usage(store, key_id)], indent=2))
