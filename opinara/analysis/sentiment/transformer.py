"""``sentiment.transformer.v1``: any Hugging Face sequence-classification model, on PyTorch or ONNX Runtime.

Its labels are read from the model's ``id2label``: names containing neg/neu/pos (any case), or
``LABEL_0``/``LABEL_1`` for binary models (negative/positive) and ``LABEL_0..2`` for three-class ones.
The ONNX path exports the logits once, quantizes them to int8 and caches the file in the data directory.
The explanation is occlusion: each of the first words is masked and the change of the
positive-minus-negative probability is its weight.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from opinara.analysis.encoders import export_onnx, onnx_cache_path, resolve_encoder
from opinara.analysis.opinion_model import softmax
from opinara.analysis.schema import ModelInfo
from opinara.analysis.sentiment.base import NEGATIVE, NEUTRAL, POSITIVE, Prediction
from opinara.analysis.text import words
from opinara.errors import ModelLoadError
from opinara.observability.logs import route_library_logs

log = logging.getLogger(__name__)
OCCLUDED_WORDS = 24


def label_columns(id2label: dict[int, str]) -> list[int]:
    """For each model output, which of Opinara's classes (0 negative, 1 neutral, 2 positive) it is."""
    names = [str(id2label[i]).lower() for i in range(len(id2label))]
    columns = []
    for name in names:
        if "neg" in name:
            columns.append(NEGATIVE)
        elif "neu" in name:
            columns.append(NEUTRAL)
        elif "pos" in name:
            columns.append(POSITIVE)
        else:
            columns = []
            break
    if columns and len(set(columns)) == len(columns):
        return columns
    if len(names) == 2:
        return [NEGATIVE, POSITIVE]
    if len(names) == 3:
        return [NEGATIVE, NEUTRAL, POSITIVE]
    raise ModelLoadError(f"cannot map the model's labels {names} to negative/neutral/positive")


class TransformerBackend:
    """A sequence classifier by id or path; ``runtime`` is ``torch`` or ``onnx`` (int8)."""

    languages = None

    def __init__(
        self, model_id: str, runtime: str = "onnx", cache_dir: Path | None = None, max_length: int = 256
    ) -> None:
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            route_library_logs()  # transformers brings its own log handler
            path = resolve_encoder(model_id)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load the transformer model {model_id!r}: {exc}") from exc
        self.columns = label_columns(model.config.id2label)
        self.max_length = max_length
        self.runtime = runtime
        if runtime == "onnx":
            key = f"{Path(path).resolve() if Path(path).exists() else path}:{_fingerprint(model)}"
            target = onnx_cache_path(Path(cache_dir or Path.home() / ".cache" / "opinara"), key)
            if not target.exists():
                export_onnx(model, target, output="logits")
            import onnxruntime as ort

            route_library_logs()  # the C++ runtime's log level
            self._session: Any = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
            self._model: Any = None
        else:
            self._model = model
        self.info = ModelInfo(backend="transformer", name=model_id, version=_fingerprint(model), runtime=runtime)

    def _logits(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(texts, max_length=self.max_length, truncation=True, padding=True, return_tensors="np")
        ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        if self._model is None:
            return self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        import torch

        with torch.inference_mode():
            return (
                self._model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
                .logits.float()
                .numpy()
            )

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Probabilities (negative, neutral, positive) for each text."""
        if not texts:
            return np.zeros((0, 3))
        raw = softmax(self._logits(texts))
        probs = np.zeros((len(texts), 3))
        for column, target in enumerate(self.columns):
            probs[:, target] += raw[:, column]
        return probs

    def predict(self, texts: list[str], sentences: list[list[tuple[int, int]]]) -> list[Prediction]:
        probs = self.probabilities(texts)
        sentence_texts = [
            text[s:e] for text, spans in zip(texts, sentences, strict=True) if len(spans) > 1 for s, e in spans
        ]
        sentence_probs = iter(self.probabilities(sentence_texts))
        out = []
        for text, doc_probs, spans in zip(texts, probs, sentences, strict=True):
            parts = [next(sentence_probs) for _ in spans] if len(spans) > 1 else [doc_probs] * len(spans)
            out.append(Prediction(doc_probs, parts, self._occlusion(text, doc_probs)))
        return out

    def _occlusion(self, text: str, probs: np.ndarray) -> list[tuple[int, int, float]]:
        spans = words(text)[:OCCLUDED_WORDS]
        if not spans:
            return []
        variants = [text[:s] + self.tokenizer.unk_token + text[e:] for s, e in spans]
        occluded = self.probabilities(variants)
        base = probs[POSITIVE] - probs[NEGATIVE]
        return [
            (s, e, round(float(base - (o[POSITIVE] - o[NEGATIVE])), 4))
            for (s, e), o in zip(spans, occluded, strict=True)
        ]


def _fingerprint(model: Any) -> str:
    """A short, stable hash of the model's config and first weights, used as its version."""
    first = next(iter(model.state_dict().values()))
    digest = hashlib.sha256(model.config.to_json_string().encode() + first.flatten()[:256].numpy().tobytes())
    return digest.hexdigest()[:12]
