"""A real Opinara API on a real socket, in a background thread, for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from opinara.access.keys import create_key
from opinara.api.app import create_app
from opinara.config import Settings
from opinara.platform import Platform


@dataclass
class RunningApi:
    url: str
    platform: Platform

    def key(
        self, name: str, scopes: str = "analyze,read", rate_limit: str = "100000/minute", daily_quota: int | None = None
    ) -> str:
        key, _ = create_key(self.platform.store, name, scopes, rate_limit, daily_quota)
        return key

    def client(self, key: str | None = None, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@contextmanager
def running_api(settings: Settings, preload: bool = True) -> Iterator[RunningApi]:
    platform = Platform(settings)
    platform.start(workers=settings.embedded_workers, preload=preload)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, platform), host="127.0.0.1", port=0, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningApi(f"http://127.0.0.1:{port}", platform)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        platform.stop()
        platform.store.engine.dispose()


@contextmanager
def running_demo_api(data_dir: Path, **settings: object) -> Iterator[RunningApi]:
    """A lexicon-tier API over the demo reviews: fast to start, real data to query."""
    from opinara.demo.seed import seed_reviews

    with running_api(Settings(data_dir=data_dir, backend="lexicon", aspect_extractor="rules", **settings)) as api:
        seed_reviews(api.platform.store, api.platform.analysis.load().analyzer)
        yield api
