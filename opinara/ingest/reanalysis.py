"""Re-run the analysis of stored reviews and mentions (after a model change) and rebuild their aggregates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from opinara.analysis.pipeline import Analyzer
from opinara.ingest.quality import quality_flags, quality_score
from opinara.insights import aggregates, mention_aggregates
from opinara.insights.queries import find_product
from opinara.store.db import Store
from opinara.store.models import Review
from opinara.store.writes import store_analyses


def reanalyze(
    store: Store,
    analyzer: Analyzer,
    product: str | None = None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Analyze stored reviews again (all, or one product's), in batches of one transaction each;
    then rebuild the aggregates of the products touched. Returns the number of reviews."""
    with store.session() as session:
        product_id = find_product(session, product).id if product else None
        scope = [Review.product_id == product_id] if product_id is not None else []
        total = session.scalar(select(func.count()).select_from(Review).where(*scope)) or 0
    done, last_id, touched, monitors = 0, 0, set(), set()
    while True:
        with store.session() as session:
            rows = session.execute(
                select(Review.id, Review.product_id, Review.monitor_id, Review.text, Review.quality_flags)
                .where(Review.id > last_id, *scope)
                .order_by(Review.id)
                .limit(batch_size)
            ).all()
            if not rows:
                break
            results = analyzer.analyze([r.text for r in rows])
            store_analyses(
                session, [(r.id, r.product_id, res) for r, res in zip(rows, results, strict=True)], datetime.now(UTC)
            )
            for row, result in zip(rows, results, strict=True):
                flags = quality_flags(row.text, result, duplicate_text="duplicate_text" in (row.quality_flags or []))
                session.execute(
                    update(Review)
                    .where(Review.id == row.id)
                    .values(language=result.language.code, quality_flags=flags, quality_score=quality_score(flags))
                )
            touched.update(r.product_id for r in rows if r.product_id is not None)
            monitors.update(r.monitor_id for r in rows if r.monitor_id is not None)
            last_id = rows[-1].id
            done += len(rows)
        if progress:
            progress(done, total)
    with store.session() as session:
        if touched:
            aggregates.rebuild(session, sorted(touched))
        if monitors:
            mention_aggregates.rebuild(session, sorted(monitors))
    return done
