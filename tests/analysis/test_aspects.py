"""Aspect grouping, opinion linking and the rule-based extractor (no trained model needed)."""

import pytest

from opinara.analysis.aspects.grouping import group_name, singular
from opinara.analysis.aspects.opinions import link_opinions
from opinara.analysis.text import split_sentences


@pytest.mark.parametrize(
    ("term", "group"),
    [
        ("battery life", "battery"),
        ("The Battery", "battery"),
        ("batteries", "battery"),
        ("screen quality", "screen"),
        ("customer service", "customer service"),
        ("zippers", "zipper"),
        ("glass", "glass"),
        ("boxes", "box"),
    ],
)
def test_variants_share_a_group(term, group):
    assert group_name(term) == group


def test_singular_leaves_non_plurals_alone():
    assert [singular(w) for w in ("lens", "status", "glass", "analysis", "cups")] == [
        "lens",
        "status",
        "glass",
        "analysis",
        "cup",
    ]


def opinions_of(text: str, *terms: str) -> list[list[tuple[str, float]]]:
    spans = [(text.index(t), text.index(t) + len(t)) for t in terms]
    linked = link_opinions(text, spans, split_sentences(text))
    return [[(span.text, valence) for span, valence in found] for found in linked]


def test_contrast_keeps_opinions_in_their_clause():
    battery, screen = opinions_of("The battery life is great but the screen is dim.", "battery life", "screen")
    assert [t for t, _ in battery] == ["great"] and battery[0][1] > 0
    assert [t for t, _ in screen] == ["dim"] and screen[0][1] < 0


def test_negation_joins_and_flips_the_opinion():
    [found] = opinions_of("The sound is not great.", "sound")
    assert found[0][0] == "not great" and found[0][1] < 0


def test_each_opinion_goes_to_the_nearest_aspect():
    pasta, staff = opinions_of("Delicious pasta and rude staff.", "pasta", "staff")
    assert [t for t, _ in pasta] == ["Delicious"]
    assert [t for t, _ in staff] == ["rude"]


def test_rules_extractor_finds_targets_with_opinions(lexicon_analyzer):
    text = "The battery life is great but the screen is dim."
    [aspects] = lexicon_analyzer.aspects([text], [split_sentences(text)])
    by_term = {a.term: a for a in aspects}
    assert by_term["battery life"].sentiment.label == "positive"
    assert by_term["screen"].sentiment.label == "negative"
    assert by_term["battery life"].group == "battery"
