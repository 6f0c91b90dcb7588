"""Opinara's command line: ``opinara analyze | evaluate | train | demo``."""

from opinara.cli.app import app, main

__all__ = ["app", "main"]
