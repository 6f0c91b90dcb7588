"""Properties of the checks every entry point shares (``opinara.validation``)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from opinara.errors import FieldError
from opinara.validation import MAX_ID, CleanText, check_text, numeric_id, text_problem

# Any code point, surrogates included (hypothesis leaves them out by default), with the unsafe ones often.
ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\udc80"]),
)
ANY_TEXT = st.text(alphabet=ANY_CHAR, max_size=40)


def first_unsafe(value: str) -> int | None:
    return next((i for i, c in enumerate(value) if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF), None)


@given(ANY_TEXT)
def test_text_problem_is_none_exactly_for_text_without_nul_or_surrogates(value: str):
    assert (text_problem(value) is None) == (first_unsafe(value) is None)


@given(ANY_TEXT)
def test_text_problem_names_the_first_unsafe_character_and_its_index(value: str):
    index = first_unsafe(value)
    if index is None:
        return
    char = value[index]
    what = "a NUL character" if char == "\x00" else f"a lone surrogate (U+{ord(char):04X})"
    assert text_problem(value) == f"contains {what} at character {index}"


@given(ANY_TEXT, st.sampled_from(["text", "texts[3]", "title"]))
def test_check_text_returns_its_input_or_names_the_field_and_index(value: str, field: str):
    index = first_unsafe(value)
    if index is None:
        assert check_text(value, field) is value
        return
    with pytest.raises(FieldError) as raised:
        check_text(value, field)
    assert raised.value.field == field
    assert raised.value.reason == text_problem(value)
    assert raised.value.message == f"{field}: {text_problem(value)}"
    assert raised.value.reason.endswith(f"at character {index}")


@given(ANY_TEXT)
def test_clean_text_accepts_exactly_what_text_problem_accepts(value: str):
    adapter = TypeAdapter(CleanText)
    if text_problem(value) is None:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def expected_id(ref: str) -> int | None:
    """The rule: 1 to 10 ASCII digits whose value is a store id (1 to 2**31-1)."""
    if re.fullmatch(r"[0-9]{1,10}", ref) and 1 <= int(ref) <= MAX_ID:
        return int(ref)
    return None


@given(
    st.one_of(
        ANY_TEXT,
        st.integers().map(str),
        st.text(alphabet="0123456789+- _²١٢", max_size=14),
    )
)
@example("²")
@example("١٢")
@example("9" * 5000)
@example("+1")
@example("-1")
@example(" 1")
@example("1 ")
@example("1_000")
@example("")
@example("0")
@example("0000000001")
@example(str(MAX_ID))
@example(str(MAX_ID + 1))
def test_numeric_id_accepts_exactly_ascii_decimal_ids_in_range_and_never_raises(ref: str):
    assert numeric_id(ref) == expected_id(ref)


@given(st.integers(min_value=1, max_value=MAX_ID))
def test_every_id_in_range_is_read_back(number: int):
    assert numeric_id(str(number)) == number


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_ID + 1)))
def test_ids_out_of_range_are_not_ids(number: int):
    assert numeric_id(str(number)) is None
