"""``opinara train sentiment``: train the opinion model (sentiment head, aspect tagger, aspect polarity)."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer

from opinara.cli.app import train_app
from opinara.errors import InputError
from opinara.training.datasets import LabeledText, read_labeled, read_semeval


def _parse_source(source: str) -> tuple[Path, int | None]:
    """``PATH`` or ``PATH@N`` (at most N examples of each class from that file)."""
    path, _, cap = source.rpartition("@") if "@" in source else (source, "", "")
    if cap and not cap.isdigit():
        raise InputError(f"{source}: the part after @ must be a number of examples per class")
    return Path(path), int(cap) if cap else None


def load_training_texts(sources: list[str], min_words: int, seed: int) -> list[LabeledText]:
    """Read, de-duplicate and cap labeled files; the cap samples each class with a fixed seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[LabeledText] = []
    for source in sources:
        path, cap = _parse_source(source)
        by_class: dict[int, list[LabeledText]] = defaultdict(list)
        for example in read_labeled(path):
            key = example.text.casefold()
            if key in seen or len(example.text.split()) < min_words:
                continue
            seen.add(key)
            by_class[example.label].append(example)
        for examples in by_class.values():
            if cap is not None and len(examples) > cap:
                examples = rng.sample(examples, cap)
            out.extend(examples)
    rng.shuffle(out)
    return out


@train_app.command("sentiment")
def train_sentiment(
    data: Annotated[
        list[str], typer.Option("--data", help="Labeled file (TSV/CSV/JSONL/*_text.txt); PATH@N caps each class at N.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    encoder: Annotated[
        str, typer.Option("--encoder", help="Encoder id or path.")
    ] = "sentence-transformers/all-MiniLM-L6-v2",
    aspect_data: Annotated[
        list[Path], typer.Option("--aspect-data", help="SemEval ABSA XML to train the aspect heads.")
    ] = [],  # noqa: B006
    epochs: Annotated[float, typer.Option(min=0.1, max=50)] = 2.0,
    batch_size: Annotated[int, typer.Option(min=2, max=512)] = 32,
    lr: Annotated[float, typer.Option(min=1e-6, max=1e-1)] = 4e-4,
    lora_rank: Annotated[int, typer.Option(min=1, max=256)] = 16,
    min_words: Annotated[int, typer.Option(help="Skip texts with fewer words.")] = 1,
    seed: int = 13,
    version: str = "1",
) -> None:
    """Train a sentiment head (and, with --aspect-data, the aspect heads) on an encoder with a LoRA adapter."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from opinara.training.opinion_trainer import TrainConfig, train_opinion_model

    texts = load_training_texts(data, min_words, seed)
    if not texts:
        raise InputError("no labeled texts found in --data")
    sentences = [s for path in aspect_data for s in read_semeval(path)]
    typer.echo(f"training on {len(texts)} labeled texts and {len(sentences)} aspect sentences", err=True)
    cfg = TrainConfig(
        encoder=encoder,
        out=out,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        lora_rank=lora_rank,
        seed=seed,
        version=version,
    )
    with Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("train", total=None, loss=0.0)

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, total=total, loss=loss)

        spec = train_opinion_model(texts, sentences, cfg, progress)
    typer.echo(
        f"wrote {out} (held-out accuracy {spec.metrics['held_out_sentiment_accuracy']:.3f}, temperature {spec.temperature:.2f})"
    )
