"""A running dashboard in headless Chromium: every page renders with no Streamlit exception.

PNGs of every page are saved to ``test-artifacts/dashboard`` (``OPINARA_TEST_ARTIFACTS`` to move it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from opinara.cli.dashboard import dashboard_command
from tests.conftest import IN_CI
from tests.dashboard.pages import wait_for_streamlit

ARTIFACTS = Path(os.environ.get("OPINARA_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
PAGES = {
    "overview": "Overview",
    "product": "Product",
    "reviews": "Reviews",
    "analyze": "Analyze",
    "monitors": "Monitors",
    "insights": "Insights",
    "hosts": "Hosts",
    "alerts": "Alerts",
    "jobs": "Jobs",
    "system": "System",
}
DEFAULT_PAGE = "overview"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--window-size=1400,1800",
    "--virtual-time-budget=20000",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "chromium not installed (Debian package chromium; `make test` installs it when it can)"
        if IN_CI:
            pytest.fail(message + " (CI=true: the screenshot test must run)")
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _browser(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_page_renders_without_an_exception(demo_api, demo_key, tmp_path):
    binary = chromium()
    port = _free_port()
    env = {**os.environ, "OPINARA_API_URL": demo_api.url, "OPINARA_API_KEY": demo_key}
    log = (tmp_path / "streamlit.log").open("wb")
    ui = subprocess.Popen(dashboard_command(port), env=env, stdout=log, stderr=subprocess.STDOUT)
    folder = ARTIFACTS / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        wait_for_streamlit(port, ui, tmp_path / "streamlit.log")
        for slug, title in PAGES.items():
            url = f"http://127.0.0.1:{port}/{'' if slug == DEFAULT_PAGE else slug}"  # the default page lives at /
            for _attempt in range(6):  # the first load of a page runs its script; wait until it has drawn
                dom = _browser(binary, tmp_path / f"profile-{slug}", "--dump-dom", url).stdout
                if f'<h1 id="{slug}"' in dom and "stSkeleton" not in dom:
                    break
                time.sleep(2)
            assert f'<h1 id="{slug}"' in dom, f"{title} did not render"
            assert 'data-testid="stException"' not in dom, f"{title} raised an exception"
            assert 'data-testid="stAlertContentError"' not in dom, f"{title} shows an error"
            shot = folder / f"{slug}.png"
            shot.unlink(missing_ok=True)
            _browser(binary, tmp_path / f"profile-{slug}", f"--screenshot={shot}", url)
            assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {title}"
    finally:
        ui.terminate()
        ui.wait(timeout=20)
