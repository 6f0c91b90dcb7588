"""Log lines as operators and log collectors read them: JSON or one readable line, libraries kept quiet."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType

import pytest

from opinara.errors import ModelLoadError
from opinara.observability.logs import (
    HIDDEN_MESSAGE,
    JsonFormatter,
    TextFormatter,
    job_id,
    redacted_traceback,
    request_id,
    resolve_format,
)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


@contextmanager
def bound(var: ContextVar[str | None], value: str) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def record(
    msg: str = "stored %d reviews", *args: object, exc_info: ExcInfo | None = None, **extra: object
) -> logging.LogRecord:
    logger = logging.getLogger("opinara.ingest")
    return logger.makeRecord(
        logger.name, logging.WARNING, __file__, 1, msg, args or (3,), exc_info, extra=extra or None
    )


def parse_review(text: str) -> None:
    raise ValueError(f"cannot parse {text!r}")


REVIEW = "my neighbour Ann Smith loves it"


def failure() -> ExcInfo:
    try:
        parse_review(REVIEW)
    except ValueError:
        return sys.exc_info()  # type: ignore[return-value]
    raise AssertionError("unreachable")


def test_json_line_has_time_level_logger_message_extras_and_the_request_id() -> None:
    with bound(request_id, "req-7"):
        line = JsonFormatter().format(record(status="partial"))
    entry = json.loads(line)
    assert entry["time"].endswith("+00:00")
    assert (entry["level"], entry["logger"], entry["message"]) == ("warning", "opinara.ingest", "stored 3 reviews")
    assert (entry["request_id"], entry["status"]) == ("req-7", "partial")
    assert "job_id" not in entry
    assert "\n" not in line


def test_json_line_carries_the_job_in_progress() -> None:
    with bound(job_id, "job-42"):
        entry = json.loads(JsonFormatter().format(record()))
    assert entry["job_id"] == "job-42"
    assert "request_id" not in entry


def test_json_exception_keeps_its_message_by_default() -> None:
    entry = json.loads(JsonFormatter().format(record(exc_info=failure())))
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: cannot parse 'my neighbour Ann Smith loves it'")


def test_text_is_one_line_time_level_logger_message_then_extras() -> None:
    with bound(request_id, "req-7"), bound(job_id, "job-42"):
        line = TextFormatter().format(record(status="partial", note="two words", rows=[1, 2]))
    assert "\n" not in line
    date, time, rest = line.split(" ", 2)
    assert len(date) == 10 and len(time) == 12  # 2025-05-01 12:34:56.789
    assert rest == (
        'WARNING opinara.ingest: stored 3 reviews  request_id=req-7 job_id=job-42 status=partial note="two words" '
        "rows=[1,2]"
    )


def test_text_puts_the_traceback_under_the_line() -> None:
    line, *trace = TextFormatter().format(record(exc_info=failure())).splitlines()
    assert line.endswith("WARNING opinara.ingest: stored 3 reviews")
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "ValueError: cannot parse 'my neighbour Ann Smith loves it'"


def test_redaction_hides_exception_messages_but_keeps_type_and_frames() -> None:
    for formatter in (JsonFormatter(redact=True), TextFormatter(redact=True)):
        output = formatter.format(record(exc_info=failure()))
        assert "Ann Smith" not in output
        assert f"ValueError: {HIDDEN_MESSAGE}" in output
        assert "Traceback (most recent call last):" in output
        assert "in parse_review" in output


def load_model(explicit_cause: bool) -> None:
    try:
        parse_review(REVIEW)
    except ValueError as exc:
        if explicit_cause:
            raise ModelLoadError(f"could not read {REVIEW!r}") from exc
        raise ModelLoadError(f"could not read {REVIEW!r}")  # noqa: B904 (an implicit context, on purpose)


@pytest.mark.parametrize(("explicit_cause", "link"), [(True, "direct cause"), (False, "During handling")])
def test_redacted_traceback_is_pythons_own_with_each_message_replaced(explicit_cause: bool, link: str) -> None:
    with pytest.raises(ModelLoadError) as caught:
        load_model(explicit_cause)
    python = "".join(traceback.format_exception(caught.value)).rstrip("\n")
    expected = python.replace(f"ValueError: cannot parse {REVIEW!r}", f"ValueError: {HIDDEN_MESSAGE}").replace(
        f"opinara.errors.ModelLoadError: could not read {REVIEW!r} [E200]",
        f"opinara.errors.ModelLoadError: {HIDDEN_MESSAGE} [E200]",  # error codes stay: users quote them
    )
    assert link in expected and "Ann Smith" not in expected
    assert redacted_traceback(caught.value) == expected


def test_auto_format_is_json_off_a_terminal_and_text_on_one() -> None:
    assert resolve_format("auto", io.StringIO()) == "json"
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        assert resolve_format("auto", terminal) == "text"
        assert resolve_format("json", terminal) == "json"
    os.close(primary)
    assert resolve_format("text", io.StringIO()) == "text"


# What a process prints once setup_logging has run: Opinara's lines, and libraries only when asked.
PROGRAM = """
import logging, sys, warnings
from opinara.observability.logs import setup_logging

setup_logging("auto", sys.argv[1])
log = logging.getLogger("opinara.ingest")
log.warning("3 rows skipped", extra={"status": "partial"})
log.info("resuming at line 40")
log.debug("batch of 256")
logging.info("Quantization parameters for tensor not specified")  # onnxruntime's quantizer logs on the root logger
logging.warning("Please consider to run pre-processing before quantization")
logging.getLogger("transformers.modeling_utils").warning("Some weights were not initialized")
logging.getLogger("huey.consumer").info("Huey consumer started with 1 thread")
logging.getLogger("uvicorn.error").info("Application startup complete.")
warnings.warn_explicit("is deprecated", FutureWarning, "transformers/modeling_utils.py", 3303, "transformers.modeling_utils")
warnings.warn_explicit("old option", UserWarning, "opinara/config.py", 10, "opinara.config")
logging.getLogger("onnxruntime").error("session failed")
"""


def run_program(level: str) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPINARA_", "PYTHONWARNINGS"))}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, level], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert done.stdout == ""
    return [json.loads(line) for line in done.stderr.splitlines()]  # stderr is a pipe: JSON lines


def test_libraries_show_only_their_errors_unless_the_level_is_debug() -> None:
    lines = run_program("info")
    assert [(e["logger"], e["message"]) for e in lines if e["logger"] != "py.warnings"] == [
        ("opinara.ingest", "3 rows skipped"),
        ("opinara.ingest", "resuming at line 40"),
        ("uvicorn.error", "Application startup complete."),
        ("onnxruntime", "session failed"),
    ]
    [warning] = [e["message"] for e in lines if e["logger"] == "py.warnings"]
    assert "UserWarning: old option" in str(warning)  # Opinara's own warnings still show
    assert lines[0]["status"] == "partial"


def test_debug_shows_the_libraries_logs_and_warnings_too() -> None:
    messages = "\n".join(str(e["message"]) for e in run_program("debug"))
    for expected in (
        "batch of 256",
        "Quantization parameters for tensor not specified",
        "Please consider to run pre-processing before quantization",
        "Some weights were not initialized",
        "Huey consumer started with 1 thread",
        "FutureWarning: is deprecated",
        "UserWarning: old option",
    ):
        assert expected in messages


def test_warning_level_keeps_one_shot_commands_to_warnings() -> None:
    lines = run_program("warning")
    assert [e["logger"] for e in lines] == ["opinara.ingest", "py.warnings", "onnxruntime"]
