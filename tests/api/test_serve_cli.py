"""``opinara serve`` as users run it: several server processes share metrics; bad options exit 2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from tests.jobs.conftest import free_port as _free_port
from tests.jobs.test_job_recovery import _env, _setup, _wait_ready, process


def test_two_server_processes_answer_and_merge_their_metrics(tmp_path):
    port, url, log, headers = _setup(tmp_path)
    with process(["serve", "--port", str(port), "--workers", "2", "--job-workers", "0"], _env(tmp_path), log) as server:
        _wait_ready(url, server, log)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            statuses = [
                client.post("/v1/analyze", json={"text": f"fine {i}", "aspects": False}).status_code for i in range(40)
            ]
            body = client.get("/metrics").text
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert statuses == [200] * 40
    served = re.search(r'opinara_http_requests_total\{method="POST",route="/v1/analyze",status="200"\} (\d+)', body)
    assert served and float(served.group(1)) == 40, "every process's requests are counted once"


def test_bad_serve_options_exit_2_with_one_line(tmp_path):
    for args in (["serve", "--port", "0"], ["serve", "--backend", "magic", "--port", str(_free_port())]):
        result = subprocess.run(
            [sys.executable, "-m", "opinara", *args],
            env={**os.environ, "OPINARA_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 2, (args, result.stderr[-500:])
        assert result.stderr.strip().splitlines()[-1].startswith("opinara: error:"), result.stderr[-500:]
