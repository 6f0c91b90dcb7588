"""Plain metrics: classification report, span precision/recall/F1, expected calibration error."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


def classification_report(gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> dict[str, object]:
    """Accuracy, macro-F1, macro-recall and per-class precision/recall/F1 over the classes in ``gold``."""
    gold_a, pred_a = np.asarray(gold), np.asarray(predicted)
    present = sorted(set(gold_a.tolist()))
    per_class: dict[str, dict[str, float]] = {}
    for cls in present:
        tp = int(((pred_a == cls) & (gold_a == cls)).sum())
        precision = tp / max(1, int((pred_a == cls).sum()))
        recall = tp / max(1, int((gold_a == cls).sum()))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[labels[cls]] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": int((gold_a == cls).sum()),
        }
    return {
        "examples": len(gold_a),
        "accuracy": round(float((gold_a == pred_a).mean()) if len(gold_a) else 0.0, 4),
        "macro_f1": round(float(np.mean([c["f1"] for c in per_class.values()])), 4),
        "macro_recall": round(float(np.mean([c["recall"] for c in per_class.values()])), 4),
        "per_class": per_class,
    }


def span_prf(gold: Sequence[set[tuple[int, int]]], predicted: Sequence[set[tuple[int, int]]]) -> dict[str, float]:
    """Exact-span precision, recall and F1, micro-averaged over documents."""
    tp = sum(len(g & p) for g, p in zip(gold, predicted, strict=True))
    n_pred = sum(len(p) for p in predicted)
    n_gold = sum(len(g) for g in gold)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "gold": n_gold,
        "predicted": n_pred,
    }


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: the gap between confidence and accuracy, weighted over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return round(float(total), 4)
