"""Aspect extraction: opinion targets, their polarity, the opinion words behind it, and their group."""
