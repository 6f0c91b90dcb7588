"""Serving analysis to many callers: analyzers per backend, dynamic batching and the result cache."""
