"""The database schema. Migrations in ``opinara/store/migrations`` create it; never ``create_all``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import text


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_products_source_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))  # the asin / parent_asin / the file's product id
    title: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(256))


class ProductVariant(Base):
    """An id the source uses for a product (an ASIN): several variants (colours, sizes) form one product family.

    The family is the ``products`` row that insights are counted for; every id a source gave it, its
    own included, is a variant, so a review filed under any of them finds the family."""

    __tablename__ = "product_variants"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_variants_source_external"),
        Index("ix_variants_product", "product_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))


class ProductReviewCount(Base):
    """Stored reviews per product, how many count in the aggregates, and why the others do not.

    ``reason`` is ``stored`` (every review), ``counted`` (quality at least ``AGGREGATE_MIN_QUALITY``)
    or a quality flag, counted over the reviews left out."""

    __tablename__ = "product_review_counts"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    reviews: Mapped[int] = mapped_column(BigInteger, default=0)


class Review(Base):
    """A stored text with its source: a product review (``kind`` review, with a product) or a mention a
    monitor found (``kind`` mention, with its monitor and URL). Both go through one ingest path."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("source", "review_key", name="uq_reviews_source_key"),
        Index("ix_reviews_product_day", "product_id", "day"),
        Index("ix_reviews_text_hash", "text_hash"),
        Index("ix_reviews_monitor_id", "monitor_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="review")  # review | mention
    source: Mapped[str] = mapped_column(String(64))
    review_key: Mapped[str] = mapped_column(String(128))  # the source's id, or a keyed hash of author, time and text
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))  # None for mentions
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    url: Mapped[str | None] = mapped_column(Text)
    author_hash: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[float | None] = mapped_column(Float)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    day: Mapped[date] = mapped_column(Date)  # created_at's UTC date, else ingested_at's: the aggregates' day
    language: Mapped[str | None] = mapped_column(String(8))
    helpful_votes: Mapped[int | None] = mapped_column(Integer)
    verified_purchase: Mapped[bool | None] = mapped_column(Boolean)
    quality_score: Mapped[float] = mapped_column(Float, default=1.0)
    quality_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))

    product: Mapped[Product] = relationship()


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("review_id", name="uq_analyses_review"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(128))
    # The registered components that produced it (sentiment.encoder.v1, aspects.tagger.v1): with the model
    # version, a stored result keeps its meaning after an upgrade.
    component: Mapped[str | None] = mapped_column(String(64))
    aspects_component: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(16))
    positive: Mapped[float | None] = mapped_column(Float)
    negative: Mapped[float | None] = mapped_column(Float)
    neutral: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    analyzed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AspectMention(Base):
    __tablename__ = "aspect_mentions"
    __table_args__ = (
        Index("ix_mentions_review", "review_id"),
        Index("ix_mentions_product_group", "product_id", "aspect_group"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))  # None for mentions
    term: Mapped[str] = mapped_column(String(256))
    aspect_group: Mapped[str] = mapped_column(String(256))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    polarity: Mapped[str] = mapped_column(String(16))
    opinions: Mapped[list[str]] = mapped_column(JSON, default=list)


class AspectDaily(Base):
    """Aggregates: product x aspect group x day, updated as reviews are stored."""

    __tablename__ = "aspect_daily"
    __table_args__ = (UniqueConstraint("product_id", "aspect_group", "day", name="uq_aspect_daily"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    aspect_group: Mapped[str] = mapped_column(String(256))  # "" holds the product's review-level totals
    day: Mapped[date] = mapped_column(Date)
    mentions: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    mixed: Mapped[int] = mapped_column(Integer, default=0)
    # Ratings in hundredths of a star, summed as integers so incremental and rebuilt sums are identical.
    rating_centi_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)


class IngestRun(Base):
    __tablename__ = "ingest_runs"
    __table_args__ = (Index("ix_runs_input", "input_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    input_key: Mapped[str] = mapped_column(String(64))  # hash of the file's path, size and first bytes
    input_path: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    checkpoint_line: Mapped[int] = mapped_column(BigInteger, default=0)
    read: Mapped[int] = mapped_column(Integer, default=0)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    by_language: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class RejectedRecord(Base):
    __tablename__ = "rejected_records"
    __table_args__ = (UniqueConstraint("run_id", "line", name="uq_rejected_run_line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    raw_excerpt: Mapped[str] = mapped_column(Text)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("name", name="uq_api_keys_name"), Index("ix_api_keys_hash", "key_hash"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell keys apart in lists
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    rate_limit: Mapped[str] = mapped_column(String(64))  # a `limits` expression: "600/minute"
    daily_quota: Mapped[int | None] = mapped_column(Integer)  # texts per UTC day
    redact_pii: Mapped[bool] = mapped_column(Boolean, default=False)  # every request of this key is redacted
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class KeyUsage(Base):
    """Requests, texts and characters per key and UTC day."""

    __tablename__ = "key_usage"
    __table_args__ = (UniqueConstraint("key_id", "day", name="uq_key_usage_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    texts: Mapped[int] = mapped_column(BigInteger, default=0)
    characters: Mapped[int] = mapped_column(BigInteger, default=0)


class Job(Base):
    """An async job: analyze texts, or ingest a review file. The row is the truth; the queue only wakes workers."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # analyze, ingest
    status: Mapped[str] = mapped_column(String(16))  # queued, running, succeeded, failed, cancelled
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_path: Mapped[str | None] = mapped_column(Text)  # the uploaded review file of an ingest job
    total: Mapped[int] = mapped_column(BigInteger, default=0)  # texts, or bytes for an ingest job
    processed: Mapped[int] = mapped_column(BigInteger, default=0)
    succeeded: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class JobItem(Base):
    """One text of an analyze job and, once done, its result (or error)."""

    __tablename__ = "job_items"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str | None] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    error: Mapped[str | None] = mapped_column(Text)


class Monitor(Base):
    """A source watched on a schedule: a connector with its parameters, an interval, tags, a state.

    The row is the truth about its schedule: a worker claims a due monitor with one conditional UPDATE
    (``monitors.service.claim_due``), so a monitor never runs twice at once."""

    __tablename__ = "monitors"
    __table_args__ = (
        UniqueConstraint("name", name="uq_monitors_name"),
        Index("ix_monitors_due", "state", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    connector: Mapped[str] = mapped_column(String(64))  # connector.reddit.v1
    params: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # without secrets
    secrets: Mapped[str | None] = mapped_column(Text)  # Fernet token of the secret params (or their references)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="active")  # active, paused
    paused_reason: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)  # errors in a row
    worker: Mapped[str | None] = mapped_column(String(128))  # the worker running it now
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # while a run is in progress
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MonitorRun(Base):
    """One execution of a monitor: what it fetched, stored and skipped, and how it ended."""

    __tablename__ = "monitor_runs"
    __table_args__ = (Index("ix_monitor_runs_monitor", "monitor_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # running, success, partial, failed, rate_limited, skipped
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    http_calls: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    cursor_before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cursor_after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    worker: Mapped[str | None] = mapped_column(String(128))


class MonitorDaily(Base):
    """Aggregates: monitor x aspect group x day of its mentions, updated as mentions are stored.

    ``aspect_group`` "" holds the mention-level totals. Tag figures are sums over the monitors that
    carry the tag (a monitor's tags are its own, so they are not repeated here)."""

    __tablename__ = "monitor_daily"
    __table_args__ = (UniqueConstraint("monitor_id", "aspect_group", "day", name="uq_monitor_daily"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    aspect_group: Mapped[str] = mapped_column(String(256))
    day: Mapped[date] = mapped_column(Date)
    mentions: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    mixed: Mapped[int] = mapped_column(Integer, default=0)


class MetricSeries(Base):
    """One series: a name and its labels (``host_cpu_usage{host="web-1"}``), unique together.

    ``labels_key`` is the labels in canonical form (sorted ``k=v`` pairs, hashed when long), so a series is
    found by equality on an indexed column on SQLite and PostgreSQL alike."""

    __tablename__ = "metric_series"
    __table_args__ = (UniqueConstraint("name", "labels_key", name="uq_metric_series"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    labels_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MetricPoint(Base):
    """A raw point; one per series and instant (a point sent again is a duplicate, not a second point).
    Kept for ``metrics_raw_retention_days``."""

    __tablename__ = "metric_points"

    series_id: Mapped[int] = mapped_column(ForeignKey("metric_series.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class MetricRollup(Base):
    """Count, sum, min and max of a series' points per bucket (``step`` 60 or 3600 seconds), kept longer than
    raw points. Invariant: each equals the same figures over the raw points of its bucket, as they were
    stored (points are added once, so the rollup is updated by the points a write actually inserted)."""

    __tablename__ = "metric_rollups"

    series_id: Mapped[int] = mapped_column(ForeignKey("metric_series.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)


class Insight(Base):
    """Something worth a person's attention: a type, a severity, the entity it is about, a message and
    its evidence. At most one open (or acknowledged) insight per type and entity (``uq_insights_open``):
    while the condition lasts the insight is updated, not repeated; once resolved, the same type and
    entity may open again only after its cooldown."""

    __tablename__ = "insights"
    __table_args__ = (
        Index(
            "uq_insights_open",
            "type",
            "entity_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index("ix_insights_recent", "status", "last_seen"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))  # volume_spike, sentiment_dip, ...
    severity: Mapped[str] = mapped_column(String(16))  # info, warning, critical
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, acknowledged, resolved
    entity_kind: Mapped[str] = mapped_column(String(32))  # product_aspect, product, monitor, tag, host, series
    entity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    entity_key: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detector: Mapped[str] = mapped_column(String(64))  # detector.proportion.v1
    score: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(128))  # a key's name, or "condition ended"


class AlertRule(Base):
    """A rule the evaluator applies (``opinara.alerts.rules.RuleSpec`` as JSON); the shipped defaults are
    rows too (``builtin``), so they can be changed or disabled like any other."""

    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("name", name="uq_alert_rules_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AlertState(Base):
    """A rule's state for one subject: a series' label set, or an insight's type and entity."""

    __tablename__ = "alert_states"

    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)  # RuleState
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AlertEvent(Base):
    """The history: every transition a rule made for a subject (fired, resolved, no_data, error, recovered)."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_rule", "rule_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    silenced_by: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class AlertChannel(Base):
    """Where notifications go: a channel component (``channel.slack.v1``) with its settings; its secrets
    are sealed with the deployment secret. Routing: the severities and label matchers it takes."""

    __tablename__ = "alert_channels"
    __table_args__ = (UniqueConstraint("name", name="uq_alert_channels_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    min_severity: Mapped[str] = mapped_column(String(16), default="warning")
    matchers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    repeat_seconds: Mapped[int] = mapped_column(Integer, default=4 * 3600)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Silence(Base):
    """Stops notifications (not evaluation) for alerts whose labels match, between two times."""

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matchers: Mapped[list[Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")


class Delivery(Base):
    """The outbox: one notification batch for one channel, sent by whichever worker claims it, retried
    with backoff until it is sent or given up (``dead``). ``dedupe`` makes enqueueing idempotent."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("dedupe", name="uq_deliveries_dedupe"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"))
    dedupe: Mapped[str] = mapped_column(String(128))
    notifications: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)


class Lease(Base):
    """A named lease that one process holds at a time (the alert evaluator), taken with a conditional
    UPDATE when free or expired."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
