from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def run_cli(data_dir: Path):
    """Run the real ``opinara`` command in a subprocess; returns the CompletedProcess."""

    def run(
        *args: str, stdin: bytes | None = None, timeout: float = 300, env_extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "OPINARA_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **(env_extra or {})}
        return subprocess.run(
            [sys.executable, "-m", "opinara", *args],
            input=stdin,
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )

    return run
