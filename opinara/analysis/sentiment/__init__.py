"""Sentiment backends: ``lexicon`` (VADER), ``encoder`` (the opinion model), ``transformer`` (any HF classifier)."""

from opinara.analysis.sentiment.base import Prediction, SentimentBackend

__all__ = ["Prediction", "SentimentBackend"]
