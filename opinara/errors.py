"""One exception hierarchy for Opinara.

Every error carries a short code users can quote (``E101``) and a message that
says what is wrong. Library errors are translated with ``raise ... from exc``.
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


class NotFoundError(InputError):
    """A product, job or other named thing that does not exist."""

    code = "E102"


class RecordError(InputError):
    """One bad record inside otherwise readable input."""

    code = "E101"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class ModelLoadError(OpinaraError):
    """A model or its weights could not be loaded."""

    code = "E200"


class UnknownComponentError(OpinaraError):
    """A component name that is not registered."""

    code = "E201"


class StoreError(OpinaraError):
    """The database cannot be reached, or its schema is not what this version needs."""

    code = "E300"
