"""The authorization matrix over every /v1 route (and the admin report): no key, each single scope, a revoked
key, admin, and another key's job. The table below is the contract; a new route must be added to it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from opinara.access.keys import revoke_key
from opinara.alerts.rules import RuleSpec
from opinara.alerts.service import ChannelSpec, SilenceSpec
from opinara.api.app import create_app
from tests.api.server import RunningApi, running_demo_api

ANY = {"analyze", "read", "ingest", "monitor", "alerts"}
# (method, path) -> the scopes that may call it (admin always may)
CONTRACT: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/analyze"): {"analyze"},
    ("POST", "/v1/analyze/batch"): {"analyze"},
    ("POST", "/v1/jobs"): {"analyze", "ingest"},
    ("GET", "/v1/jobs"): ANY,
    ("GET", "/v1/jobs/{job_id}"): ANY,
    ("GET", "/v1/jobs/{job_id}/results"): ANY,
    ("DELETE", "/v1/jobs/{job_id}"): {"analyze", "ingest"},
    ("GET", "/v1/products"): {"read"},
    ("GET", "/v1/products/{product}"): {"read"},
    ("GET", "/v1/products/{product}/aspects"): {"read"},
    ("GET", "/v1/products/{product}/trends"): {"read"},
    ("GET", "/v1/products/{product}/drivers"): {"read"},
    ("GET", "/v1/reviews"): {"read"},
    ("GET", "/v1/overview"): {"read"},
    ("GET", "/v1/aspects/changes"): {"read"},
    ("GET", "/v1/keys/me"): ANY,
    ("GET", "/health/detailed"): set(),
    ("POST", "/v1/monitors"): {"monitor"},
    ("GET", "/v1/monitors"): {"monitor", "read"},
    ("GET", "/v1/monitors/{monitor}"): {"monitor", "read"},
    ("PATCH", "/v1/monitors/{monitor}"): {"monitor"},
    ("DELETE", "/v1/monitors/{monitor}"): {"monitor"},
    ("POST", "/v1/monitors/{monitor}/pause"): {"monitor"},
    ("POST", "/v1/monitors/{monitor}/resume"): {"monitor"},
    ("POST", "/v1/monitors/{monitor}/run"): {"monitor"},
    ("GET", "/v1/monitors/{monitor}/runs"): {"monitor", "read"},
    ("GET", "/v1/monitors/{monitor}/trends"): {"monitor", "read"},
    ("GET", "/v1/mentions"): {"read"},
    ("GET", "/v1/share-of-voice"): {"read"},
    ("POST", "/v1/metrics"): {"metrics"},
    ("GET", "/v1/series"): {"read"},
    ("GET", "/v1/series/{name}"): {"read"},
    ("GET", "/v1/insights"): {"read"},
    ("GET", "/v1/insights/{insight_id}"): {"read"},
    ("POST", "/v1/insights/{insight_id}/acknowledge"): {"alerts"},
    ("POST", "/v1/insights/{insight_id}/resolve"): {"alerts"},
    ("GET", "/v1/alerts"): {"alerts", "read"},
    ("GET", "/v1/alerts/history"): {"alerts", "read"},
    ("GET", "/v1/alerts/rules"): {"alerts", "read"},
    ("POST", "/v1/alerts/rules"): {"alerts"},
    ("PATCH", "/v1/alerts/rules/{rule}"): {"alerts"},
    ("DELETE", "/v1/alerts/rules/{rule}"): {"alerts"},
    ("GET", "/v1/silences"): {"alerts", "read"},
    ("POST", "/v1/silences"): {"alerts"},
    ("DELETE", "/v1/silences/{silence_id}"): {"alerts"},
    ("GET", "/v1/channels"): {"alerts"},
    ("POST", "/v1/channels"): {"alerts"},
    ("DELETE", "/v1/channels/{channel}"): {"alerts"},
}
# Routes that take no API key: a webhook sender signs its deliveries instead (tests/monitors/test_webhook_api.py).
PUBLIC = {("POST", "/v1/monitors/{monitor}/events")}
OWNED = {path for _, path in CONTRACT if "{job_id}" in path}
BODIES = {
    "/v1/analyze": {"text": "The strap is comfortable."},
    "/v1/analyze/batch": {"texts": ["The strap is comfortable."]},
    "/v1/jobs": {"texts": ["The strap is comfortable."]},
    "/v1/monitors": {"name": "made-by-the-matrix", "connector": "hackernews", "params": {"query": "acme"}},
    "/v1/metrics": {"timestamp": "2026-11-23T10:00:00Z", "hostname": "matrix", "cpuUsage": 5.0},
    "/v1/silences": {"matchers": ['alertname="queue-depth"'], "duration_seconds": 600},
}
PATCHES = {"/v1/monitors/{monitor}": {"tags": ["acme"]}, "/v1/alerts/rules/{rule}": {"enabled": False}}
QUERIES = {
    "/v1/aspects/changes": {"start": "2026-03-01", "end": "2026-03-31"},
    "/v1/share-of-voice": {"tags": "acme"},
    "/v1/series/{name}": {"labels": "host=matrix", "from": "2026-11-23T00:00:00Z", "to": "2026-11-24T00:00:00Z"},
}
# Past the route's scopes, the job's kind needs its own: a JSON body is an analyze job, which ingest may not submit.
REFUSED_BY_KIND = {("POST", "/v1/jobs", "ingest")}


def test_the_contract_names_every_guarded_route():
    paths = create_app().openapi()["paths"]
    declared = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1") or path == "/health/detailed"
        for method in operations
    }
    assert declared == set(CONTRACT) | PUBLIC
    assert all("security" not in paths[path][method.lower()] for method, path in PUBLIC)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    folder = tmp_path_factory.mktemp("authz")
    settings = {"max_queued_jobs_per_key": 1000, "monitor_threads": 0, "failed_auth_limit": "100000/minute"}
    with running_demo_api(folder, embedded_workers=0, **settings) as running:
        yield running


@pytest.fixture(scope="module")
def keys(api: RunningApi) -> dict[str, str]:
    made = {
        scope: api.key(f"m-{scope}", scope)
        for scope in ("analyze", "read", "ingest", "monitor", "metrics", "alerts", "admin")
    }
    api.platform.series.write_payload(BODIES["/v1/metrics"])  # the series the read routes read
    made["revoked"] = api.key("m-revoked", "analyze,read,ingest,admin")
    revoke_key(api.platform.store, "m-revoked")
    deadline = time.monotonic() + 40 * api.platform.settings.key_revocation_poll_seconds
    with api.client(made["revoked"]) as client:
        while client.get("/v1/keys/me").status_code != 401:
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.05)
    return made


def _call(api: RunningApi, key: str | None, method: str, path: str, job_id: str):
    url = path.replace("{job_id}", job_id).replace("{product}", "aurora-x2").replace("{name}", "host_cpu_usage")
    if "{insight_id}" in path:
        url = url.replace("{insight_id}", str(_fresh_insight(api)))
    if "{monitor}" in path:
        url = url.replace("{monitor}", _fresh_monitor(api))
    body = BODIES.get(path) if method == "POST" else PATCHES.get(path) if method == "PATCH" else None
    if path == "/v1/monitors" and method == "POST":
        body = {**BODIES[path], "name": f"matrix-{next(_names)}"}
    if method == "POST" and path in ("/v1/alerts/rules", "/v1/channels"):
        body = _alert_rule() if path == "/v1/alerts/rules" else _channel()
    if "{rule}" in path:
        url = url.replace("{rule}", api.platform.alerts.create_rule(RuleSpec(**_alert_rule())).name)
    if "{silence_id}" in path:
        silence = SilenceSpec(matchers=['alertname="matrix"'], duration_seconds=600)
        url = url.replace("{silence_id}", str(api.platform.alerts.create_silence(silence, "matrix").id))
    if "{channel}" in path:
        url = url.replace("{channel}", api.platform.alerts.create_channel(ChannelSpec(**_channel())).name)
    with api.client(key) as client:
        return client.request(method, url, json=body, params=QUERIES.get(path))


_names = iter(range(1_000_000))


def _alert_rule() -> dict:
    return {
        "kind": "series",
        "name": f"matrix-{next(_names)}",
        "series": "queue_depth",
        "aggregation": "last",
        "window_seconds": 60,
        "op": ">",
        "threshold": 5,
    }


def _channel() -> dict:
    return {
        "name": f"matrix-{next(_names)}",
        "kind": "webhook",
        "config": {"url": "https://hooks.example.com/opinara"},
        "secrets": {"secret": "0123456789abcdef-matrix"},
    }


def _fresh_monitor(api: RunningApi) -> str:
    from opinara.monitors.models import MonitorSpec

    name = f"matrix-{next(_names)}"
    api.platform.monitors.create(MonitorSpec(name=name, connector="hackernews", params={"query": "acme"}))
    return name


def _fresh_insight(api: RunningApi) -> int:
    from opinara.insights.anomalies import InsightCandidate

    candidate = InsightCandidate(
        type="volume_spike",
        severity="warning",
        entity_kind="tag",
        entity={"tag": f"matrix-{next(_names)}"},
        message="Mentions of the matrix rose.",
        evidence={},
        detector="detector.robust.v1",
        score=0.9,
    )
    raised = api.platform.insights.raise_insight(candidate)
    assert raised is not None
    return raised.insight.id


def _fresh_job(api: RunningApi, key: str) -> str:
    with api.client(key) as client:
        answer = client.post("/v1/jobs", json={"texts": ["queued for the matrix"]})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


@pytest.mark.parametrize(("method", "path"), sorted(CONTRACT))
def test_no_key_and_a_revoked_key_get_401(api, keys, method, path):
    job_id = _fresh_job(api, keys["analyze"])
    for key in (None, keys["revoked"]):
        answer = _call(api, key, method, path, job_id)
        assert answer.status_code == 401, (key is None, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), sorted(CONTRACT))
@pytest.mark.parametrize("who", ["analyze", "read", "ingest", "monitor", "metrics", "alerts", "admin"])
def test_each_scope_gets_what_the_contract_says(api, keys, method, path, who):
    owner = keys["analyze"]
    job_id = _fresh_job(api, owner)
    answer = _call(api, keys[who], method, path, job_id)
    allowed = who == "admin" or who in CONTRACT[(method, path)]
    if not allowed or (method, path, who) in REFUSED_BY_KIND:
        assert answer.status_code == 403, answer.text
        assert answer.json()["scopes"] == [who]
    elif path in OWNED and who not in ("analyze", "admin"):
        assert answer.status_code == 404, "another key's job does not exist for this key"
    else:
        assert answer.status_code < 400, answer.text


def test_another_keys_job_is_invisible_and_cannot_be_cancelled(api, keys):
    other = api.key("m-other", "analyze,read")
    job_id = _fresh_job(api, keys["analyze"])
    with api.client(other) as client:
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
        assert client.get(f"/v1/jobs/{job_id}/results").status_code == 404
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 404
        assert all(job["id"] != job_id for job in client.get("/v1/jobs").json()["jobs"])
    with api.client(keys["admin"]) as client:
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued", "other keys changed nothing"
