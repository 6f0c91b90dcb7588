"""The Analyzer end to end on the shipped default model: the result contract and its edge cases."""

import numpy as np
import pytest

from opinara.analysis import opinion_model
from opinara.analysis.pipeline import AnalyzeOptions, Analyzer
from opinara.config import Settings
from opinara.errors import InputError

REVIEW = "The battery life is great but the screen is dim. Shipping was fast."


def test_result_contract(analyzer: Analyzer):
    [result] = analyzer.analyze([REVIEW])
    scores = result.sentiment.scores
    assert scores.positive + scores.negative + scores.neutral == pytest.approx(1.0, abs=1e-6)
    assert result.language.code == "en"
    assert [REVIEW[s.start : s.end] for s in result.sentences] == [
        "The battery life is great but the screen is dim.",
        "Shipping was fast.",
    ]
    for aspect in result.aspects:
        assert REVIEW[aspect.start : aspect.end] == aspect.term
        assert all(REVIEW[o.start : o.end] == o.text for o in aspect.opinions)
    for item in result.explanation:
        assert REVIEW[item.start : item.end] == item.text
    assert result.model.backend == "encoder" and result.model.runtime == "onnx"


def test_aspect_example_from_the_issue(analyzer: Analyzer):
    [result] = analyzer.analyze(["The battery life is great but the screen is dim."])
    by_term = {a.term: a for a in result.aspects}
    assert by_term["battery life"].sentiment.label == "positive"
    assert [o.text for o in by_term["battery life"].opinions] == ["great"]
    assert by_term["screen"].sentiment.label == "negative"
    assert [o.text for o in by_term["screen"].opinions] == ["dim"]


def test_clear_sentiments(analyzer: Analyzer):
    texts = ["Absolutely love it, works perfectly.", "Broke after two days, total waste of money."]
    labels = [r.sentiment.label for r in analyzer.analyze(texts, AnalyzeOptions(aspects=False))]
    assert labels == ["positive", "negative"]


def test_mixed_when_confident_parts_disagree(analyzer: Analyzer):
    [result] = analyzer.analyze(["I love the camera. I hate the battery, it is awful."])
    assert result.sentiment.label == "mixed"
    assert result.sentiment.confidence == pytest.approx(
        result.sentiment.scores.positive + result.sentiment.scores.negative, abs=1e-3
    )


def test_explanation_is_the_exact_logit_decomposition(analyzer: Analyzer):
    model = analyzer.backend.model
    [doc] = model.encode(["Great price, terrible support."])
    heads = model.heads
    logits = doc.states.mean(axis=0) @ heads.sentiment_w.T + heads.sentiment_b
    total = model.token_contributions(doc).sum()
    assert total == pytest.approx((logits[2] - logits[0]) - (heads.sentiment_b[2] - heads.sentiment_b[0]), rel=1e-4)


def test_explanation_words_push_the_right_way(analyzer: Analyzer):
    [result] = analyzer.analyze(["Terrible battery."], AnalyzeOptions(aspects=False))
    weights = {e.text: e.weight for e in result.explanation}
    assert weights["Terrible"] < 0


def test_unsupported_language_is_said_not_scored(analyzer: Analyzer):
    [result] = analyzer.analyze(["Este producto es excelente, la batería dura todo el día y la pantalla es preciosa."])
    assert result.language.code == "es"
    assert result.sentiment is None and result.aspects == []
    assert [w.code for w in result.warnings] == ["unsupported_language"]


def test_language_hint_replaces_detection(analyzer: Analyzer):
    [result] = analyzer.analyze(["ok"], AnalyzeOptions(language="en"))
    assert result.language.code == "en" and result.sentiment is not None


def test_empty_text_gets_a_warning_not_a_score(analyzer: Analyzer):
    [result] = analyzer.analyze(["   "])
    assert result.sentiment is None and [w.code for w in result.warnings] == ["empty_text"]


def test_too_long_text_is_an_input_error(settings: Settings):
    small = Analyzer(settings.model_copy(update={"backend": "lexicon", "max_text_chars": 10}))
    with pytest.raises(InputError, match="limit is 10"):
        small.analyze(["this text is too long"])


def test_long_text_is_windowed_not_truncated(analyzer: Analyzer):
    text = " ".join(["The strap is fine."] * 120) + " The zipper is broken."
    [result] = analyzer.analyze([text])
    assert result.sentences[-1].sentiment.label == "negative"
    assert any(a.term == "zipper" for a in result.aspects)


def test_batch_order_and_stream_match(analyzer: Analyzer):
    texts = [f"Review {i}: the fit is {'great' if i % 2 else 'awful'}." for i in range(10)]
    batch = [r.sentiment.label for r in analyzer.analyze(texts)]
    stream = [r.sentiment.label for r in analyzer.analyze_stream(iter(texts))]
    assert batch == stream
    assert batch[:2] == ["negative", "positive"]


def test_torch_and_onnx_runtimes_agree_on_labels(settings: Settings, analyzer: Analyzer):
    torch_analyzer = Analyzer(settings.model_copy(update={"runtime": "torch"}))
    texts = ["Love the colour.", "The lid cracked.", "It is blue.", "Sturdy frame, flimsy buckles."]
    onnx_results, torch_results = analyzer.analyze(texts), torch_analyzer.analyze(texts)
    # The last text is on the edge of "mixed", where a small shift may change the label.
    assert [r.sentiment.label for r in onnx_results[:3]] == [r.sentiment.label for r in torch_results[:3]]
    a = np.array([[r.sentiment.scores.negative, r.sentiment.scores.positive] for r in onnx_results])
    b = np.array([[r.sentiment.scores.negative, r.sentiment.scores.positive] for r in torch_results])
    assert np.abs(a - b).max() < 0.15  # int8 weights move probabilities a little


def test_default_model_missing_falls_back_to_lexicon_with_a_warning(settings: Settings, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(opinion_model, "SHIPPED_MODEL_DIR", tmp_path)
    fallback = Analyzer(settings.model_copy(update={"aspect_extractor": "rules"}))
    [result] = fallback.analyze(["Great fit."])
    assert result.model.backend == "lexicon"
    assert "backend_fallback" in [w.code for w in result.warnings]
    assert "using the lexicon backend" in caplog.text


def test_explicit_model_that_fails_is_an_error_not_a_fallback(settings: Settings, tmp_path):
    from opinara.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        Analyzer(settings.model_copy(update={"model": str(tmp_path)}))


def test_micro_batches_keep_every_row_once_and_bound_padding():
    from opinara.analysis.opinion_model import micro_batches

    lengths = [5, 200, 7, 6, 190, 60, 58, 8, 205, 61]
    chunks = micro_batches(lengths, max_rows=3)
    assert sorted(row for chunk in chunks for row in chunk) == list(range(len(lengths)))
    assert all(len(chunk) <= 3 for chunk in chunks)
    for chunk in chunks:
        widths = [lengths[row] for row in chunk]
        assert max(widths) <= min(widths) * 1.25 + 8
    assert [lengths[row] for row in chunks[0]] == [5, 6, 7]
