"""Tiny Hugging Face models built inside the tests: real code paths, no hub, a few kilobytes."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "the a is was it this and but not very good great bad terrible love hate battery life screen dim bright "
    "sound quality price cheap fast slow case fit works broke coffee zipper strap i my phone day"
).split()


def _vocab(directory: Path) -> Path:
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ".", ",", "!", "##s"]) + "\n")
    return vocab


def tiny_bert(
    directory: Path, num_labels: int | None = None, id2label: dict[int, str] | None = None, seed: int = 0
) -> Path:
    """Write a 2-layer, 32-wide BERT (a sequence classifier when ``num_labels``) and its tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from transformers import BertForSequenceClassification as Classifier

    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(vocab_file=str(_vocab(directory)), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    if num_labels:
        config.num_labels = num_labels
        if id2label:
            config.id2label = id2label
            config.label2id = {v: k for k, v in id2label.items()}
        model = Classifier(config)
    else:
        model = BertModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
