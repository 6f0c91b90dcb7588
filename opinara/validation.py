"""Checks every entry point shares: texts that cannot be processed safely, and numbers, ids and dates in range.

A lone surrogate (``"\\ud800"``, legal in JSON and Python strings, not in UTF-8) breaks tokenizers,
databases and logs; a NUL character truncates C strings and is refused by PostgreSQL. Both are
refused where the text enters, naming the field and its index, so they never reach a batch that
other requests share.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BeforeValidator, Field, StringConstraints

from opinara.errors import FieldError

# Ids from clients and from the store fit a signed 32-bit integer on every database we run on.
MAX_ID = 2**31 - 1
# Dates that arithmetic on them (the period before a period) cannot push out of ``date``'s range.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be processed, or None: a NUL character or a lone surrogate, with its index."""
    found = _UNSAFE.search(value)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
    return f"contains {what} at character {found.start()}"


def check_text(value: str, field: str = "text") -> str:
    """``value`` unchanged, or :class:`FieldError` naming ``field``."""
    problem = text_problem(value)
    if problem is not None:
        raise FieldError(field, problem)
    return value


def _clean(value: object) -> object:
    """Refuse unsafe strings before any other check: a length check on a string with a lone surrogate
    would fail with a message about encodings instead of naming the character."""
    if isinstance(value, str) and (problem := text_problem(value)) is not None:
        raise ValueError(problem)  # pydantic turns it into a 422 entry with the field's location
    return value


# A string from a client that is safe to analyze, store and log (pydantic validates it).
CleanText = Annotated[str, BeforeValidator(_clean)]
# A product's (or other thing's) id as its source gives it: any safe text of at most 128 characters.
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=128), BeforeValidator(_clean)]
RecordId = Annotated[str, StringConstraints(max_length=256), BeforeValidator(_clean)]
Cursor = Annotated[int, Field(ge=1, le=MAX_ID)]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: object) -> object:
    """Only ``YYYY-MM-DD`` text is a date here: pydantic would also read ``0`` as 1970-01-01."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    if isinstance(value, int | float):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


InRangeDate = Annotated[date, BeforeValidator(_iso_date), Field(ge=MIN_DATE, le=MAX_DATE)]


def numeric_id(ref: str) -> int | None:
    """``ref`` as a store id when it is one (ASCII digits, within range), else None.

    ``str.isdigit`` is True for ``"²"``, which ``int`` refuses: only ASCII digits count."""
    if ref.isascii() and ref.isdigit() and len(ref) <= 10:
        number = int(ref)
        return number if 1 <= number <= MAX_ID else None
    return None
