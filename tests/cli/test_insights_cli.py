"""``opinara insights``: list, show, ack, resolve and detect against the real command."""

from __future__ import annotations

import json

from opinara.config import Settings
from opinara.insights.anomalies import InsightCandidate, InsightService
from opinara.store.db import open_store


def test_insights_from_the_command_line(run_cli, data_dir):
    store = open_store(Settings(data_dir=data_dir))
    raised = InsightService(Settings(data_dir=data_dir), store).raise_insight(
        InsightCandidate(
            type="volume_spike",
            severity="critical",
            entity_kind="tag",
            entity={"tag": "cli-acme"},
            message="Mentions of cli-acme rose from 12 to 95 a day.",
            evidence={"figures": {"today": 95}},
            detector="detector.robust.v1",
            score=0.97,
        )
    )
    store.engine.dispose()
    number = str(raised.insight.id)
    listed = run_cli("insights", "list", "--format", "json", "--severity", "critical")
    assert listed.returncode == 0, listed.stderr
    mine = [i for i in json.loads(listed.stdout) if i["id"] == raised.insight.id]
    assert mine and mine[0]["message"].startswith("Mentions of cli-acme rose")
    assert json.loads(run_cli("insights", "show", number).stdout)["evidence"] == {"figures": {"today": 95}}
    assert run_cli("insights", "ack", number).stdout.decode().strip() == f"insight {number}: acknowledged"
    assert run_cli("insights", "resolve", number).stdout.decode().strip() == f"insight {number}: resolved"
    detect = run_cli("insights", "detect")
    assert detect.returncode == 0 and detect.stdout.decode().startswith("judged ")
    for args, message in (
        (("insights", "show", "987654"), "no insight 987654"),
        (("insights", "list", "--format", "xml"), "--format must be table or json"),
        (("insights", "list", "--severity", "loud"), "--severity must be info, warning or critical"),
    ):
        result = run_cli(*args)
        errors = result.stderr.decode().strip().splitlines()
        assert result.returncode == 2 and len(errors) == 1 and message in errors[0], (args, errors)
