"""One exception hierarchy for Opinara.

Every error carries a short code users can quote (``E101``) and a message that says what is wrong.
Library errors are translated with ``raise ... from exc``. The API maps these classes to HTTP
statuses in one place (``opinara.api.problems.status_for``); the CLI prints the message and exits 2.

Messages never quote the text being analyzed: they name the field, the index and the reason.
"""

from __future__ import annotations


class OpinaraError(Exception):
    """Base class for all errors Opinara raises on purpose."""

    code = "E000"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class InputError(OpinaraError):
    """Input that cannot be used: a missing file, a bad format, a bad option."""

    code = "E100"


class RecordError(InputError):
    """One bad record inside otherwise readable input."""

    code = "E101"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class NotFoundError(InputError):
    """A product, job or other named thing that does not exist."""

    code = "E102"


class FieldError(InputError):
    """A value of a named field that cannot be used (a lone surrogate, a NUL, a number out of range)."""

    code = "E103"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class LimitExceeded(InputError):
    """Input over a size limit: a text, a batch, a body, an upload, a job."""

    code = "E104"

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class ModelLoadError(OpinaraError):
    """A model or its weights could not be loaded."""

    code = "E200"


class UnknownComponentError(OpinaraError):
    """A component name that is not registered."""

    code = "E201"


class AnalysisFailed(OpinaraError):
    """The analyzer failed on one input (the others of its batch were analyzed on their own)."""

    code = "E202"


class StoreError(OpinaraError):
    """The database cannot be reached, or its schema is not what this version needs."""

    code = "E300"


class Unavailable(OpinaraError):
    """A dependency or a queue cannot take work now; try again after ``retry_after`` seconds."""

    code = "E310"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(Unavailable, StoreError):
    """The database did not answer (down, restarting, out of connections)."""

    code = "E301"


class AccessError(OpinaraError):
    """A caller that may not do what it asked."""

    code = "E500"


class AuthenticationError(AccessError):
    """No API key, or one that is unknown or revoked."""

    code = "E501"


class PermissionDenied(AccessError):
    """A valid key without the scope the operation needs."""

    code = "E502"

    def __init__(self, message: str, scopes: list[str] | None = None) -> None:
        super().__init__(message)
        self.scopes = scopes or []


class RateLimited(AccessError):
    """A key (or a client address) over its rate limit, daily quota or queued-work cap."""

    code = "E503"

    def __init__(self, message: str, limit: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.headers = headers or {}


class JobNotFound(NotFoundError):
    code = "E401"


class JobConflict(InputError):
    """A job in a state that does not allow the operation (cancelling a finished job)."""

    code = "E402"
