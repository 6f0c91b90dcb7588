"""The registries: every versioned name a stored row or config may hold is still registered (a removed or
renamed component would strand them), and unknown names are clear errors."""

from __future__ import annotations

import pytest

from opinara.analysis import registry as analysis
from opinara.errors import UnknownComponentError
from opinara.registry import Registry

# Names only ever get added: stored analyses, jobs and monitors name them.
ANALYSIS_COMPONENTS = [
    "aspects.rules.v1",
    "aspects.tagger.v1",
    "language.lingua.v1",
    "pii.presidio.v1",
    "sentiment.encoder.v1",
    "sentiment.transformer.v1",
    "sentiment.vader.v1",
]


CONNECTORS = [
    "connector.hackernews.v1",
    "connector.mastodon.v1",
    "connector.reddit.v1",
    "connector.rss.v1",
    "connector.webhook.v1",
    "connector.youtube.v1",
]


DETECTORS = [
    "detector.counts.v1",
    "detector.cusum.v1",
    "detector.ensemble.v1",
    "detector.ensemble.v2",
    "detector.proportion.v1",
    "detector.robust.v1",
    "detector.surprise.v1",
]


def test_the_analysis_components_keep_their_names():
    assert analysis.names() == ANALYSIS_COMPONENTS


def test_the_connectors_keep_their_names():
    from opinara.monitors import connectors
    from opinara.monitors.connectors.base import CONNECTORS as registered

    connectors.load()
    assert registered.names() == CONNECTORS


def test_the_detectors_keep_their_names():
    from opinara.signals.detectors import DETECTORS as registered
    from opinara.signals.detectors import load

    load()
    assert registered.names() == DETECTORS


def test_an_unknown_name_lists_the_known_ones():
    parts: Registry[int] = Registry("widget")
    parts.register("widget.one.v1")(lambda: 1)
    assert parts.create("widget.one.v1") == 1 and "widget.one.v1" in parts
    with pytest.raises(UnknownComponentError, match=r"no widget named 'widget\.two\.v1'; known: widget\.one\.v1"):
        parts.create("widget.two.v1")


def test_a_name_cannot_be_registered_twice():
    parts: Registry[int] = Registry("widget")
    parts.register("widget.one.v1")(lambda: 1)
    with pytest.raises(ValueError, match="registered twice"):
        parts.register("widget.one.v1")(lambda: 2)
