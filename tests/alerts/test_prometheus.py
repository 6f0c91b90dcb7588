"""deploy/prometheus/rules.yml and deploy/grafana/opinara.json: generated from the default rules, never
drifting, accepted by promtool, their alerts firing as the rules say, and a real Prometheus scraping a
real Opinara with them loaded (Debian's ``prometheus`` package; ``make test`` installs it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from opinara.alerts import prometheus
from opinara.alerts.rules import DEFAULT_RULES, RuleSpec
from opinara.config import Settings
from tests.api.server import RunningApi, running_api
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "opinara.json"
UNIT_TESTS = Path(__file__).parent / "fixtures" / "prometheus_rules_test.yml"

# The default rules Prometheus cannot evaluate, and why (asserted, so that a change is deliberate).
EXPECTED_BUILT_IN_ONLY = {"health-check-failing", "cost-over-baseline", "monitor-failing", "host-stopped-reporting"}
EXPECTED_MAPPED = {"api-error-rate", "api-latency-p99", "queue-depth", "cache-hit-ratio"}


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"Debian's prometheus package ({name}) is not installed (apt-get install prometheus)"
        if IN_CI:  # make test installs it (the prometheus target)
            pytest.fail(reason + " (CI=true: make test installs it)")
        pytest.skip(reason)
    return path


# --- generation ---------------------------------------------------------------------------------


def test_the_checked_in_files_are_a_fresh_generation():
    for path, text in prometheus.generated(DEPLOY).items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `{prometheus.COMMAND}`"


def test_every_default_rule_is_mapped_or_listed_as_built_in_only():
    names = {spec.name for spec in DEFAULT_RULES}
    assert set(prometheus.BUILT_IN_ONLY) == EXPECTED_BUILT_IN_ONLY
    assert all(reason.strip() for reason in prometheus.BUILT_IN_ONLY.values())
    mapped = {spec.name for spec in DEFAULT_RULES if spec.name not in prometheus.BUILT_IN_ONLY}
    assert mapped == EXPECTED_MAPPED and mapped | EXPECTED_BUILT_IN_ONLY == names
    assert {spec.series for spec in DEFAULT_RULES if spec.name in mapped} == set(prometheus.SERIES_PROMQL)
    document = prometheus.rules_document()
    [group] = document["groups"]
    assert group["name"] == "opinara"
    by_name = {rule["alert"]: rule for rule in group["rules"]}
    assert set(by_name) == mapped
    for spec in DEFAULT_RULES:
        if spec.name in mapped:
            rule = by_name[spec.name]
            assert rule["labels"] == {"severity": spec.severity}
            assert rule.get("for") == (prometheus.duration(spec.for_seconds) if spec.for_seconds else None)
            assert rule.get("keep_firing_for") == (
                prometheus.duration(spec.keep_firing_seconds) if spec.keep_firing_seconds else None
            )
            assert rule["expr"].endswith(f" {spec.op} {spec.threshold:g}")
            assert f"[{prometheus.duration(spec.window_seconds or 0)}]" in rule["expr"]
            assert set(rule["annotations"]) == {"summary", "description"}


def test_a_rule_without_a_mapping_is_an_error():
    unmapped = RuleSpec(
        kind="series",
        name="disk-full",
        series="host_disk_used",
        aggregation="last",
        window_seconds=60,
        op=">",
        threshold=1,
    )
    with pytest.raises(prometheus.GenerationError, match="no PromQL for series 'host_disk_used'"):
        prometheus.rules_document([*DEFAULT_RULES, unmapped])
    other_aggregation = DEFAULT_RULES[0].model_copy(update={"aggregation": "max"})
    with pytest.raises(prometheus.GenerationError, match="not 'max'"):
        prometheus.rules_document([other_aggregation, *DEFAULT_RULES[1:]])
    with pytest.raises(prometheus.GenerationError, match="not default rules"):
        prometheus.rules_document(DEFAULT_RULES[:3])


def test_durations_and_summaries():
    assert [prometheus.duration(s) for s in (0, 45, 60, 90, 300, 3600, 5400, 86_400)] == [
        "0s", "45s", "1m", "90s", "5m", "1h", "90m", "1d"
    ]  # fmt: skip
    spec = RuleSpec(
        kind="series", name="x", series="queue_depth", aggregation="last", window_seconds=60, op=">", threshold=2.5,
        summary="{name} {labels}: {host} at {value} over {threshold} {{literal}}",
    )  # fmt: skip
    assert prometheus.prometheus_summary(spec) == (
        'x {{ $sep := "" }}{{ range $k, $v := $labels }}{{ $sep }}{{ $k }}={{ $v }}{{ $sep = ", " }}{{ end }}: '
        '{{ $labels.host }} at {{ printf "%.4g" $value }} over 2.5 {{ "{{" }}literal{{ "}}" }}'
    )


def test_the_rules_file_reads_back_as_generated():
    yaml = pytest.importorskip("yaml")  # a transitive dependency, used here only to read the file back
    assert yaml.safe_load(RULES.read_text(encoding="utf-8")) == prometheus.rules_document()


def test_the_dashboard_is_well_formed():
    board = prometheus.dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] == "opinara"
    [variable] = board["templating"]["list"]
    assert variable["name"] == "datasource" and variable["type"] == "datasource" and variable["query"] == "prometheus"
    panels = board["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels) >= 10
    cells = set()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        cell = (panel["gridPos"]["x"], panel["gridPos"]["y"])
        assert cell not in cells, f"{panel['title']} overlaps another panel"
        cells.add(cell)
        assert panel["targets"], panel["title"]
        assert len({target["refId"] for target in panel["targets"]}) == len(panel["targets"])
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"] == panel["datasource"]
    titles = " | ".join(panel["title"] for panel in panels).lower()
    for wanted in ("request rate", "error ratio", "latency", "queue depth", "cache hit", "jobs finished",
                   "job duration", "monitor runs", "monitor lag", "texts analyzed"):  # fmt: skip
        assert wanted in titles
    thresholds = {panel["title"]: panel["fieldConfig"]["defaults"]["thresholds"]["steps"] for panel in panels}
    assert thresholds["Error ratio (5xx)"][-1] == {"color": "red", "value": 0.05}
    assert thresholds["Cache hit ratio"][-1] == {"color": "green", "value": 0.5}


# --- promtool -------------------------------------------------------------------------------------


def test_promtool_checks_the_rules():
    result = subprocess.run(
        [binary("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_MAPPED)} rules found" in result.stdout + result.stderr


def test_promtool_unit_tests_fire_after_for_and_not_before():
    # Rule files in the unit test file are relative to it, so it reads the checked-in rules.
    result = subprocess.run(
        [binary("promtool"), "test", "rules", UNIT_TESTS.name],
        cwd=UNIT_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real Prometheus scraping a real Opinara ----------------------------------------------------


@dataclass
class Scraper:
    url: str
    api: RunningApi

    def get(self, path: str, **params: str) -> dict:
        answer = httpx.get(self.url + path, params=params, timeout=10)
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check, timeout: float = 60.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (httpx.HTTPError, AssertionError, KeyError, IndexError, ValueError):
            result = None
        if result:
            return result
        if process is not None and process.poll() is not None:
            pytest.fail(
                f"prometheus exited while waiting for {what}: {process.stderr.read()[-1000:] if process.stderr else ''}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def scraper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraper]:
    server = binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    settings = Settings(
        data_dir=tmp / "opinara", backend="lexicon", aspects=False, embedded_workers=0, monitor_threads=0
    )
    with running_api(settings, preload=False) as api:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            for path in ("/health", "/metrics", "/no-such-route"):
                client.get(path)
        target = api.url.removeprefix("http://")
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {RULES}\n"
            "scrape_configs:\n  - job_name: opinara\n    static_configs:\n"
            f"      - targets: ['{target}']\n",
            encoding="utf-8",
        )
        port = free_port()
        process = subprocess.Popen(
            [
                server,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for("prometheus to be ready", lambda: httpx.get(url + "/-/ready", timeout=2).status_code == 200,
                     process=process)  # fmt: skip
            yield Scraper(url, api)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_prometheus_scrapes_opinara(scraper):
    def up() -> bool:
        [sample] = scraper.get("/api/v1/query", query='up{job="opinara"}')["result"]
        return sample["value"][1] == "1"

    wait_for("the Opinara target to be up", up)
    with httpx.Client(base_url=scraper.api.url, timeout=30) as client:
        client.get("/health")

    def requests() -> list:
        return scraper.get("/api/v1/query", query='opinara_http_requests_total{job="opinara"}')["result"]

    routes = {sample["metric"]["route"] for sample in wait_for("opinara_http_requests_total samples", requests)}
    assert {"/health", "/metrics"} <= routes


def test_prometheus_loads_the_rules_and_evaluates_them(scraper):
    def healthy() -> list | None:
        [group] = scraper.get("/api/v1/rules")["groups"]
        rules = group["rules"]
        return rules if all(rule["health"] == "ok" for rule in rules) else None

    rules = wait_for("every rule to be evaluated with health ok", healthy)
    assert {rule["name"] for rule in rules} == EXPECTED_MAPPED
    assert all(rule["type"] == "alerting" for rule in rules)


def test_every_dashboard_query_is_valid_promql(scraper):
    for panel in prometheus.dashboard()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m")
            answer = httpx.get(scraper.url + "/api/v1/query", params={"query": expr}, timeout=10).json()
            assert answer["status"] == "success", (panel["title"], expr, answer)
