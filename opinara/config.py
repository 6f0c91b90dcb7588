"""Opinara's settings: one object, read from ``OPINARA_*`` variables and an optional TOML file.

Everything else receives a :class:`Settings`; nothing else reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Backend = Literal["lexicon", "encoder", "transformer"]
# A list given in an environment variable as "a,b,c" (the validators split it; JSON is not expected).
CommaList = Annotated[list[str], NoDecode]
Runtime = Literal["torch", "onnx"]


def default_data_dir() -> Path:
    """A per-user data folder (XDG on Linux)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opinara"


class Settings(BaseSettings):
    """All of Opinara's settings, with their defaults."""

    model_config = SettingsConfigDict(env_prefix="OPINARA_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    config_file: Path | None = None
    database_url: str | None = None  # default: a SQLite file in data_dir

    # Analysis
    backend: Backend = "encoder"
    model: str | None = None
    runtime: Runtime = "onnx"
    encoder: str = "sentence-transformers/all-MiniLM-L6-v2"
    batch_size: int = Field(default=256, ge=1, le=4096)  # texts per analyze call; the encoder sorts them by length
    aspects: bool = True
    aspect_extractor: Literal["tagger", "rules"] = "tagger"
    redact_pii: bool = False
    pii: bool = False
    languages: CommaList = ["en", "es", "fr", "de", "it", "pt", "nl"]
    neutral_band: float = Field(default=0.05, ge=0.0, lt=1.0)
    max_text_chars: int = Field(default=100_000, ge=1)
    explanation_size: int = Field(default=5, ge=0, le=50)

    # Service (opinara serve / opinara worker)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    redis_url: str | None = None  # shared cache, rate limits and the job queue (RedisHuey) when set
    redis_prefix: str = Field(default="opinara", pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")  # namespaces Redis keys
    allowed_models: CommaList = []  # model ids or paths a request may name besides the defaults
    max_batch_texts: int = Field(default=100, ge=1, le=10_000)  # POST /v1/analyze/batch
    max_job_texts: int = Field(default=1_000_000, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # JSON bodies
    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)  # job file uploads, as sent (compressed)
    max_upload_decompressed_bytes: int = Field(default=4 * 1024**3, ge=1024)  # what a .gz upload may unpack to
    max_line_bytes: int = Field(default=1024 * 1024, ge=1024)  # a longer line of an upload is skipped, never held
    batch_max_size: int = Field(default=64, ge=1, le=4096)  # dynamic batching: texts per model call
    batch_max_wait_ms: float = Field(default=2.0, ge=0.0, le=1000.0)  # extra wait to fill a batch
    # Backpressure: requests waiting for the analyzer, in texts and characters; over either, 503 + Retry-After.
    batch_queue_max_texts: int = Field(default=4096, ge=1)
    batch_queue_max_chars: int = Field(default=8_000_000, ge=1000)
    api_threads: int = Field(default=32, ge=4, le=512)  # threads for blocking route work; the DB pool is sized to them
    cache_size: int = Field(default=10_000, ge=0)  # results kept in process; 0 turns the cache off
    cache_ttl_seconds: int = Field(default=3600, ge=1)
    default_rate_limit: str = "600/minute"  # for keys created without --rate-limit
    key_revocation_poll_seconds: float = Field(default=0.25, gt=0, le=60)  # a revoked key stops within this
    unknown_key_cache_seconds: float = Field(default=5.0, ge=0, le=600)  # a key found invalid is not looked up again
    failed_auth_limit: str = "30/minute"  # failed authentications per client address before 429
    auth_queue_max: int = Field(default=256, ge=1)  # key lookups waiting for the database; over it, 503
    max_queued_jobs_per_key: int = Field(default=20, ge=1)
    max_queued_upload_bytes_per_key: int = Field(default=4 * 1024**3, ge=1024)
    embedded_workers: int = Field(default=1, ge=0, le=64)  # job worker threads inside `opinara serve`
    job_chunk_size: int = Field(default=256, ge=1, le=10_000)  # texts per committed step of a job
    job_chunk_chars: int = Field(default=200_000, ge=1000)  # ... and at most this many characters
    job_lease_seconds: float = Field(default=60.0, gt=0)  # a running job silent this long is retried
    job_max_attempts: int = Field(default=3, ge=1)
    job_retention_days: float | None = Field(default=30.0, gt=0)  # finished jobs and their results; None keeps them
    text_retention_days: float | None = Field(default=None, gt=0)  # stored review texts; None keeps them
    maintenance_interval_seconds: float = Field(default=3600.0, gt=0)  # how often `serve` runs the maintenance pass
    # Author ids and cache keys are keyed hashes: the key lives outside the database (this setting, or a
    # file created with mode 0600 in data_dir on first use).
    secret_key: SecretStr | None = None

    # Source monitors (opinara monitors, /v1/monitors)
    monitor_allow_private: bool = False  # let connectors reach private, loopback and link-local addresses
    monitor_allowed_networks: CommaList = []  # CIDRs reachable even though internal (a proxy, a test server)
    monitor_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    monitor_max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    monitor_host_rate_limit: str = "120/minute"  # requests per service host, across all monitors
    monitor_max_items: int = Field(default=500, ge=1, le=100_000)  # per run
    monitor_max_pages: int = Field(default=10, ge=1, le=1000)  # per run
    monitor_failures_before_pause: int = Field(default=10, ge=1)  # errors in a row, then the monitor pauses
    monitor_max_backoff_seconds: float = Field(default=6 * 3600.0, gt=0)
    monitor_poll_seconds: float = Field(default=1.0, gt=0, le=60)  # how often workers look for due monitors
    monitor_run_lease_seconds: float = Field(default=300.0, gt=0)  # a run silent this long is taken over
    monitor_threads: int = Field(default=2, ge=0, le=64)  # monitor runs at once per worker process
    webhook_tolerance_seconds: int = Field(default=300, ge=1)  # signed webhook timestamps older than this fail

    # Metric series (POST /v1/metrics, /v1/series): raw points, then 1-minute and 1-hour rollups
    metrics_max_points: int = Field(default=50_000, ge=1)  # per request; the rest are refused with their index
    metrics_raw_retention_days: float = Field(default=7.0, gt=0)
    metrics_minute_retention_days: float = Field(default=35.0, gt=0)
    metrics_hour_retention_days: float = Field(default=400.0, gt=0)

    # Insights and alerts
    insight_cooldown_seconds: float = Field(default=6 * 3600.0, ge=0)  # a resolved insight reopens only after this
    insight_baseline_weeks: int = Field(default=8, ge=1, le=52)  # sentiment dips: this week against so many before
    insight_detect_seconds: float = Field(default=3600.0, gt=0)  # how often the workers look for sentiment dips
    # cost_daily{key}: texts a key had analyzed in a day x this price per 1,000 texts of the backend (any currency)
    cost_per_1000_texts: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"lexicon": 0.0, "encoder": 0.01, "transformer": 0.05}
    )
    alerts_enabled: bool = True  # workers evaluate rules, look for insights and send notifications
    alert_eval_seconds: float = Field(
        default=30.0, gt=0, le=3600
    )  # how often rules are evaluated (one worker at a time)
    alert_delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    alert_delivery_max_attempts: int = Field(default=8, ge=1)
    alert_delivery_backoff_seconds: float = Field(default=10.0, gt=0)
    alert_delivery_max_backoff_seconds: float = Field(default=1800.0, gt=0)
    dashboard_url: str | None = None  # links in notifications point here when set

    # Output: json when stderr is not a terminal, one readable line per record when it is (auto)
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Dashboard (opinara dashboard): it reads everything through the API
    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    dashboard_host: str = "127.0.0.1"  # another address needs dashboard_password
    dashboard_password: SecretStr | None = None

    @field_validator("allowed_models", "monitor_allowed_networks", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("OPINARA_CONFIG_FILE")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        """``database_url``, or the embedded SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'opinara.db'}"

    @property
    def cache_dir(self) -> Path:
        """Where exported models (ONNX) and other derived files live."""
        return self.data_dir / "cache"
