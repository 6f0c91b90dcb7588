"""``opinara keys``: the key is printed once, only its hash is stored, revocation and bad input."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from opinara.access.keys import hash_key


def test_create_list_revoke_round_trip(run_cli, data_dir):
    created = run_cli(
        "keys",
        "create",
        "--name",
        "cli-key",
        "--scopes",
        "analyze,read",
        "--rate-limit",
        "10/second",
        "--daily-quota",
        "500",
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.decode().strip()
    assert key.startswith("opn_") and len(key) > 40
    assert b"cannot be shown again" in created.stderr

    with sqlite3.connect(data_dir / "opinara.db") as db:
        stored = db.execute("select key_hash, prefix from api_keys where name = 'cli-key'").fetchone()
        everything = "".join(str(v) for row in db.execute("select * from api_keys") for v in row)
    assert stored == (hash_key(key), key[:12]) and key not in everything

    listed = json.loads(run_cli("keys", "list", "--format", "json").stdout)
    mine = next(k for k in listed if k["name"] == "cli-key")
    assert mine["scopes"] == ["analyze", "read"] and mine["daily_quota"] == 500 and mine["revoked_at"] is None
    assert "key_hash" not in mine and mine["redact_pii"] is False
    assert set(mine) == {
        "id", "name", "prefix", "scopes", "rate_limit", "daily_quota", "redact_pii",
        "created_at", "revoked_at", "last_used_at",
    }  # fmt: skip
    assert datetime.fromisoformat(mine["created_at"]).tzinfo is not None

    assert run_cli("keys", "revoke", "cli-key").returncode == 0
    listed = json.loads(run_cli("keys", "list", "--format", "json").stdout)
    assert datetime.fromisoformat(next(k for k in listed if k["name"] == "cli-key")["revoked_at"])


def test_a_key_can_ingest_and_have_every_request_redacted(run_cli):
    created = run_cli("keys", "create", "--name", "ingester", "--scopes", "ingest,read", "--redact-pii")
    assert created.returncode == 0, created.stderr
    assert b"personal data redacted" in created.stderr and b"read,ingest" in created.stderr
    listed = json.loads(run_cli("keys", "list", "--format", "json").stdout)
    mine = next(k for k in listed if k["name"] == "ingester")
    assert mine["scopes"] == ["read", "ingest"] and mine["redact_pii"] is True

    table = run_cli("keys", "list", env_extra={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.decode().splitlines() if "ingester" in line)
    assert "yes" in row and "active" in row and mine["prefix"] in row


def test_bad_key_requests_exit_2_with_one_line(run_cli):
    cases = [
        ("keys", "create", "--name", "bad-scope", "--scopes", "analyze,root"),
        ("keys", "create", "--name", "bad-rate", "--rate-limit", "fast"),
        ("keys", "create", "--name", "bad name!"),
        ("keys", "revoke", "no-such-key"),
        ("keys", "usage", "no-such-key"),
        ("keys", "list", "--format", "yaml"),
    ]
    for args in cases:
        result = run_cli(*args)
        assert result.returncode == 2, args
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("opinara: error:"), (args, lines)


def test_a_duplicate_name_is_refused(run_cli):
    assert run_cli("keys", "create", "--name", "twice").returncode == 0
    again = run_cli("keys", "create", "--name", "twice")
    assert again.returncode == 2 and b"exists" in again.stderr
