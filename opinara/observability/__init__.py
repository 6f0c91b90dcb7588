"""Metrics (Prometheus) and structured logs shared by the API, the workers and the CLI."""
