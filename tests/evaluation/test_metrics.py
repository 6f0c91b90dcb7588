import numpy as np

from opinara.evaluation.metrics import classification_report, expected_calibration_error, span_prf


def test_classification_report_values():
    report = classification_report([0, 0, 2, 2, 1], [0, 2, 2, 2, 1], ["negative", "neutral", "positive"])
    assert report["accuracy"] == 0.8
    assert report["per_class"]["negative"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert report["per_class"]["positive"]["precision"] == 0.6667
    assert report["macro_recall"] == round((0.5 + 1 + 1) / 3, 4)


def test_span_prf_is_exact_match():
    gold = [{(0, 5), (10, 15)}, {(3, 7)}]
    predicted = [{(0, 5), (10, 14)}, set()]
    assert span_prf(gold, predicted) == {"precision": 0.5, "recall": 0.3333, "f1": 0.4, "gold": 3, "predicted": 2}


def test_ece_is_zero_when_confidence_equals_accuracy():
    confidence = np.array([0.75] * 4)
    assert expected_calibration_error(confidence, np.array([1, 1, 1, 0])) == 0.0
    assert expected_calibration_error(confidence, np.array([0, 0, 0, 0])) == 0.75
