"""Texts/s for each backend and runtime, next to vaderSentiment and a Hugging Face pipeline of a
DistilBERT-size model measured in the same run.

The DistilBERT peer has DistilBERT's exact architecture (6 layers, 768 wide) with random weights: speed
depends on the shape, not the weights, and no hub is reachable here.

    .venv/bin/python bench/analyze_throughput.py [--n 2000] [--lexicon-n 20000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import header, rate, row, short_reviews

from opinara.analysis.pipeline import AnalyzeOptions, Analyzer
from opinara.config import Settings


def distilbert_pipeline():
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification, pipeline

    from opinara.analysis.encoders import resolve_encoder

    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder("sentence-transformers/all-MiniLM-L6-v2"))
    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=tokenizer.vocab_size, num_labels=2)).eval()
    return pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="texts for the neural backends")
    parser.add_argument("--lexicon-n", type=int, default=20000, help="texts for the lexicon tier")
    args = parser.parse_args()
    header("opinara analyze throughput (short reviews)")
    data_dir = Path(tempfile.mkdtemp(prefix="opinara-bench-"))
    lexicon_texts, texts = short_reviews(args.lexicon_n), short_reviews(args.n)

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    vader_rate = rate(lambda batch: [vader.polarity_scores(t) for t in batch], lexicon_texts)
    row("peer: vaderSentiment polarity_scores", vader_rate, None, "")

    def analyzer(**update: object) -> Analyzer:
        return Analyzer(Settings(data_dir=data_dir, batch_size=64, **update))  # type: ignore[arg-type]

    lexicon = analyzer(backend="lexicon")
    options = AnalyzeOptions(aspects=False, language="en")
    row(
        "lexicon sentiment (language given)",
        rate(lambda b: list(lexicon.analyze_stream(b, options)), lexicon_texts),
        vader_rate,
        "vader",
    )
    no_aspects = AnalyzeOptions(aspects=False)
    row(
        "lexicon sentiment + language",
        rate(lambda b: list(lexicon.analyze_stream(b, no_aspects)), lexicon_texts),
        vader_rate,
        "vader",
    )

    peer = distilbert_pipeline()
    peer_rate = rate(lambda batch: peer(batch, batch_size=32, truncation=True), texts[: max(200, args.n // 4)])
    row("peer: HF pipeline, DistilBERT-size, torch", peer_rate, None, "")

    for runtime in ("onnx", "torch"):
        encoder = analyzer(runtime=runtime)
        full = rate(lambda b, a=encoder: list(a.analyze_stream(b)), texts)
        row(f"encoder/{runtime}: language + sentiment + aspects", full, peer_rate, "distilbert")
        only = rate(lambda b, a=encoder: list(a.analyze_stream(b, no_aspects)), texts)
        row(f"encoder/{runtime}: language + sentiment", only, peer_rate, "distilbert")


if __name__ == "__main__":
    main()
