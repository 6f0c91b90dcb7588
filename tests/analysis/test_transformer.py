import numpy as np
import pytest

from opinara.analysis.sentiment.transformer import TransformerBackend, label_columns
from opinara.errors import ModelLoadError
from tests.tiny_models import tiny_bert

TEXTS = ["the battery life is great", "the screen is dim and the case broke", "it works"]


@pytest.fixture(scope="module")
def three_class(tmp_path_factory):
    return tiny_bert(
        tmp_path_factory.mktemp("tiny3"), num_labels=3, id2label={0: "Negative", 1: "Neutral", 2: "Positive"}
    )


def test_label_names_map_to_opinara_classes():
    assert label_columns({0: "NEGATIVE", 1: "POSITIVE"}) == [0, 2]
    assert label_columns({0: "positive", 1: "negative", 2: "neutral"}) == [2, 0, 1]
    assert label_columns({0: "LABEL_0", 1: "LABEL_1"}) == [0, 2]
    with pytest.raises(ModelLoadError):
        label_columns({0: "a", 1: "b", 2: "c", 3: "d"})


def test_torch_and_onnx_runtimes_agree(three_class, tmp_path):
    torch_backend = TransformerBackend(str(three_class), runtime="torch")
    onnx_backend = TransformerBackend(str(three_class), runtime="onnx", cache_dir=tmp_path)
    p_torch, p_onnx = torch_backend.probabilities(TEXTS), onnx_backend.probabilities(TEXTS)
    assert np.allclose(p_torch.sum(axis=1), 1.0)
    assert np.abs(p_torch - p_onnx).max() < 0.05  # int8 weights, a small error
    assert list(tmp_path.glob("onnx/*/model.int8.onnx")), "the export is cached in the data directory"


def test_onnx_export_is_reused(three_class, tmp_path):
    TransformerBackend(str(three_class), runtime="onnx", cache_dir=tmp_path)
    [exported] = list(tmp_path.glob("onnx/*/model.int8.onnx"))
    mtime = exported.stat().st_mtime_ns
    TransformerBackend(str(three_class), runtime="onnx", cache_dir=tmp_path)
    assert exported.stat().st_mtime_ns == mtime


def test_binary_model_has_no_neutral_mass(tmp_path):
    path = tiny_bert(tmp_path / "tiny2", num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"})
    probs = TransformerBackend(str(path), runtime="torch").probabilities(TEXTS)
    assert np.allclose(probs[:, 1], 0.0) and np.allclose(probs.sum(axis=1), 1.0)


def test_predict_gives_sentences_and_occlusion_weights(three_class):
    backend = TransformerBackend(str(three_class), runtime="torch")
    text = "the screen is dim. the sound is great."
    [prediction] = backend.predict([text], [[(0, 18), (19, 38)]])
    assert len(prediction.sentence_probs) == 2
    assert [text[s:e] for s, e, _ in prediction.word_weights][:3] == ["the", "screen", "is"]


def test_missing_model_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError):
        TransformerBackend(str(tmp_path / "nothing-here"), runtime="torch")
