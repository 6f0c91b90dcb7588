"""``opinara serve`` (the API, with embedded job workers) and ``opinara worker`` (job workers alone)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from typing import Annotated

import typer

from opinara.cli.app import app
from opinara.config import Settings


def _settings(**overrides: object) -> Settings:
    """Settings with command-line overrides, also exported so that server processes inherit them."""
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"OPINARA_{name.upper()}"] = str(value)
    return Settings()


def _local_url(host: str, port: int) -> str:
    """The URL this machine reaches a server bound to ``host`` at (a wildcard address is reached on loopback)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def _multiprocess_metrics(settings: Settings) -> None:
    folder = settings.data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
    backend: Annotated[
        str | None, typer.Option(help="Default sentiment backend: lexicon, encoder or transformer.")
    ] = None,
    job_workers: Annotated[
        int | None, typer.Option(min=0, max=64, help="Job worker threads per server process.")
    ] = None,
    demo: Annotated[bool, typer.Option(help="Ingest the demo reviews (once) and print a fresh demo API key.")] = False,
    dashboard: Annotated[
        bool,
        typer.Option(
            help="Also run the dashboard, on OPINARA_DASHBOARD_HOST (with --demo: a demo key without admin; "
            "else OPINARA_API_KEY)."
        ),
    ] = False,
) -> None:
    """Run the REST API (docs at /docs) with job workers inside, on the configured database."""
    import uvicorn

    from opinara.api.app import create_app
    from opinara.observability.logs import setup_logging
    from opinara.platform import Platform

    settings = _settings(host=host, port=port, backend=backend, embedded_workers=job_workers)
    setup_logging(settings.log_format, settings.log_level, redact=settings.redact_pii)
    if workers > 1:
        _multiprocess_metrics(settings)
    if dashboard:
        from opinara.cli.dashboard import check_dashboard_host

        check_dashboard_host(settings.dashboard_host, settings)  # before anything starts
    platform = Platform(settings)
    banner = [
        f"Opinara API: http://{settings.host}:{settings.port} (docs: http://{settings.host}:{settings.port}/docs)"
    ]
    dashboard_key = None
    if demo:
        from opinara.demo.seed import rotate_dashboard_key, rotate_demo_key, seed_reviews, seed_signals

        summary = seed_reviews(platform.store, platform.analysis.load().analyzer)
        banner.append(f"demo data: {summary.stored} reviews stored now, {summary.duplicates} already there")
        signals = seed_signals(platform.store, platform.series, platform.insights)
        banner.append(f"demo hosts: {signals.points} metric points and {signals.insights} insights stored now")
        banner.append(f"demo API key (all scopes; shown once): {rotate_demo_key(platform.store)}")
        if dashboard:  # its visitors are anonymous: a key of its own, without admin, never printed
            dashboard_key = rotate_dashboard_key(platform.store)
    ui = None
    if dashboard:
        from opinara.cli.dashboard import dashboard_command

        env = {**os.environ, "OPINARA_API_URL": _local_url(settings.host, settings.port)}
        if dashboard_key:
            env["OPINARA_API_KEY"] = dashboard_key
        ui = subprocess.Popen(  # noqa: S603 - our interpreter, our app
            dashboard_command(settings.dashboard_port, settings.dashboard_host), env=env
        )
        banner.append(f"Opinara dashboard: http://{settings.dashboard_host}:{settings.dashboard_port}")
    typer.echo("\n".join(banner))
    sys.stdout.flush()
    try:
        if workers > 1:
            platform.stop()  # each server process builds its own
            uvicorn.run(
                "opinara.api.app:create_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=workers,
                log_config=None,
            )
            return
        platform.start(workers=settings.embedded_workers)
        try:
            uvicorn.run(create_app(settings, platform), host=settings.host, port=settings.port, log_config=None)
        finally:
            platform.stop()
    finally:
        if ui is not None:
            ui.terminate()
            ui.wait(timeout=15)


@app.command()
def worker(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at once in this process.")] = 1,
) -> None:
    """Run job workers (no API): on the shared Redis queue, or on this machine's SQLite queue."""
    from opinara.jobs.queue import Reaper
    from opinara.observability.logs import setup_logging
    from opinara.platform import Platform

    settings = Settings()
    setup_logging(settings.log_format, settings.log_level, redact=settings.redact_pii)
    platform = Platform(settings)
    platform.start(workers=0)
    platform.start_monitors()
    consumer = platform.queue.huey.create_consumer(
        workers=threads, worker_type="thread", periodic=False, initial_delay=0.05, max_delay=0.5
    )
    reaper = Reaper(platform.store, platform.queue, settings.job_lease_seconds)
    reaper.sweep()
    reaper.start()
    typer.echo(f"opinara worker: {threads} thread(s) on the {platform.queue.backend()} queue", err=True)
    try:
        consumer.run()
    finally:
        reaper.stop()
        platform.stop()
