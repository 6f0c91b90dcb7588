"""Evaluation of sentiment and aspect extraction on labeled data."""
