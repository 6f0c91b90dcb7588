"""What ``opinara analyze`` runs per batch, in this process or in each worker process."""

from __future__ import annotations

import json

from opinara.analysis.pipeline import Analyzer
from opinara.config import Settings
from opinara.ingest.text_records import TextRecord

_analyzer: Analyzer | None = None


def start(settings_json: str) -> None:
    """Build this process's analyzer (once)."""
    global _analyzer
    _analyzer = Analyzer(Settings.model_validate_json(settings_json))


def analyze_batch(batch: list[TextRecord]) -> list[tuple[int, str]]:
    """``(line, JSON line)`` per record, in order: each result with the record's ``line`` (and ``id``) first."""
    assert _analyzer is not None, "start() runs first"
    results = _analyzer.analyze([record.text or "" for record in batch])
    return [(r.line, json_line(r, result.model_dump_json())) for r, result in zip(batch, results, strict=True)]


def json_line(record: TextRecord, result_json: str) -> str:
    prefix = f'{{"line": {record.line}, ' + (f'"id": {json.dumps(record.id)}, ' if record.id is not None else "")
    return prefix + result_json[1:] + "\n"
