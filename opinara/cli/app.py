"""The Typer application and the error boundary every command shares."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from opinara.errors import OpinaraError
from opinara.observability.logs import setup_logging

app = typer.Typer(
    name="opinara",
    help="Opinara: sentiment, aspects, language and PII for what people write about products.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
train_app = typer.Typer(help="Train models on labeled data.", no_args_is_help=True)
app.add_typer(train_app, name="train")
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
aggregates_app = typer.Typer(help="The product x aspect x day aggregates.", no_args_is_help=True)
app.add_typer(aggregates_app, name="aggregates")
keys_app = typer.Typer(help="API keys: create, list, revoke, usage.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
monitors_app = typer.Typer(
    help="Source monitors: add, list, show, pause, resume, run, runs, edit, remove.", no_args_is_help=True
)
app.add_typer(monitors_app, name="monitors")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one readable line to stderr and return the exit to raise."""
    typer.echo(f"opinara: error: {message}", err=True)
    return typer.Exit(code)


def settings_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"])
    return f"invalid setting {name} (OPINARA_{name.upper()} or its option): {error['msg']}"


def _log_format() -> str:
    return os.environ.get("OPINARA_LOG_FORMAT", "auto").lower()


@app.callback()
def global_options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Debug logs, with the libraries' logs, warnings and progress bars (= OPINARA_LOG_LEVEL=debug).",
        ),
    ] = False,
) -> None:
    if verbose:
        os.environ["OPINARA_LOG_LEVEL"] = "debug"  # read by Settings, and by the server's child processes
        setup_logging(_log_format(), "debug")


def _register_commands() -> None:
    # Imported for their @app.command side effects; kept here so `opinara --help` lists them all.
    from opinara.cli import (  # noqa: F401
        alerts,
        analyze,
        dashboard,
        demo,
        evaluate,
        insights,
        keys,
        monitors,
        serve,
        signals,
        store,
        train,
    )


def main() -> None:
    """Entry point: quiet, offline libraries; every expected error becomes one line and exit 2."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # else tokenizers warns on every fork
    # One-shot commands print their results and real warnings only; serve and worker set their own level.
    setup_logging(_log_format(), os.environ.get("OPINARA_LOG_LEVEL", "warning").lower())
    _register_commands()
    try:
        code = app(standalone_mode=False)  # click returns the code of a typer.Exit here
    except OpinaraError as exc:
        raise SystemExit(fail(str(exc)).exit_code) from None
    except ValidationError as exc:  # a bad setting, from an option or an OPINARA_* variable
        raise SystemExit(fail(settings_problem(exc)).exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except typer.TyperException as exc:  # usage errors: bad options, missing arguments
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message and type(exc).__name__ != "NoArgsIsHelpError":
            fail(message.splitlines()[0])
        raise SystemExit(2) from None
    sys.exit(code if isinstance(code, int) else 0)
