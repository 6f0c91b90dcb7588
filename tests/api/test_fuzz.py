"""The whole API against generated requests: schemathesis reads the live server's OpenAPI document and runs its
coverage, fuzzing and stateful phases on every operation with a real key, checking that no answer is a
server error and every answer matches the schema it declares."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from opinara.config import Settings
from tests.api.server import running_api

SEED = 20261123
MIN_REQUESTS = 2000
CONFIG = """
[dictionaries.products]
values = ["aurora-x2", "brewline-pro", "trailpeak-2", "1", "2", "3"]

[parameters]
"path.product" = { dictionary = "products", probability = 0.5 }
"""


def test_generated_requests_get_no_server_error_and_match_the_schema(tmp_path: Path, data_dir: Path):
    from opinara.demo.seed import seed_reviews

    settings = Settings(
        data_dir=data_dir,  # the session's: the encoder's ONNX export is made once
        database_url=f"sqlite:///{tmp_path / 'fuzz.db'}",
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=1,
        max_queued_jobs_per_key=100_000,
        monitor_threads=0,  # monitors the fuzzer makes must never fetch: no traffic leaves this machine
        alerts_enabled=False,  # nor may channels it makes be sent to
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report.json"
    with running_api(settings) as api:
        seed_reviews(api.platform.store, api.platform.analysis.load().analyzer)
        key = api.key("fuzzer", "analyze,read,ingest,admin", rate_limit="1000000/minute")
        command = [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(config),
            "run",
            f"{api.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            "coverage,fuzzing,stateful",
            "--max-examples",
            "40",
            "--seed",
            str(SEED),
            "--request-timeout",
            "120",
            # One worker: with two, hypothesis parses source with `ast` in two threads at once, which CPython
            # 3.11 does not support ("AST constructor recursion depth mismatch"), a failure of the tool.
            "--workers",
            "1",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ]
        # In the test's folder: schemathesis keeps a cache in its working directory.
        run = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
    summary = json.loads(report.read_text())
    assert run.returncode == 0, run.stdout[-6000:]
    assert summary["test_cases"]["generated"] >= MIN_REQUESTS, summary["test_cases"]
    assert summary["test_cases"]["with_failures"] == 0 and summary["test_cases"]["errored"] == 0
    assert summary["failures"] == [] and summary["errors"] == []
    assert {name: phase["status"] for name, phase in summary["phases"].items() if name != "examples"} == {
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }
    assert summary["operations"]["tested"] == summary["operations"]["total"] >= 20
