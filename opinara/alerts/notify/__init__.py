"""Notification channels, one per module, each registered in :data:`CHANNELS` under a versioned name."""

from __future__ import annotations

import importlib

from opinara.alerts.notify.base import CHANNELS, Channel, DeliveryFailed, Notification

MODULES = ("webhook", "slack", "email", "alertmanager")

__all__ = ["CHANNELS", "MODULES", "Channel", "DeliveryFailed", "Notification", "load"]


def load() -> None:
    """Import every channel module (each registers itself)."""
    for module in MODULES:
        importlib.import_module(f"opinara.alerts.notify.{module}")
