"""Run an :class:`Analyzer` over labeled data and score it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from opinara.analysis.pipeline import AnalyzeOptions, Analyzer
from opinara.analysis.text import split_sentences
from opinara.evaluation.metrics import classification_report, expected_calibration_error, span_prf
from opinara.training.datasets import LABELS, NEGATIVE, NEUTRAL, POSITIVE, AspectSentence, LabeledText

Progress = Callable[[int], None]
POLARITY_INDEX = {"negative": NEGATIVE, "neutral": NEUTRAL, "positive": POSITIVE}


def evaluate_sentiment(
    analyzer: Analyzer, data: list[LabeledText], progress: Progress | None = None
) -> dict[str, object]:
    """Binary data (every label from a 0/1 source): positive vs negative by the larger of the two scores.
    Otherwise three classes by the largest score. Also reports the expected calibration error."""
    binary = all(e.binary for e in data)
    options = AnalyzeOptions(aspects=False, redact_pii=False, language="en")
    predicted, confidence = [], []
    size = analyzer.settings.batch_size
    for start in range(0, len(data), size):
        batch = data[start : start + size]
        for result in analyzer.analyze([e.text for e in batch], options):
            scores = result.sentiment.scores if result.sentiment else None
            probs = (
                np.array([scores.negative, scores.neutral, scores.positive]) if scores else np.array([0.0, 1.0, 0.0])
            )
            if binary:
                pair = probs[[NEGATIVE, POSITIVE]]
                pair = pair / pair.sum() if pair.sum() else np.array([0.5, 0.5])
                predicted.append(POSITIVE if pair[1] >= pair[0] else NEGATIVE)
                confidence.append(float(pair.max()))
            else:
                predicted.append(int(probs.argmax()))
                confidence.append(float(probs.max()))
        if progress:
            progress(len(batch))
    gold = [e.label for e in data]
    report = classification_report(gold, predicted, LABELS)
    report["task"] = "sentiment-binary" if binary else "sentiment-3class"
    report["ece"] = expected_calibration_error(np.array(confidence), np.array(gold) == np.array(predicted))
    return report


def evaluate_aspects(
    analyzer: Analyzer, data: list[AspectSentence], progress: Progress | None = None
) -> dict[str, object]:
    """Aspect-term precision/recall/F1 (exact span match) and polarity accuracy on the gold terms
    (conflict terms left out of the polarity score, as is usual for SemEval-2014)."""
    extractor = analyzer.aspects
    gold_spans, predicted_spans = [], []
    gold_polarity, predicted_polarity = [], []
    size = analyzer.settings.batch_size
    for start in range(0, len(data), size):
        batch = data[start : start + size]
        texts = [s.text for s in batch]
        results = analyzer.analyze(texts, AnalyzeOptions(aspects=True, redact_pii=False, language="en"))
        sentences = [split_sentences(t) for t in texts]
        gold = [[(t.start, t.end) for t in s.terms if t.polarity in POLARITY_INDEX] for s in batch]
        scored = extractor.classify(texts, sentences, gold)
        for sentence, result, aspects in zip(batch, results, scored, strict=True):
            gold_spans.append({(t.start, t.end) for t in sentence.terms})
            predicted_spans.append({(a.start, a.end) for a in result.aspects})
            kept = [t for t in sentence.terms if t.polarity in POLARITY_INDEX]
            gold_polarity.extend(POLARITY_INDEX[t.polarity] for t in kept)
            predicted_polarity.extend(POLARITY_INDEX[a.sentiment.label] for a in aspects)
        if progress:
            progress(len(batch))
    polarity = classification_report(gold_polarity, predicted_polarity, LABELS)
    return {
        "task": "aspects",
        "sentences": len(data),
        "terms": span_prf(gold_spans, predicted_spans),
        "polarity": {"accuracy": polarity["accuracy"], "macro_f1": polarity["macro_f1"], "terms": polarity["examples"]},
    }
