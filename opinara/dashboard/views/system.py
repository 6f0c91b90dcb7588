"""System: each component's health, throughput, latency, queue depth and cache hit ratio."""

from __future__ import annotations

import streamlit as st
from prometheus_client.parser import text_string_to_metric_families

from opinara.dashboard.client import ApiError
from opinara.dashboard.common import api_errors, client

st.title("System")
api = client()
with api_errors():
    ready = api.ready()
    metrics = {f.name: f for f in text_string_to_metric_families(api.metrics())}
st.subheader("Ready" if ready["status"] == "ready" else "Not ready")
columns = st.columns(len(ready["checks"]))
for column, (name, check) in zip(columns, ready["checks"].items(), strict=True):
    column.metric(name, check["status"], f"{check['latency_ms']} ms", delta_color="off")
    if check.get("error"):
        column.caption(check["error"])


def total(name: str, **labels: str) -> float:
    """A counter's value summed over the samples that carry ``labels``."""
    family = metrics.get(name)
    if family is None:
        return 0.0
    return sum(
        s.value
        for s in family.samples
        if s.name == name + "_total" and all(s.labels.get(k) == v for k, v in labels.items())
    )


def histogram(name: str, **labels: str) -> tuple[float, float]:
    family = metrics.get(name)
    if family is None:
        return 0.0, 0.0
    chosen = [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return (
        sum(s.value for s in chosen if s.name.endswith("_sum")),
        sum(s.value for s in chosen if s.name.endswith("_count")),
    )


requests = total("opinara_http_requests")
latency_sum, latency_count = histogram("opinara_http_request_duration_seconds")
batch_sum, batch_count = histogram("opinara_inference_batch_size")
hits, misses = (
    total("opinara_cache_lookups", level="memory", outcome="hit"),
    total("opinara_cache_lookups", level="memory", outcome="miss"),
)
queue = metrics.get("opinara_queue_depth")
a, b, c, d = st.columns(4)
a.metric("Requests served", f"{requests:,.0f}")
b.metric("Mean latency", f"{latency_sum / latency_count * 1000:.1f} ms" if latency_count else "—")
c.metric("Texts analyzed", f"{total('opinara_texts_analyzed'):,.0f}")
d.metric("Mean model batch", f"{batch_sum / batch_count:.1f}" if batch_count else "—")
e, f, g = st.columns(3)
e.metric("Cache hit ratio", f"{hits / (hits + misses):.0%}" if hits + misses else "—")
f.metric("Queue depth", f"{queue.samples[0].value:.0f}" if queue and queue.samples else "—")
g.metric("Rate-limited", f"{total('opinara_rate_limited'):,.0f}")

routes: dict[str, dict[str, float]] = {}
family = metrics.get("opinara_http_requests")
for sample in family.samples if family else []:
    if sample.name.endswith("_total"):
        entry = routes.setdefault(f"{sample.labels['method']} {sample.labels['route']}", {"requests": 0, "errors": 0})
        entry["requests"] += sample.value
        entry["errors"] += sample.value if sample.labels["status"].startswith(("4", "5")) else 0
if routes:
    st.dataframe([{"route": k, **v} for k, v in sorted(routes.items())], hide_index=True)

st.subheader("Components")
try:
    detailed = api.detailed()
except ApiError as exc:
    if exc.status != 403:
        st.error(exc.message)
        st.stop()
    st.info(
        "The detailed component report (GET /health/detailed) needs an admin key. This dashboard's key has "
        "no admin scope, as it should when visitors share it; run `opinara keys create` for an admin key "
        "and call the endpoint yourself."
    )
else:
    st.dataframe(
        [
            {
                "component": name,
                "status": c["status"],
                "latency ms": c.get("latency_ms"),
                "detail": ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("status", "latency_ms")),
            }
            for name, c in detailed["components"].items()
        ],
        hide_index=True,
    )
    st.caption(
        f"jobs queued {detailed['jobs']['queued']}, running {detailed['jobs']['running']} · "
        + " · ".join(f"{k} {v}" for k, v in detailed["versions"].items())
    )
