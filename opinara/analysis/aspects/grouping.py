"""Canonical group names, so that variants of one aspect count together (``battery``, ``battery life``)."""

from __future__ import annotations

import re

_DETERMINERS = frozenset(
    [
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "my",
        "our",
        "your",
        "his",
        "her",
        "its",
        "their",
        "some",
        "any",
    ]
)
# Attribute nouns that name a property of the thing before them: "battery life" is about the battery.
_ATTRIBUTE_HEADS = frozenset(
    ["life", "quality", "level", "levels", "size", "time", "times", "speed", "performance", "capacity"]
)
_INVARIANT = frozenset(["lens", "series", "species", "news", "means", "chassis"])
_NON_PLURAL = re.compile(r"(ss|us|is|ics|ness)$")


def singular(word: str) -> str:
    """A light English singularizer for nouns: batteries -> battery, boxes -> box, glass stays glass."""
    if len(word) <= 3 or word in _INVARIANT or _NON_PLURAL.search(word):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("'s"):
        return word[:-1]
    return word


def group_name(term: str) -> str:
    """The group an aspect term belongs to: lowercased, without determiners, singular head, attribute
    heads dropped (``The Battery Life`` -> ``battery``, ``screens`` -> ``screen``)."""
    tokens = [t for t in re.findall(r"[\w'’\-]+", term.lower()) if t not in _DETERMINERS]
    if not tokens:
        return term.strip().lower()
    if len(tokens) > 1 and tokens[-1] in _ATTRIBUTE_HEADS:
        tokens = tokens[:-1]
    tokens[-1] = singular(tokens[-1])
    return " ".join(tokens)
