"""Logs on stderr: JSON lines for machines, one readable line for people, and libraries kept quiet.

Opinara's own loggers (``opinara.*``) and uvicorn's log at the configured level, huey's from
warning up. The other libraries (ONNX Runtime's quantizer, transformers, huggingface_hub, spaCy,
presidio, torch) show only their errors; their warnings and progress bars stay hidden unless the
level is ``debug`` (``opinara --verbose`` or ``OPINARA_LOG_LEVEL=debug``): then everything shows.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import traceback
import warnings
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

from opinara.errors import OpinaraError

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

LogFormat = Literal["auto", "json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "color_message"}
HIDDEN_MESSAGE = "<message hidden: redaction is on>"

# Loggers of the server's own parts: they follow Opinara's level (uvicorn's start-up and bind
# errors are what an operator looks for), except that huey's start-up and per-task lines are chatter.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error")
_CHATTY_SERVER_LOGGERS = ("huey", "huey.consumer")
# Libraries that attach a handler of their own when imported, so their lines would bypass ours
# (another format, printed twice once the root logger has a handler too).
_SELF_HANDLED_LOGGERS = ("transformers", "huggingface_hub", "spacy")
# The libraries' own switches, read when they are imported: set before any of them is.
_QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # huggingface_hub's and transformers' bars ("Loading weights")
    "TQDM_DISABLE": "1",  # any other tqdm bar
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",
}
_env_set_here: dict[str, str] = {}
_configured = False


_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def redacted_traceback(exc: BaseException) -> str:
    """The traceback as Python prints it, with each exception's message (and notes) replaced.

    The message of an error raised while analyzing a text may quote that text."""
    pieces: list[str] = []  # newest exception first
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        older: BaseException | None = None
        link = ""
        if current.__cause__ is not None:
            older, link = current.__cause__, f"\n{_CAUSE}\n\n"
        elif current.__context__ is not None and not current.__suppress_context__:
            older, link = current.__context__, f"\n{_CONTEXT}\n\n"
        pieces.append(link + _redacted_block(current))
        current = older
    return "".join(reversed(pieces)).rstrip("\n")


def _redacted_block(exc: BaseException) -> str:
    frames = ""
    if exc.__traceback__ is not None:
        frames = "Traceback (most recent call last):\n" + "".join(traceback.format_tb(exc.__traceback__))
    name = type(exc).__qualname__
    if type(exc).__module__ not in ("builtins", "__main__"):
        name = f"{type(exc).__module__}.{name}"
    code = f" [{exc.code}]" if isinstance(exc, OpinaraError) else ""  # codes are safe, and users quote them
    return f"{frames}{name}: {HIDDEN_MESSAGE}{code}\n"


class _Formatter(logging.Formatter):
    def __init__(self, *, redact: bool = False) -> None:
        super().__init__()
        self.redact = redact

    def formatException(self, ei: Any) -> str:
        if self.redact and isinstance(ei[1], BaseException):
            return redacted_traceback(ei[1])
        return super().formatException(ei)

    @staticmethod
    def fields(record: logging.LogRecord) -> dict[str, object]:
        """The structured part of a record: the request or job in progress and the logged extras."""
        extras: dict[str, object] = {}
        if (rid := request_id.get()) is not None:
            extras["request_id"] = rid
        if (jid := job_id.get()) is not None:
            extras["job_id"] = jid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                extras[key] = value
        return extras


class JsonFormatter(_Formatter):
    """One JSON object per line: time, level, logger, message, request_id, job_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self.fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(_Formatter):
    """One line a record for a terminal: local time, level, logger, message, then key=value extras.

    A traceback follows on the next lines."""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        line = f"{time}.{int(record.msecs):03d} {record.levelname} {record.name}: {record.getMessage()}"
        pairs = " ".join(f"{key}={_logfmt(value)}" for key, value in self.fields(record).items())
        if pairs:
            line = f"{line}  {pairs}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


def _logfmt(value: object) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    if not text or any(c.isspace() or c in '="' for c in text):
        return orjson.dumps(text).decode()
    return text


def resolve_format(fmt: LogFormat | str, stream: TextIO) -> Literal["json", "text"]:
    """``auto`` is text on a terminal and JSON lines anywhere else (a file, a pipe, a log collector)."""
    if fmt == "json":
        return "json"
    if fmt == "text":
        return "text"
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return "json"


def setup_logging(
    fmt: LogFormat | str = "auto",
    level: LogLevel | str = "info",
    *,
    redact: bool = False,
    stream: TextIO | None = None,
) -> None:
    """Route every log record to ``stream`` (stderr) in one format; quiet the libraries unless ``level`` is debug.

    ``redact`` leaves exception messages out of the output (type and traceback stay). Safe to call again.
    """
    global _configured
    stream = stream if stream is not None else sys.stderr
    numeric = logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    verbose = numeric <= logging.DEBUG
    handler = logging.StreamHandler(stream)
    formatter_class = JsonFormatter if resolve_format(fmt, stream) == "json" else TextFormatter
    handler.setFormatter(formatter_class(redact=redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.ERROR)  # the threshold of every library
    logging.getLogger("opinara").setLevel(numeric)
    for name in _SERVER_LOGGERS:
        _adopt(name, numeric)
    for name in _CHATTY_SERVER_LOGGERS:
        _adopt(name, numeric if verbose else max(numeric, logging.WARNING))
    logging.getLogger("uvicorn.access").disabled = True  # the API logs each request itself, with its id
    _switch_library_env(verbose)
    _route_warnings(verbose, numeric)
    _configured = True
    route_library_logs()


def _adopt(name: str, level: int = logging.NOTSET) -> None:
    """Make a library's logger write through the root handler only."""
    logger = logging.getLogger(name)
    logger.handlers[:] = [h for h in logger.handlers if type(h) is not logging.StreamHandler]
    logger.propagate = True
    logger.setLevel(level)


def _switch_library_env(verbose: bool) -> None:
    for name, value in _QUIET_ENV.items():
        if verbose:
            if name in _env_set_here and os.environ.get(name) == _env_set_here[name]:
                del os.environ[name]  # only undo what this module set, never the user's choice
            _env_set_here.pop(name, None)
        elif name not in os.environ:
            os.environ[name] = _env_set_here[name] = value


def _route_warnings(verbose: bool, level: int) -> None:
    # Warnings become log records, so a JSON log stays one object a line.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.NOTSET if verbose else max(level, logging.WARNING))
    if sys.warnoptions:  # the user chose with -W or PYTHONWARNINGS
        return
    if verbose:
        warnings.simplefilter("default")  # each warning once per place, deprecations included
    else:
        # Libraries' FutureWarnings, UserWarnings and DeprecationWarnings are theirs to fix, not the user's.
        warnings.simplefilter("ignore")
        warnings.filterwarnings("default", module=r"opinara(\.|$)")


def route_library_logs() -> None:
    """Send the logs of the libraries imported so far through Opinara's handler and thresholds.

    Call it right after importing transformers, huggingface_hub, spaCy or onnxruntime: they attach
    their own handlers and levels when imported. Does nothing until ``setup_logging`` has run, so
    Opinara used as a library leaves its host's logging alone.
    """
    if not _configured:
        return
    for name in _SELF_HANDLED_LOGGERS:
        if name in sys.modules:
            _adopt(name)
    if (ort := sys.modules.get("onnxruntime")) is not None:
        # The C++ runtime logs to stderr itself: 2 = warning, 3 = error.
        verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
        ort.set_default_logger_severity(2 if verbose else 3)
