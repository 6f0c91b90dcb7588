"""Readers for labeled data: sentiment files (TSV, CSV, JSON Lines, TweetEval text) and SemEval ABSA XML.

Sentiment labels map to three classes, ``0 negative, 1 neutral, 2 positive``:

- ``0``/``1`` (binary, as in SST-2): negative / positive;
- the words ``negative``, ``neutral``, ``positive`` (any case);
- star ratings (a column named ``overall``, ``rating``, ``stars`` or ``score``, 1-5):
  1-2 stars negative, 3 stars neutral, 4-5 stars positive;
- TweetEval ``X_text.txt`` with its sibling ``X_labels.txt``: 0 negative, 1 neutral, 2 positive.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from opinara.errors import InputError

LABELS = ("negative", "neutral", "positive")
NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2
TEXT_FIELDS = ("text", "sentence", "reviewText", "review", "tweet", "content", "body")
LABEL_FIELDS = ("label", "sentiment", "polarity")
STAR_FIELDS = ("overall", "rating", "stars", "score")
_WORD_LABELS = {"negative": NEGATIVE, "neutral": NEUTRAL, "positive": POSITIVE}


@dataclass(frozen=True)
class LabeledText:
    text: str
    label: int  # 0 negative, 1 neutral, 2 positive
    binary: bool = False  # the source had no neutral class


@dataclass(frozen=True)
class AspectTerm:
    term: str
    start: int
    end: int
    polarity: str  # positive, negative, neutral or conflict


@dataclass
class AspectSentence:
    text: str
    terms: list[AspectTerm] = field(default_factory=list)


def stars_to_label(stars: float) -> int:
    """1-2 stars negative, 3 neutral, 4-5 positive."""
    if not 1 <= stars <= 5:
        raise ValueError(f"star rating {stars} is outside 1-5")
    if stars < 3:
        return NEGATIVE
    return NEUTRAL if stars < 4 else POSITIVE


def parse_label(value: object) -> tuple[int, bool]:
    """A label value as ``(class, binary)``; raises ValueError when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"unknown label {value!r}")
    text = str(value).strip().lower()
    if text in _WORD_LABELS:
        return _WORD_LABELS[text], False
    if text in ("0", "1"):
        return (POSITIVE if text == "1" else NEGATIVE), True
    raise ValueError(f"unknown label {value!r}")


def open_text(path: Path) -> io.TextIOBase:
    """Open a text file, transparently decompressing ``.gz``; strict UTF-8."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict")
    return open(path, encoding="utf-8", errors="strict", newline="")


def _base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def _row_example(row: dict[str, object]) -> LabeledText | None:
    text = next((row[k] for k in TEXT_FIELDS if isinstance(row.get(k), str)), None)
    if not text or not str(text).strip():
        return None
    for key in LABEL_FIELDS:
        if key in row and row[key] not in (None, ""):
            label, binary = parse_label(row[key])
            return LabeledText(str(text).strip(), label, binary)
    for key in STAR_FIELDS:
        if key in row and row[key] not in (None, ""):
            return LabeledText(str(text).strip(), stars_to_label(float(str(row[key]))))
    raise ValueError("no label column (expected one of " + ", ".join(LABEL_FIELDS + STAR_FIELDS) + ")")


def _read_tsv(path: Path) -> Iterator[LabeledText]:
    with open_text(path) as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        return
    header = [h.strip() for h in rows[0]]
    if any(h in TEXT_FIELDS for h in header):
        for values in rows[1:]:
            example = _row_example(dict(zip(header, values, strict=False)))
            if example:
                yield example
        return
    # No header: "id<TAB>label<TAB>text" (SemEval Twitter) or "text<TAB>label".
    for values in rows:
        if len(values) >= 3:
            label, binary = parse_label(values[1])
            yield LabeledText(values[2].strip(), label, binary)
        elif len(values) == 2:
            label, binary = parse_label(values[1])
            yield LabeledText(values[0].strip(), label, binary)


def _read_tweeteval(path: Path) -> Iterator[LabeledText]:
    labels_path = path.with_name(path.name.replace("_text.txt", "_labels.txt"))
    if not labels_path.exists():
        raise InputError(f"{path}: expected its labels in {labels_path.name}")
    with open_text(path) as texts, open_text(labels_path) as labels:
        for text, label in zip(texts, labels, strict=True):
            yield LabeledText(text.strip(), int(label))


def read_labeled(path: Path) -> list[LabeledText]:
    """Read a labeled sentiment file; see the module docstring for the formats."""
    suffix = _base_suffix(path)
    try:
        if path.name.endswith("_text.txt"):
            return list(_read_tweeteval(path))
        if suffix == ".tsv":
            return list(_read_tsv(path))
        if suffix == ".csv":
            with open_text(path) as handle:
                return [e for row in csv.DictReader(handle) if (e := _row_example(row))]
        if suffix in (".jsonl", ".json", ".ndjson"):
            examples = []
            with open_text(path) as handle:
                for line in handle:
                    if line.strip() and (e := _row_example(json.loads(line))):
                        examples.append(e)
            return examples
    except (ValueError, KeyError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: {exc}") from exc
    raise InputError(
        f"{path}: unsupported labeled-data format {suffix or '(none)'}; use .tsv, .csv, .jsonl or *_text.txt"
    )


def read_semeval(path: Path) -> list[AspectSentence]:
    """Read SemEval-2014 (``aspectTerms``) or 2015/2016 (``Opinions`` with targets) ABSA XML."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - local, user-provided evaluation files
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"{path}: not a readable SemEval XML file ({exc})") from exc
    sentences = []
    for node in root.iter("sentence"):
        text = node.findtext("text") or ""
        terms = []
        for term in node.iter("aspectTerm"):
            terms.append(
                AspectTerm(
                    term.get("term", ""),
                    int(term.get("from", 0)),
                    int(term.get("to", 0)),
                    term.get("polarity", "neutral"),
                )
            )
        seen = set()
        for opinion in node.iter("Opinion"):  # 2015/2016: explicit targets only
            target = opinion.get("target")
            if not target or target == "NULL":
                continue
            key = (int(opinion.get("from", 0)), int(opinion.get("to", 0)))
            if key in seen:
                continue
            seen.add(key)
            terms.append(AspectTerm(target, key[0], key[1], opinion.get("polarity", "neutral")))
        sentences.append(AspectSentence(text, terms))
    return sentences
