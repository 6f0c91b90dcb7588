"""One module per service; each registers a connector under a versioned name (``connector.reddit.v1``)."""

from __future__ import annotations

import importlib

MODULES = ("rss", "reddit", "mastodon", "hackernews", "youtube")


def load() -> None:
    """Import every connector module (each registers itself); the webhook connector lives in ``webhooks``."""
    for module in MODULES:
        importlib.import_module(f"opinara.monitors.connectors.{module}")
    importlib.import_module("opinara.monitors.webhooks")
