from opinara.analysis.text import split_sentences, words


def spans_text(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_splits_sentences_at_end_punctuation_with_offsets():
    text = "The battery life is great. The screen is dim! Would I buy it again? Yes."
    assert spans_text(text) == ["The battery life is great.", "The screen is dim!", "Would I buy it again?", "Yes."]


def test_keeps_abbreviations_and_decimals_inside_a_sentence():
    assert spans_text("Mr. Smith paid $9.99 for it. It broke e.g. twice.") == [
        "Mr. Smith paid $9.99 for it.",
        "It broke e.g. twice.",
    ]


def test_blank_lines_split_and_whitespace_is_trimmed():
    assert split_sentences("  Good value\n\nBad box  ") == [(2, 12), (14, 21)]


def test_blank_text_has_no_sentences():
    assert split_sentences("   \n ") == []


def test_words_are_character_spans():
    text = "Don't buy it"
    assert [text[s:e] for s, e in words(text)] == ["Don't", "buy", "it"]
