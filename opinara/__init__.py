"""Opinara: self-hosted sentiment, aspect and insight platform."""

__version__ = "0.1.0"
