"""``opinara dashboard``: the Streamlit app, reading everything through the REST API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from opinara.cli.app import app, fail
from opinara.config import Settings
from opinara.dashboard.access import unprotected_host_problem

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def dashboard_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
    ]


def check_dashboard_host(host: str, settings: Settings) -> None:
    """Exit 2 with one line before a dashboard without a password listens beyond this machine."""
    problem = unprotected_host_problem(host, settings)
    if problem is not None:
        raise fail(problem)


@app.command()
def dashboard(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8501).")] = None,
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind (default 127.0.0.1); another needs OPINARA_DASHBOARD_PASSWORD."),
    ] = None,
    api_url: Annotated[str | None, typer.Option(help="The API's URL (default OPINARA_API_URL).")] = None,
) -> None:
    """Run the dashboard; it needs the API (OPINARA_API_URL) and a key with read scope (OPINARA_API_KEY)."""
    settings = Settings()
    host = host or settings.dashboard_host
    check_dashboard_host(host, settings)
    env = {**os.environ, "OPINARA_API_URL": api_url or settings.api_url}
    port = port or settings.dashboard_port
    typer.echo(f"Opinara dashboard: http://{host}:{port} (API {env['OPINARA_API_URL']})", err=True)
    raise typer.Exit(subprocess.call(dashboard_command(port, host), env=env))  # noqa: S603 - our interpreter, our app
