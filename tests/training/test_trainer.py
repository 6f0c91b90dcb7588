"""Trains a real (tiny) opinion model end to end and loads it back on both runtimes."""

import numpy as np
import pytest

from opinara.analysis.opinion_model import OpinionModel
from opinara.training.datasets import AspectSentence, AspectTerm, LabeledText
from opinara.training.opinion_trainer import TrainConfig, fit_temperature, train_opinion_model
from tests.tiny_models import tiny_bert


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    encoder = tiny_bert(root / "encoder")
    texts = [
        LabeledText("the battery is great", 2),
        LabeledText("the screen is terrible", 0),
        LabeledText("it is a phone", 1),
    ] * 8
    text = "the battery life is great but the screen is dim"
    aspects = [
        AspectSentence(text, [AspectTerm("battery life", 4, 16, "positive"), AspectTerm("screen", 34, 40, "negative")])
    ] * 8
    cfg = TrainConfig(encoder=str(encoder), out=root / "model", epochs=1, batch_size=8, lora_rank=2, dev_fraction=0.2)
    steps = []
    spec = train_opinion_model(texts, aspects, cfg, progress=lambda step, total, loss: steps.append((step, total)))
    return cfg.out, spec, steps


def test_training_writes_a_loadable_model_directory(trained):
    out, spec, steps = trained
    assert {p.name for p in out.iterdir()} >= {"opinara.json", "heads.safetensors", "adapter"}
    assert spec.temperature > 0
    assert steps[-1][0] == steps[-1][1], "progress reaches its total"
    model = OpinionModel.load(out, runtime="torch")
    [doc] = model.encode(["the battery is great"])
    probs = model.sentiment_probs(doc.states.mean(axis=0, keepdims=True))
    assert probs.shape == (1, 3) and np.isclose(probs.sum(), 1.0)


def test_onnx_runtime_matches_torch_for_the_trained_model(trained, tmp_path):
    out, _, _ = trained
    texts = ["the battery is great", "the screen is dim and the case broke"]
    torch_docs = OpinionModel.load(out, runtime="torch").encode(texts)
    onnx_docs = OpinionModel.load(out, runtime="onnx", cache_dir=tmp_path).encode(texts)
    for a, b in zip(torch_docs, onnx_docs, strict=True):
        assert a.states.shape == b.states.shape
        assert np.corrcoef(a.states.ravel(), b.states.ravel())[0, 1] > 0.99


def test_fit_temperature_softens_overconfident_logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3))
    logits[np.arange(500), labels] += 1.0
    assert fit_temperature(logits * 10, labels) > 3.0
