"""Run one dashboard page headless with Streamlit's AppTest."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
from streamlit.testing.v1 import AppTest

import opinara.dashboard

PAGES = Path(opinara.dashboard.__file__).parent / "views"


def run(page: str, query: dict[str, str] | None = None, **state: object) -> AppTest:
    """The page after its first run, opened with ``query`` in its link and ``state`` in the session;
    it must not raise."""
    app = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
    app.query_params.update(query or {})
    for key, value in state.items():
        app.session_state[key] = value
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def captions(app: AppTest) -> str:
    return "\n".join(c.value for c in app.caption)


def wait_for_streamlit(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Until the Streamlit server on ``port`` answers its health check; fails with its log if it dies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline and process.poll() is None, log.read_text()
        time.sleep(0.3)
