"""A small client for the Opinara REST API, used by the dashboard (and handy in scripts)."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The API could not be reached, or answered with an error; ``message`` says which, for people."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class OpinaraClient:
    def __init__(self, base_url: str, key: str | None, timeout: float = 30.0, transport: Any = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def _call(self, method: str, path: str, accept: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the Opinara API at {self.base_url} ({type(exc).__name__})") from exc
        if response.status_code >= 400 and response.status_code not in accept:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text[:200]
            hint = " (check OPINARA_API_KEY)" if response.status_code in (401, 403) else ""
            raise ApiError(f"the API answered {response.status_code}: {detail}{hint}", response.status_code)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def products(self) -> list[dict[str, Any]]:
        return self.get("/v1/products", top=5)["products"]

    def overview(self, by: str = "month") -> dict[str, Any]:
        return self.get("/v1/overview", by=by)

    def aspect_changes(self, start: str, end: str, min_mentions: int = 2) -> dict[str, Any]:
        return self.get("/v1/aspects/changes", start=start, end=end, min_mentions=min_mentions)

    def aspects(self, product: str, limit: int = 15) -> dict[str, Any]:
        return self.get(f"/v1/products/{product}/aspects", limit=limit, examples=0)

    def trends(self, product: str, aspect: str | None = None, by: str = "month") -> dict[str, Any]:
        return self.get(f"/v1/products/{product}/trends", aspect=aspect, by=by)

    def drivers(self, product: str) -> dict[str, Any]:
        return self.get(f"/v1/products/{product}/drivers", min_mentions=2)

    def reviews(self, **filters: Any) -> dict[str, Any]:
        return self.get("/v1/reviews", **filters)

    def analyze(self, text: str, **options: Any) -> dict[str, Any]:
        body = {"text": text, **{k: v for k, v in options.items() if v is not None}}
        return self._call("POST", "/v1/analyze", json=body).json()

    def submit_file(self, name: str, content: bytes, kind: str, **fields: str) -> dict[str, Any]:
        data = {"kind": kind, **{k: v for k, v in fields.items() if v}}
        return self._call("POST", "/v1/jobs", files={"file": (name, content)}, data=data).json()

    def jobs(self) -> list[dict[str, Any]]:
        return self.get("/v1/jobs", limit=50)["jobs"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.get(f"/v1/jobs/{job_id}")

    def job_results(self, job_id: str, max_items: int = 100_000) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: int | None = -1
        while cursor is not None and len(items) < max_items:
            page = self.get(f"/v1/jobs/{job_id}/results", cursor=cursor, limit=1000)
            items += page["items"]
            cursor = page["next_cursor"]
        return items

    def ready(self) -> dict[str, Any]:
        """Readiness with each component's check; a 503 (not ready) is an answer, not an error."""
        return self._call("GET", "/health/ready", accept=(503,)).json()

    def detailed(self) -> dict[str, Any]:
        return self.get("/health/detailed")

    def metrics(self) -> str:
        return self._call("GET", "/metrics").text
