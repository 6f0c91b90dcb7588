"""A small client for the Opinara REST API, used by the dashboard (and handy in scripts).

Reads come back as the API's own response models, so a field the API renames or drops fails here,
in one place, with a readable message, rather than as a KeyError somewhere in a page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from opinara.access.keys import KeyInfo
from opinara.alerts.service import AlertHistory, AlertInfo, ChannelInfo, RuleInfo, SilenceInfo
from opinara.insights.anomalies import InsightInfo, InsightPage
from opinara.insights.mentions import Mention, MentionPage, MonitorTrends, ShareOfVoice
from opinara.insights.models import (
    AspectChanges,
    Drivers,
    Overview,
    ProductAspects,
    ProductInsight,
    ProductPage,
    ReviewItem,
    ReviewPage,
    Trends,
)
from opinara.jobs.models import JobInfo, JobList
from opinara.monitors.models import MonitorInfo, MonitorList, RunPage
from opinara.signals.service import SeriesData, SeriesInfo, SeriesList

M = TypeVar("M", bound=BaseModel)
MAX_PRODUCTS = 5_000  # products listed by the dashboard; beyond this, pages say the list is cut
PRODUCTS_PAGE = 500  # the API's largest page
MAX_SERIES = 10_000  # series listed by the dashboard (e.g. every host's)
SERIES_PAGE = 1000  # the API's largest page


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

    def _read(self, model: type[M], path: str, **params: Any) -> M:
        return self._parse(model, path, self.get(path, **params))

    @staticmethod
    def _parse(model: type[M], path: str, body: Any) -> M:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            where = ".".join(map(str, exc.errors()[0]["loc"])) or "the top"
            raise ApiError(
                f"the API's answer to {path} is not the {model.__name__} this dashboard expects "
                f"({exc.error_count()} problem(s), the first at {where}); are the API and the dashboard "
                "the same version?"
            ) from exc

    def _read_list(self, model: type[M], path: str, **params: Any) -> list[M]:
        body = self.get(path, **params)
        try:
            return TypeAdapter(list[model]).validate_python(body)
        except ValidationError as exc:
            where = ".".join(map(str, exc.errors()[0]["loc"])) or "the top"
            raise ApiError(
                f"the API's answer to {path} is not the list of {model.__name__} this dashboard expects "
                f"({exc.error_count()} problem(s), the first at {where}); are the API and the dashboard "
                "the same version?"
            ) from exc

    def key(self) -> KeyInfo:
        """The record of the key this client calls with: its name and scopes."""
        return self._read(KeyInfo, "/v1/keys/me")

    def product_page(self, cursor: int | None = None, limit: int = PRODUCTS_PAGE, top: int = 5) -> ProductPage:
        return self._read(ProductPage, "/v1/products", top=top, cursor=cursor, limit=limit)

    def products(self, max_products: int = MAX_PRODUCTS) -> list[ProductInsight]:
        """Products page by page, at most ``max_products`` of them."""
        products: list[ProductInsight] = []
        cursor: int | None = None
        while len(products) < max_products:
            page = self.product_page(cursor, limit=min(PRODUCTS_PAGE, max_products - len(products)))
            products += page.products
            cursor = page.next_cursor
            if cursor is None:
                break
        return products

    def overview(self, by: str = "month") -> Overview:
        return self._read(Overview, "/v1/overview", by=by)

    def aspect_changes(self, start: str, end: str, min_mentions: int = 2) -> AspectChanges:
        return self._read(AspectChanges, "/v1/aspects/changes", start=start, end=end, min_mentions=min_mentions)

    def aspects(self, product: str, limit: int = 15) -> ProductAspects:
        return self._read(ProductAspects, f"/v1/products/{product}/aspects", limit=limit, examples=0)

    def trends(self, product: str, aspect: str | None = None, by: str = "month") -> Trends:
        return self._read(Trends, f"/v1/products/{product}/trends", aspect=aspect, by=by)

    def drivers(self, product: str) -> Drivers:
        return self._read(Drivers, f"/v1/products/{product}/drivers", min_mentions=2)

    def reviews(self, **filters: Any) -> ReviewPage:
        return self._read(ReviewPage, "/v1/reviews", **filters)

    def analyze(self, text: str, **options: Any) -> dict[str, Any]:
        body = {"text": text, **{k: v for k, v in options.items() if v is not None}}
        return self._call("POST", "/v1/analyze", json=body).json()

    def submit_file(self, name: str, content: bytes, kind: str, **fields: str) -> JobInfo:
        data = {"kind": kind, **{k: v for k, v in fields.items() if v}}
        return self._parse(
            JobInfo, "/v1/jobs", self._call("POST", "/v1/jobs", files={"file": (name, content)}, data=data).json()
        )

    def jobs(self, limit: int = 50) -> list[JobInfo]:
        return self._read(JobList, "/v1/jobs", limit=limit).jobs

    def job(self, job_id: str) -> JobInfo:
        return self._read(JobInfo, f"/v1/jobs/{job_id}")

    def job_results(self, job_id: str, max_items: int = 100_000) -> list[dict[str, Any]]:
        """A job's result items as the API wrote them (JSON), for download: not reshaped by a model."""
        items: list[dict[str, Any]] = []
        cursor: int | None = None  # the first page: the API's default cursor
        while len(items) < max_items:
            page = self.get(f"/v1/jobs/{job_id}/results", cursor=cursor, limit=1000)
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        return items

    def monitors(self) -> list[MonitorInfo]:
        return self._read(MonitorList, "/v1/monitors").monitors

    def monitor_runs(self, monitor: int | str, cursor: int | None = None, limit: int = 50) -> RunPage:
        return self._read(RunPage, f"/v1/monitors/{monitor}/runs", cursor=cursor, limit=limit)

    def monitor_trends(self, monitor: int | str, by: str = "day") -> MonitorTrends:
        return self._read(MonitorTrends, f"/v1/monitors/{monitor}/trends", by=by)

    def mentions(self, **filters: Any) -> MentionPage:
        return self._read(MentionPage, "/v1/mentions", **filters)

    def share_of_voice(self, tags: list[str], by: str = "day") -> ShareOfVoice:
        return self._read(ShareOfVoice, "/v1/share-of-voice", tags=",".join(tags), by=by)

    def pause_monitor(self, monitor: int | str, reason: str) -> MonitorInfo:
        """Stops its runs until resumed; needs the ``monitor`` scope (an ApiError with status 403 without)."""
        return self._act(f"/v1/monitors/{monitor}/pause", json={"reason": reason})

    def resume_monitor(self, monitor: int | str) -> MonitorInfo:
        return self._act(f"/v1/monitors/{monitor}/resume")

    def run_monitor(self, monitor: int | str) -> MonitorInfo:
        """Makes it due now; the next free monitor worker runs it."""
        return self._act(f"/v1/monitors/{monitor}/run")

    def _act(self, path: str, **kwargs: Any) -> MonitorInfo:
        return self._parse(MonitorInfo, path, self._call("POST", path, **kwargs).json())

    def insights(
        self,
        status: str | None = None,
        type: str | None = None,
        severity: str | None = None,
        entity_kind: str | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> InsightPage:
        """Insights newest first; ``severity`` is the least severity listed."""
        return self._read(
            InsightPage,
            "/v1/insights",
            status=status,
            type=type,
            severity=severity,
            entity_kind=entity_kind,
            cursor=cursor,
            limit=limit,
        )

    def all_insights(self, max_insights: int = 2000, **filters: Any) -> list[InsightInfo]:
        """Insights page by page, newest first, at most ``max_insights`` of them."""
        found: list[InsightInfo] = []
        cursor: int | None = None
        while len(found) < max_insights:
            page = self.insights(**filters, cursor=cursor, limit=min(500, max_insights - len(found)))
            found += page.insights
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def insight(self, insight_id: int) -> InsightInfo:
        return self._read(InsightInfo, f"/v1/insights/{insight_id}")

    def acknowledge_insight(self, insight_id: int) -> InsightInfo:
        """Someone is on it; needs the ``alerts`` scope (an ApiError with status 403 without)."""
        path = f"/v1/insights/{insight_id}/acknowledge"
        return self._parse(InsightInfo, path, self._call("POST", path).json())

    def resolve_insight(self, insight_id: int) -> InsightInfo:
        """Resolved by hand; needs the ``alerts`` scope."""
        path = f"/v1/insights/{insight_id}/resolve"
        return self._parse(InsightInfo, path, self._call("POST", path).json())

    def alerts(self) -> list[AlertInfo]:
        """Every rule subject that is not inactive: firing first, then pending, no data, error."""
        return self._read_list(AlertInfo, "/v1/alerts")

    def alert_history(self, rule: str | None = None, cursor: int | None = None, limit: int = 50) -> AlertHistory:
        """Transitions (fired, resolved, no data, error, recovered), newest first."""
        return self._read(AlertHistory, "/v1/alerts/history", rule=rule, cursor=cursor, limit=limit)

    def alert_rules(self) -> list[RuleInfo]:
        return self._read_list(RuleInfo, "/v1/alerts/rules")

    def set_rule_enabled(self, rule: int | str, enabled: bool) -> RuleInfo:
        """Enable or disable a rule; needs the ``alerts`` scope (an ApiError with status 403 without)."""
        path = f"/v1/alerts/rules/{rule}"
        return self._parse(RuleInfo, path, self._call("PATCH", path, json={"enabled": enabled}).json())

    def silences(self) -> list[SilenceInfo]:
        """Silences, newest first, active and ended."""
        return self._read_list(SilenceInfo, "/v1/silences")

    def create_silence(self, matchers: list[str], duration_seconds: int, comment: str = "") -> SilenceInfo:
        """Silence the alerts whose labels match every matcher (``alertname="queue-depth"``) from now on
        for ``duration_seconds``; needs the ``alerts`` scope."""
        body = {"matchers": matchers, "duration_seconds": duration_seconds, "comment": comment}
        return self._parse(SilenceInfo, "/v1/silences", self._call("POST", "/v1/silences", json=body).json())

    def end_silence(self, silence_id: int) -> SilenceInfo:
        """End a silence now (it stays listed); needs the ``alerts`` scope."""
        path = f"/v1/silences/{silence_id}"
        return self._parse(SilenceInfo, path, self._call("DELETE", path).json())

    def channels(self) -> list[ChannelInfo]:
        """Notification channels, their secrets masked; needs the ``alerts`` scope."""
        return self._read_list(ChannelInfo, "/v1/channels")

    def reviews_by_id(self, ids: Iterable[int], product: str | None = None) -> list[ReviewItem]:
        """The reviews with these ids that exist (of ``product``, when given), in the order asked.

        The API lists reviews newest id first below a cursor, so the first review under ``id + 1`` is
        ``id`` itself when it exists: one small call per id (an insight's examples are a handful)."""
        found: list[ReviewItem] = []
        for review_id in dict.fromkeys(ids):
            page = self.reviews(product=product, cursor=review_id + 1, limit=1)
            found += [r for r in page.reviews if r.id == review_id]
        return found

    def mentions_by_id(self, ids: Iterable[int], **filters: Any) -> list[Mention]:
        """The mentions with these ids (filtered by ``monitor`` or ``tag``, when given), as reviews_by_id."""
        found: list[Mention] = []
        for mention_id in dict.fromkeys(ids):
            page = self.mentions(**filters, cursor=mention_id + 1, limit=1)
            found += [m for m in page.mentions if m.id == mention_id]
        return found

    def series_list(self, prefix: str | None = None, max_series: int = MAX_SERIES) -> list[SeriesInfo]:
        """The stored series whose name starts with ``prefix``, page by page, at most ``max_series``."""
        found: list[SeriesInfo] = []
        cursor: int | None = None
        while len(found) < max_series:
            limit = min(SERIES_PAGE, max_series - len(found))
            page = self._read(SeriesList, "/v1/series", prefix=prefix, cursor=cursor, limit=limit)
            found += page.series
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    def series(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        step: str = "auto",
    ) -> SeriesData:
        """A series' points in ``[start, end)`` (the API's default: the day before now) at ``step``:
        ``auto``, ``raw``, ``1m`` or ``1h``. A series that does not exist is an ApiError with status 404."""
        return self._read(
            SeriesData,
            f"/v1/series/{name}",
            labels=",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or None,
            **{"from": start.isoformat() if start else None, "to": end.isoformat() if end else None},
            step=step,
        )

    def ready(self) -> dict[str, Any]:
        """Readiness with each component's check; a 503 (not ready) is an answer, not an error."""
        return self._call("GET", "/health/ready", accept=(503,)).json()

    def detailed(self) -> dict[str, Any]:
        return self.get("/health/detailed")

    def metrics(self) -> str:
        return self._call("GET", "/metrics").text
