"""``sentiment.encoder.v1``: the opinion model (encoder + trained heads), Opinara's default backend.

One encoder pass per text yields the document's probabilities, each sentence's (its tokens pooled
in context) and the word weights (each token's exact share of the positive-minus-negative logit).
"""

from __future__ import annotations

import numpy as np

from opinara.analysis.opinion_model import DocTokens, OpinionModel
from opinara.analysis.schema import ModelInfo
from opinara.analysis.sentiment.base import Prediction


def word_weights(model: OpinionModel, doc: DocTokens) -> list[tuple[int, int, float]]:
    """Token contributions summed per word, as (start, end, weight)."""
    contributions = model.token_contributions(doc)
    merged: dict[int, list[float]] = {}
    for index, word in enumerate(doc.word_ids):
        start, end = int(doc.offsets[index][0]), int(doc.offsets[index][1])
        if word in merged:
            merged[word][1] = end
            merged[word][2] += float(contributions[index])
        else:
            merged[word] = [start, end, float(contributions[index])]
    return [(int(s), int(e), round(w, 4)) for s, e, w in merged.values()]


class EncoderBackend:
    """Sentiment from the opinion model; its encoder pass is shared with the aspect tagger."""

    def __init__(self, model: OpinionModel) -> None:
        self.model = model
        self.languages = frozenset({model.spec.language})
        self.info = ModelInfo(
            backend="encoder", name=model.spec.name, version=model.spec.version, runtime=model.runtime
        )

    def predict(self, texts: list[str], sentences: list[list[tuple[int, int]]]) -> list[Prediction]:
        docs = self.model.encode(texts)
        hidden = self.model.heads.sentiment_w.shape[1]
        pooled = np.stack([d.states.mean(axis=0) if len(d.states) else np.zeros(hidden, np.float32) for d in docs])
        probs = self.model.sentiment_probs(pooled)
        out = []
        for doc, doc_probs, spans in zip(docs, probs, sentences, strict=True):
            if len(spans) > 1:
                parts = []
                for start, end in spans:
                    index = self.model.span_tokens(doc, start, end)
                    parts.append(doc.states[index].mean(axis=0) if len(index) else np.zeros(hidden, np.float32))
                sentence_probs = list(self.model.sentiment_probs(np.stack(parts)))
            else:
                sentence_probs = [doc_probs] * len(spans)
            out.append(Prediction(doc_probs, sentence_probs, word_weights(self.model, doc), tokens=doc))
        return out
