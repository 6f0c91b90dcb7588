"""``opinara alerts|silences|channels`` against the real command: rules listed, a silence and a channel
made (its secret never printed), a rule disabled, bad input one line and exit 2."""

from __future__ import annotations

import json


def test_alerts_silences_and_channels_from_the_command_line(run_cli):
    rules = json.loads(run_cli("alerts", "rules", "--format", "json").stdout)
    names = {rule["name"] for rule in rules}
    assert {"api-error-rate", "queue-depth", "host-stopped-reporting", "insights"} <= names
    assert all(rule["builtin"] for rule in rules if rule["name"] in names)

    made = run_cli("silences", "add", 'alertname="queue-depth"', "--for", "90m", "--comment", "deploy")
    assert made.returncode == 0 and made.stdout.decode().startswith("silence ")
    silences = json.loads(run_cli("silences", "list", "--format", "json").stdout)
    assert any(s["matchers"] == ['alertname="queue-depth"'] and s["active"] for s in silences)

    secret = "0123456789abcdef-cli-secret"
    added = run_cli(
        "channels",
        "add",
        "cli-oncall",
        "--kind",
        "webhook",
        "--config",
        "url=https://hooks.example.com/x",
        "--secret",
        f"secret={secret}",
        "--min-severity",
        "critical",
    )
    assert added.returncode == 0, added.stderr
    listed = run_cli("channels", "list", "--format", "json")
    assert secret not in listed.stdout.decode() + added.stdout.decode()
    [channel] = [c for c in json.loads(listed.stdout) if c["name"] == "cli-oncall"]
    assert channel["secrets"] == {"secret": "****"} and channel["min_severity"] == "critical"

    assert run_cli("alerts", "disable", "queue-depth").stdout.decode().strip() == "rule queue-depth: disabled"
    after = {r["name"]: r["enabled"] for r in json.loads(run_cli("alerts", "rules", "--format", "json").stdout)}
    assert after["queue-depth"] is False
    evaluated = run_cli("alerts", "evaluate")
    assert evaluated.returncode == 0 and "rules" in evaluated.stdout.decode()
    assert run_cli("channels", "remove", "cli-oncall").returncode == 0

    for args, message in (
        (("silences", "add", "nonsense"), "matcher"),
        (("silences", "add", 'alertname="x"', "--for", "soon"), "--for must be a duration"),
        (("channels", "add", "x", "--kind", "pager"), "kind"),
        (("channels", "add", "y", "--kind", "webhook", "--config", "url=ftp://x"), "url"),
        (("alerts", "disable", "no-such-rule"), "no alert rule 'no-such-rule'"),
        (("alerts", "rules", "--format", "xml"), "--format must be table or json"),
    ):
        result = run_cli(*args)
        errors = result.stderr.decode().strip().splitlines()
        assert result.returncode == 2 and len(errors) == 1 and message in errors[0], (args, errors)
        assert secret not in result.stderr.decode()
