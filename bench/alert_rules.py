"""How long one evaluation of 1,000 alert rules takes, on SQLite and PostgreSQL.

Each rule watches one of ``--series`` host series (``host_cpu_usage{host=...}``, an hour of one-minute
points each) with its own threshold, so a pass reads every rule's window and runs the state machine per
subject; about a tenth of the rules fire. Printed next to the peer measured in the same run on the same
database: reading the same windows with the same queries and nothing else (the floor of any evaluator
that reads its data from the store).

    .venv/bin/python bench/alert_rules.py
    .venv/bin/python bench/alert_rules.py --rules 5000 --series 200
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import header
from sqlalchemy import create_engine, select, text

from opinara.alerts.evaluate import AlertEvaluator
from opinara.alerts.rules import RuleSpec
from opinara.alerts.service import AlertService
from opinara.config import Settings
from opinara.signals.points import Sample, SeriesKey
from opinara.signals.service import SeriesService
from opinara.store.db import Store, open_store
from opinara.store.models import MetricPoint, MetricSeries

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def prepare(settings: Settings, rules: int, series: int) -> Store:
    store = open_store(settings)
    rng = random.Random(7)
    samples = [
        Sample(SeriesKey.of("host_cpu_usage", {"host": f"web-{h}"}), NOW - timedelta(minutes=m), 50 + rng.gauss(0, 10))
        for h in range(series)
        for m in range(60)
    ]
    SeriesService(settings, store).write(samples)
    service = AlertService(settings, store)
    for i in range(rules):
        service.create_rule(
            RuleSpec(
                kind="series",
                name=f"cpu-{i}",
                series="host_cpu_usage",
                labels={"host": f"web-{i % series}"},
                aggregation="avg",
                window_seconds=300,
                op=">",
                threshold=48.0 + (i % 10) * 2.5,
                for_seconds=0,
            )
        )
    return store


def read_only(store: Store, rules: int, series: int) -> float:
    """The peer: the same per-rule reads (series lookup, the window's points, the last point)."""
    started = time.perf_counter()
    with store.session() as session:
        for i in range(rules):
            ids = session.execute(
                select(MetricSeries.id, MetricSeries.labels).where(MetricSeries.name == "host_cpu_usage")
            )
            wanted = [sid for sid, labels in ids if labels.get("host") == f"web-{i % series}"]
            for sid in wanted:
                session.execute(
                    select(MetricPoint.at, MetricPoint.value).where(
                        MetricPoint.series_id == sid,
                        MetricPoint.at > NOW - timedelta(seconds=300),
                        MetricPoint.at <= NOW,
                    )
                ).all()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--series", type=int, default=100)
    args = parser.parse_args()
    header(f"alert rules: one evaluation of {args.rules:,} rules over {args.series} series (an hour of points each)")
    for name in ("SQLite", "PostgreSQL"):
        with tempfile.TemporaryDirectory(prefix="opinara-rules-bench-") as folder:
            url, schema, admin = None, None, None
            if name == "PostgreSQL":
                schema = f"opinara_bench_{uuid.uuid4().hex[:8]}"
                admin = create_engine(POSTGRES)
                with admin.begin() as connection:
                    connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
            try:
                settings = Settings(data_dir=Path(folder), database_url=url)
                store = prepare(settings, args.rules, args.series)
                evaluator = AlertEvaluator(settings, store)
                started = time.perf_counter()
                first = evaluator.evaluate(NOW)
                cold = time.perf_counter() - started
                started = time.perf_counter()
                evaluator.evaluate(NOW + timedelta(seconds=30))
                warm = time.perf_counter() - started
                peer = read_only(store, args.rules, args.series)
                store.engine.dispose()
            finally:
                if admin is not None:
                    with admin.begin() as connection:
                        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    admin.dispose()
        print(f"{name}:")
        print(f"  reads only (peer)                       {peer:7.2f} s")
        print(f"  first evaluation ({first.events} transitions)      {cold:7.2f} s   {cold / peer:5.2f}x the peer")
        print(f"  next evaluation (no transitions)        {warm:7.2f} s   {warm / peer:5.2f}x the peer")


if __name__ == "__main__":
    main()
