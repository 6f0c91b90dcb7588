"""Prometheus metrics. One module defines them all so names and labels stay consistent.

With several server processes (``opinara serve --workers N``) each process writes its samples to
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` merges them; ``opinara serve`` sets that folder up."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "opinara_http_requests_total", "HTTP requests by route, method and status", ["route", "method", "status"]
)
REQUEST_LATENCY = Histogram(
    "opinara_http_request_duration_seconds",
    "HTTP request latency by route, method and status",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
TEXTS_ANALYZED = Counter("opinara_texts_analyzed_total", "Texts analyzed, by backend and source", ["backend", "source"])
INFERENCE_LATENCY = Histogram(
    "opinara_inference_duration_seconds", "Analyzer call latency per batch", ["backend"], buckets=LATENCY_BUCKETS
)
BATCH_SIZE = Histogram(
    "opinara_inference_batch_size",
    "Texts per analyzer call",
    ["backend"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
CACHE_LOOKUPS = Counter(
    "opinara_cache_lookups_total", "Result cache lookups by level and outcome", ["level", "outcome"]
)
RATE_LIMITED = Counter("opinara_rate_limited_total", "Requests refused by a rate limit or quota", ["reason"])
QUEUE_DEPTH = Gauge("opinara_queue_depth", "Jobs waiting in the queue", multiprocess_mode="max")
JOBS_FINISHED = Counter("opinara_jobs_finished_total", "Jobs finished, by kind and status", ["kind", "status"])
JOB_DURATION = Histogram(
    "opinara_job_duration_seconds", "Job run time", ["kind"], buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
)


MONITOR_RUNS = Counter("opinara_monitor_runs_total", "Monitor runs by source and status", ["source", "status"])
MONITOR_ITEMS = Counter(
    "opinara_monitor_items_total", "Items monitors fetched, and the new ones stored", ["source", "outcome"]
)
MONITOR_LAG = Histogram(
    "opinara_monitor_lag_seconds",
    "Scheduler lag: from a monitor's due time to the start of its run",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
MONITOR_HTTP_LATENCY = Histogram(
    "opinara_monitor_http_duration_seconds", "Connector HTTP request latency by host", ["host"], buckets=LATENCY_BUCKETS
)


def exposition() -> tuple[bytes, str]:
    """The metrics text and its content type; merged across processes in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def cache_hit_ratio() -> float | None:
    """Hits / lookups at the first level, over this process's life."""
    hits = misses = 0.0
    for metric in CACHE_LOOKUPS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("level") == "memory":
                if sample.labels.get("outcome") == "hit":
                    hits += sample.value
                else:
                    misses += sample.value
    total = hits + misses
    return round(hits / total, 4) if total else None


# Texts submitted to a batcher whose analyzer call has not ended; summed over the live server processes.
BATCH_QUEUE_TEXTS = Gauge(
    "opinara_batch_queue_texts",
    "Texts waiting for or in an analyzer call, per batcher backend",
    ["backend"],
    multiprocess_mode="livesum",
)
