"""Opinara's opinion model: one encoder pass feeds three small heads.

- sentiment: a linear head on the mean of the text's token states (3 classes);
- aspect tagger: a per-token B/I/O head that marks opinion targets;
- aspect polarity: a linear head on [mean of the aspect's tokens, mean of the text's tokens].

Because the sentiment head is linear over a mean, each token's share of a logit is exact:
that is the explanation, and pooling a sentence's tokens gives its sentiment from the same pass.

A model directory holds ``opinara.json`` (the spec), ``adapter/`` (LoRA weights for the encoder,
optional), ``heads.safetensors`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from opinara.analysis.encoders import (
    OnnxEncoder,
    TokenEncoder,
    TorchEncoder,
    export_onnx,
    onnx_cache_path,
    resolve_encoder,
)
from opinara.errors import ModelLoadError
from opinara.observability.logs import route_library_logs

log = logging.getLogger(__name__)

SHIPPED_MODEL_DIR = Path(__file__).parent / "models" / "opinion-minilm-v1"
TAG_O, TAG_B, TAG_I = 0, 1, 2
MICRO_BATCH = 32  # encoder rows per call at most
PAD_SLACK = 1.25  # a micro-batch's longest row is at most this times its shortest (plus a few tokens)


def micro_batches(lengths: list[int], max_rows: int = MICRO_BATCH, slack: float = PAD_SLACK) -> list[list[int]]:
    """Row indices grouped for the encoder: sorted by length, cut where padding would waste much.

    Large batches then run as few full micro-batches; small mixed batches (an API's dynamic batch)
    run as a few tight ones instead of one padded to its longest text."""
    chunks: list[list[int]] = []
    for row in sorted(range(len(lengths)), key=lengths.__getitem__):
        if chunks and len(chunks[-1]) < max_rows and lengths[row] <= lengths[chunks[-1][0]] * slack + 8:
            chunks[-1].append(row)
        else:
            chunks.append([row])
    return chunks


class ModelSpec(BaseModel):
    """The contents of ``opinara.json``."""

    name: str
    version: str
    encoder: str
    max_length: int = 256
    temperature: float = 1.0
    class_bias: list[float] = [0.0, 0.0, 0.0]  # added to the sentiment logits; fit on held-out data
    labels: list[str] = ["negative", "neutral", "positive"]
    language: str = "en"
    metrics: dict[str, Any] = {}
    training: dict[str, Any] = {}


@dataclass
class DocTokens:
    """One document's content tokens (no special tokens, no padding) after the encoder pass."""

    states: np.ndarray  # (tokens, hidden)
    offsets: np.ndarray  # (tokens, 2) character offsets into the text
    word_ids: list[int]  # which word each token belongs to (continues across windows)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Heads:
    """The three linear heads, as NumPy arrays."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.sentiment_w = weights["sentiment.weight"]
        self.sentiment_b = weights["sentiment.bias"]
        self.tagger_w = weights["tagger.weight"]
        self.tagger_b = weights["tagger.bias"]
        self.polarity_w = weights["polarity.weight"]
        self.polarity_b = weights["polarity.bias"]

    @classmethod
    def load(cls, path: Path) -> Heads:
        from safetensors.numpy import load_file

        return cls({k: v.astype(np.float32) for k, v in load_file(str(path)).items()})


class OpinionModel:
    """Tokenizer, encoder runtime and heads; every method works on a batch."""

    def __init__(self, spec: ModelSpec, tokenizer: Any, encoder: TokenEncoder, heads: Heads, runtime: str) -> None:
        self.spec = spec
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.heads = heads
        self.runtime = runtime

    @property
    def version(self) -> str:
        return f"{self.spec.name}@{self.spec.version}"

    @classmethod
    def load(cls, model_dir: Path | None = None, runtime: str = "onnx", cache_dir: Path | None = None) -> OpinionModel:
        """Load a model directory (default: the one shipped with Opinara) on ``torch`` or ``onnx``."""
        model_dir = Path(model_dir or SHIPPED_MODEL_DIR)
        spec_path = model_dir / "opinara.json"
        if not spec_path.exists():
            raise ModelLoadError(f"{model_dir} is not an Opinara model directory (no opinara.json)")
        spec = ModelSpec.model_validate_json(spec_path.read_text())
        try:
            from transformers import AutoTokenizer

            route_library_logs()  # transformers brings its own log handler
            encoder_path = resolve_encoder(spec.encoder)
            tokenizer = AutoTokenizer.from_pretrained(encoder_path)
            heads = Heads.load(model_dir / "heads.safetensors")
            if runtime == "onnx":
                cache = onnx_cache_path(
                    Path(cache_dir or model_dir / ".cache"), f"{model_dir.resolve()}:{spec.version}:{spec.encoder}"
                )
                if not cache.exists():
                    export_onnx(load_encoder_weights(encoder_path, model_dir), cache)
                encoder: TokenEncoder = OnnxEncoder(cache)
            else:
                encoder = TorchEncoder(load_encoder_weights(encoder_path, model_dir))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"could not load the opinion model from {model_dir}: {exc}") from exc
        return cls(spec, tokenizer, encoder, heads, runtime)

    def encode(self, texts: list[str]) -> list[DocTokens]:
        """Run the encoder; long texts are split into windows of ``max_length`` tokens.

        Windows are sorted by length and run in micro-batches padded to their own longest, so a
        batch of mixed lengths wastes little work on padding.
        """
        if not texts:
            return []
        enc = self.tokenizer(
            texts,
            max_length=self.spec.max_length,
            truncation=True,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        ids = enc["input_ids"]
        states: list[np.ndarray] = [np.zeros(0)] * len(ids)
        pad = self.tokenizer.pad_token_id or 0
        for chunk in micro_batches([len(row) for row in ids]):
            width = len(ids[chunk[-1]])
            batch_ids = np.full((len(chunk), width), pad, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for i, row in enumerate(chunk):
                batch_ids[i, : len(ids[row])] = ids[row]
                mask[i, : len(ids[row])] = 1
            hidden = self.encoder(batch_ids, mask)
            for i, row in enumerate(chunk):
                states[row] = hidden[i, : len(ids[row])]
        docs: list[list[tuple[np.ndarray, np.ndarray, list[int]]]] = [[] for _ in texts]
        for row, doc_index in enumerate(enc["overflow_to_sample_mapping"]):
            keep = np.asarray(enc["special_tokens_mask"][row]) == 0
            word_ids = [w for w, k in zip(enc.word_ids(row), keep, strict=True) if k]
            offsets = np.asarray(enc["offset_mapping"][row], dtype=np.int64).reshape(-1, 2)[keep]
            docs[int(doc_index)].append((states[row][keep], offsets, word_ids))
        hidden_size = self.heads.sentiment_w.shape[1]
        return [
            DocTokens(
                np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, hidden_size), np.float32),
                np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 2), np.int64),
                [w for p in parts for w in p[2]],
            )
            for parts in docs
        ]

    # -- heads ---------------------------------------------------------------------------

    def sentiment_probs(self, pooled: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (negative, neutral, positive) for pooled states."""
        logits = pooled @ self.heads.sentiment_w.T + self.heads.sentiment_b + np.asarray(self.spec.class_bias)
        return softmax(logits / self.spec.temperature)

    def token_contributions(self, doc: DocTokens) -> np.ndarray:
        """Each token's exact share of (positive logit - negative logit) in the mean-pooled head."""
        direction = self.heads.sentiment_w[2] - self.heads.sentiment_w[0]
        n = max(len(doc.states), 1)
        return (doc.states @ direction) / n

    def tag_spans(self, doc: DocTokens) -> list[tuple[int, int]]:
        """Aspect spans (start, end) decoded from per-token B/I/O tags, aligned to whole words."""
        if not len(doc.states):
            return []
        tags = (doc.states @ self.heads.tagger_w.T + self.heads.tagger_b).argmax(axis=-1)
        # One tag per word: its first token's.
        spans: list[list[int]] = []
        previous_word = None
        for index, word in enumerate(doc.word_ids):
            if word == previous_word:
                if spans and spans[-1][2] == word:
                    spans[-1][1] = int(doc.offsets[index][1])
                continue
            previous_word = word
            tag = int(tags[index])
            start, end = int(doc.offsets[index][0]), int(doc.offsets[index][1])
            if tag == TAG_B or (tag == TAG_I and not (spans and spans[-1][2] == word - 1)):
                spans.append([start, end, word])
            elif tag == TAG_I:
                spans[-1][1] = end
                spans[-1][2] = word
        return [(s, e) for s, e, _ in spans]

    def span_tokens(self, doc: DocTokens, start: int, end: int) -> np.ndarray:
        """Indices of the tokens that overlap ``[start, end)``."""
        if not len(doc.offsets):
            return np.zeros(0, dtype=np.int64)
        return np.nonzero((doc.offsets[:, 0] < end) & (doc.offsets[:, 1] > start))[0]

    def aspect_polarity(self, doc: DocTokens, spans: list[tuple[int, int]]) -> np.ndarray:
        """Probabilities (negative, neutral, positive) for each aspect span in ``doc``."""
        if not spans:
            return np.zeros((0, 3), np.float32)
        context = doc.states.mean(axis=0)
        features = []
        for start, end in spans:
            index = self.span_tokens(doc, start, end)
            span_state = doc.states[index].mean(axis=0) if len(index) else context
            features.append(np.concatenate([span_state, context]))
        logits = np.stack(features) @ self.heads.polarity_w.T + self.heads.polarity_b
        return softmax(logits)


def load_encoder_weights(encoder_path: str, model_dir: Path) -> Any:
    """The base encoder with the model's LoRA adapter merged in (when it has one)."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(encoder_path)
    adapter = model_dir / "adapter"
    if adapter.is_dir():
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.eval()


def write_spec(model_dir: Path, spec: ModelSpec) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "opinara.json").write_text(json.dumps(spec.model_dump(), indent=2) + "\n")
