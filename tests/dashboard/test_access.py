"""Who may see the dashboard: where it listens, its password, and which keys it shares with visitors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from opinara.access.keys import hash_key, list_keys
from opinara.config import Settings
from opinara.dashboard.access import is_loopback
from opinara.demo.seed import DEMO_DASHBOARD_KEY_NAME, rotate_dashboard_key
from opinara.store.db import open_store
from opinara.store.models import ApiKey
from tests.dashboard.conftest import STORED
from tests.dashboard.pages import metrics, run, wait_for_streamlit

OPINARA = [sys.executable, "-m", "opinara"]
PASSWORD = "correct horse battery staple"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPINARA_")}
    return {**env, "OPINARA_API_URL": "http://127.0.0.1:1", **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on ``port`` (Linux's /proc/net/tcp; state 0A is LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("dashboard.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_only_loopback_addresses_and_localhost_count_as_this_machine(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--host", "0.0.0.0"], {}), ([], {"OPINARA_DASHBOARD_HOST": "dashboard.example.com"})],
)
def test_a_dashboard_reachable_from_elsewhere_without_a_password_is_refused(args, env):
    done = subprocess.run(
        [*OPINARA, "dashboard", *args], env=_env(**env), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("opinara: error: the dashboard would listen on")
    assert "OPINARA_DASHBOARD_PASSWORD" in lines[0]


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from /proc/net/tcp")
def test_the_dashboard_listens_on_loopback_by_default(tmp_path):
    port = _free_port()
    log = (tmp_path / "dashboard.log").open("wb")
    ui = subprocess.Popen(  # its own session, so stopping it stops Streamlit, its child, too
        [*OPINARA, "dashboard", "--port", str(port)],
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_streamlit(port, ui, tmp_path / "dashboard.log")
        assert _listening_addresses(port) == {"127.0.0.1"}
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=20)


def test_with_a_password_every_page_asks_for_it_first(monkeypatch, dashboard_env):
    monkeypatch.setenv("OPINARA_DASHBOARD_PASSWORD", PASSWORD)
    for page in ("overview", "product", "reviews", "analyze", "jobs", "system"):
        app = run(page)
        assert not app.metric and not app.get("plotly_chart") and not app.dataframe, page
        assert [t.label for t in app.text_input] == ["Password"], page
        assert [e.type for e in app.main.children.values()] == ["title", "form"], (
            "the page's title and the form, nothing else"
        )


def test_a_wrong_password_shows_an_error_and_nothing_else(monkeypatch, dashboard_env):
    monkeypatch.setenv("OPINARA_DASHBOARD_PASSWORD", PASSWORD)
    app = run("overview")
    app.text_input[0].input("correct horse")
    app.button[0].click().run()
    assert [e.value for e in app.error] == ["Wrong password."]
    assert not app.metric and not app.get("plotly_chart")
    assert PASSWORD not in str(app.main)


def test_the_right_password_opens_the_pages_for_the_session(monkeypatch, dashboard_env):
    monkeypatch.setenv("OPINARA_DASHBOARD_PASSWORD", PASSWORD)
    app = run("overview")
    app.text_input[0].input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception and not app.error
    assert metrics(app)["Reviews"] == str(STORED)
    app.run()  # a later run of the same session is not asked again
    assert metrics(app)["Reviews"] == str(STORED) and not app.text_input


def test_an_admin_key_without_a_password_is_refused_and_nothing_is_shown(monkeypatch, dashboard_env, admin_key):
    monkeypatch.setenv("OPINARA_API_KEY", admin_key)
    for page in ("overview", "product", "system"):
        app = run(page)
        assert not app.metric and not app.get("plotly_chart") and not app.dataframe, page
        [refusal] = [e.value for e in app.error]
        assert "admin scope" in refusal and "OPINARA_DASHBOARD_PASSWORD" in refusal, page


def test_an_admin_key_behind_a_password_is_let_through(monkeypatch, dashboard_env, admin_key):
    monkeypatch.setenv("OPINARA_API_KEY", admin_key)
    monkeypatch.setenv("OPINARA_DASHBOARD_PASSWORD", PASSWORD)
    app = run("overview")
    app.text_input[0].input(PASSWORD)
    app.button[0].click().run()
    assert metrics(app)["Reviews"] == str(STORED)


def test_the_demo_dashboard_key_has_no_admin(demo_api, demo_key):
    with demo_api.client(demo_key) as client:
        me = client.get("/v1/keys/me")
        assert me.status_code == 200
        assert me.json()["name"] == DEMO_DASHBOARD_KEY_NAME and me.json()["scopes"] == [
            "analyze",
            "read",
            "ingest",
            "monitor",
            "alerts",
        ]
        assert client.get("/health/detailed").status_code == 403


def test_rotating_the_demo_dashboard_key_revokes_the_previous_one(tmp_path):
    store = open_store(Settings(data_dir=tmp_path))
    try:
        first, second = rotate_dashboard_key(store), rotate_dashboard_key(store)
        assert first != second
        keys = list_keys(store)
        assert [(k.name, k.revoked_at is None) for k in keys] == [
            (f"{DEMO_DASHBOARD_KEY_NAME}-{keys[0].id}", False),
            (DEMO_DASHBOARD_KEY_NAME, True),
        ]
        assert all(k.scopes == ["analyze", "read", "ingest", "monitor", "alerts"] for k in keys)
        with store.session() as session:
            assert set(session.scalars(select(ApiKey.key_hash))) == {hash_key(first), hash_key(second)}
    finally:
        store.engine.dispose()
