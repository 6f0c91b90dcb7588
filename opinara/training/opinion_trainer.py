"""Train the opinion model: a LoRA adapter on the encoder plus the sentiment, tagger and polarity heads.

Sentiment examples and ABSA sentences are interleaved in one loop (multi-task); the encoder learns
both from one adapter, so inference needs one encoder pass for every head. After training, a
temperature is fit on held-out data so the sentiment probabilities are calibrated.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from opinara.analysis.encoders import resolve_encoder
from opinara.analysis.opinion_model import TAG_B, TAG_I, TAG_O, ModelSpec, write_spec
from opinara.training.datasets import AspectSentence, LabeledText

log = logging.getLogger(__name__)
POLARITIES = {"negative": 0, "neutral": 1, "positive": 2}
IGNORE = -100


@dataclass
class TrainConfig:
    encoder: str
    out: Path
    epochs: float = 2.0
    batch_size: int = 32
    lr: float = 4e-4
    lora_rank: int = 16
    aspect_repeats: int = 2  # ABSA sentences are few; show them this many times an epoch
    max_length: int = 128
    dev_fraction: float = 0.05
    seed: int = 13
    name: str = "opinion-minilm"
    version: str = "1"
    threads: int | None = None


def _split(items: list[Any], fraction: float, rng: random.Random) -> tuple[list[Any], list[Any]]:
    items = items[:]
    rng.shuffle(items)
    cut = max(1, int(len(items) * fraction)) if items else 0
    return items[cut:], items[:cut]


class _Network:
    """The torch side: encoder with LoRA, three linear heads."""

    def __init__(self, cfg: TrainConfig) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        path = resolve_encoder(cfg.encoder)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        base = AutoModel.from_pretrained(path)
        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=2 * cfg.lora_rank,
            lora_dropout=0.1,
            target_modules=["query", "key", "value", "dense"],
        )
        self.encoder = get_peft_model(base, lora)
        hidden = base.config.hidden_size
        self.heads = torch.nn.ModuleDict(
            {
                "sentiment": torch.nn.Linear(hidden, 3),
                "tagger": torch.nn.Linear(hidden, 3),
                "polarity": torch.nn.Linear(2 * hidden, 3),
            }
        )
        self.dropout = torch.nn.Dropout(0.1)
        self.max_length = cfg.max_length

    def parameters(self) -> list[Any]:
        return [p for p in self.encoder.parameters() if p.requires_grad] + list(self.heads.parameters())

    def train(self, mode: bool = True) -> None:
        self.encoder.train(mode)
        self.heads.train(mode)

    def tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(
            texts,
            max_length=self.max_length,
            truncation=True,
            padding=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )

    def states(self, enc: Any) -> tuple[Any, Any]:
        out = self.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        content = (enc["attention_mask"] * (1 - enc["special_tokens_mask"])).float()
        return self.dropout(out), content

    def pooled(self, states: Any, mask: Any) -> Any:
        return (states * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)

    def sentiment_logits(self, texts: list[str]) -> Any:
        enc = self.tokenize(texts)
        states, mask = self.states(enc)
        return self.heads["sentiment"](self.pooled(states, mask))

    def aspect_loss(self, batch: list[AspectSentence]) -> Any:
        torch = self.torch
        enc = self.tokenize([s.text for s in batch])
        states, mask = self.states(enc)
        offsets = enc["offset_mapping"]
        tags = torch.full(mask.shape, IGNORE, dtype=torch.long)
        span_rows, span_masks, span_labels = [], [], []
        for row, sentence in enumerate(batch):
            content = mask[row] > 0
            tags[row][content] = TAG_O
            for term in sentence.terms:
                overlap = (offsets[row, :, 0] < term.end) & (offsets[row, :, 1] > term.start) & content
                index = torch.nonzero(overlap).flatten()
                if not len(index):
                    continue
                tags[row, index] = TAG_I
                tags[row, index[0]] = TAG_B
                if term.polarity in POLARITIES:
                    span_rows.append(row)
                    span_masks.append(overlap.float())
                    span_labels.append(POLARITIES[term.polarity])
        loss = torch.nn.functional.cross_entropy(
            self.heads["tagger"](states).flatten(0, 1), tags.flatten(), ignore_index=IGNORE
        )
        if span_rows:
            rows = torch.tensor(span_rows)
            span_state = self.pooled(states[rows], torch.stack(span_masks))
            context = self.pooled(states, mask)[rows]
            logits = self.heads["polarity"](torch.cat([span_state, context], dim=-1))
            loss = loss + torch.nn.functional.cross_entropy(logits, torch.tensor(span_labels))
        return loss


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises negative log-likelihood on held-out logits (grid + refine)."""

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(labels)), labels].mean())

    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 121))
    best = min(grid, key=nll)
    return float(best)


def fit_class_bias(logits: np.ndarray, labels: np.ndarray, binary: np.ndarray) -> list[float]:
    """Offsets for the negative and neutral logits that maximise held-out 3-class macro-recall plus
    binary accuracy (positive vs negative): mixed training sources leave the classes' priors skewed."""

    def objective(negative: float, neutral: float) -> float:
        shifted = logits + np.array([negative, neutral, 0.0])
        three = ~binary
        predicted = shifted[three].argmax(1)
        recalls = [float((predicted[labels[three] == c] == c).mean()) for c in range(3) if (labels[three] == c).any()]
        pair = np.where(shifted[binary][:, 2] >= shifted[binary][:, 0], 2, 0)
        binary_accuracy = float((pair == labels[binary]).mean()) if binary.any() else 0.0
        return (float(np.mean(recalls)) if recalls else 0.0) + binary_accuracy

    grid = [(round(a, 2), round(n, 2)) for a in np.arange(-0.5, 0.81, 0.1) for n in np.arange(0.0, 1.51, 0.1)]
    negative, neutral = max(grid, key=lambda g: (objective(*g), -abs(g[0]) - abs(g[1])))
    return [float(negative), float(neutral), 0.0]


def train_opinion_model(
    sentiment: list[LabeledText],
    aspects: list[AspectSentence],
    cfg: TrainConfig,
    progress: Callable[[int, int, float], None] | None = None,
) -> ModelSpec:
    """Train, calibrate and save a model directory to ``cfg.out``; returns its spec with dev metrics."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    sent_train, sent_dev = _split(sentiment, cfg.dev_fraction, rng)
    asp_train, asp_dev = _split(aspects, cfg.dev_fraction, rng)
    net = _Network(cfg)

    sent_batches = [sent_train[i : i + cfg.batch_size] for i in range(0, len(sent_train), cfg.batch_size)]
    asp_batches = [
        asp_train[i : i + cfg.batch_size // 2] for i in range(0, len(asp_train), cfg.batch_size // 2)
    ] * cfg.aspect_repeats
    per_epoch = len(sent_batches) + len(asp_batches)
    total = max(1, int(per_epoch * cfg.epochs))
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.01)
    warmup = max(1, total // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    started = time.monotonic()
    step = 0
    net.train()
    while step < total:
        schedule = [("s", b) for b in sent_batches] + [("a", b) for b in asp_batches]
        rng.shuffle(schedule)
        for kind, batch in schedule:
            if step >= total:
                break
            if kind == "s":
                logits = net.sentiment_logits([e.text for e in batch])
                loss = torch.nn.functional.cross_entropy(logits, torch.tensor([e.label for e in batch]))
            else:
                loss = net.aspect_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if progress:
                progress(step, total, loss.item())
            rng.shuffle(sent_train)
    net.train(False)

    with torch.no_grad():
        dev_logits = np.concatenate(
            [net.sentiment_logits([e.text for e in sent_dev[i : i + 64]]).numpy() for i in range(0, len(sent_dev), 64)]
        )
    dev_labels = np.array([e.label for e in sent_dev])
    temperature = fit_temperature(dev_logits, dev_labels)
    class_bias = fit_class_bias(dev_logits, dev_labels, np.array([e.binary for e in sent_dev]))
    dev_accuracy = float((dev_logits.argmax(1) == dev_labels).mean())

    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    net.encoder.save_pretrained(str(out / "adapter"))
    adapter_config = out / "adapter" / "adapter_config.json"
    config = json.loads(adapter_config.read_text())
    config["base_model_name_or_path"] = cfg.encoder  # the id, not this machine's resolved path
    adapter_config.write_text(json.dumps(config, indent=2) + "\n")
    (out / "adapter" / "README.md").unlink(missing_ok=True)  # peft's empty card template; MODEL_CARD.md is ours
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous() for k, v in net.heads.state_dict().items()}, str(out / "heads.safetensors"))
    spec = ModelSpec(
        name=cfg.name,
        version=cfg.version,
        encoder=cfg.encoder,
        max_length=256,
        temperature=temperature,
        class_bias=class_bias,
        metrics={"held_out_sentiment_accuracy": round(dev_accuracy, 4), "held_out_examples": len(sent_dev)},
        training={
            "sentiment_examples": len(sent_train),
            "aspect_sentences": len(asp_train),
            "held_out_aspect_sentences": len(asp_dev),
            "epochs": cfg.epochs,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "lora_rank": cfg.lora_rank,
            "aspect_repeats": cfg.aspect_repeats,
            "seed": cfg.seed,
            "steps": total,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    write_spec(out, spec)
    (out / "held_out.json").write_text(json.dumps({"sentiment": len(sent_dev), "aspects": len(asp_dev)}) + "\n")
    return spec
