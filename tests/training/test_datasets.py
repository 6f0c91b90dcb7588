import gzip
import json

import pytest

from opinara.errors import InputError
from opinara.training.datasets import NEGATIVE, NEUTRAL, POSITIVE, read_labeled, read_semeval, stars_to_label


def test_tsv_with_header_and_binary_labels(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\na lovely little film \t1\na dull mess \t0\n")
    examples = read_labeled(path)
    assert [(e.text, e.label, e.binary) for e in examples] == [
        ("a lovely little film", POSITIVE, True),
        ("a dull mess", NEGATIVE, True),
    ]


def test_headerless_tsv_with_id_label_text(tmp_path):
    path = tmp_path / "tweets.tsv"
    path.write_text("1\tpositive\tloving the new update\n2\tneutral\tupdate is out today\n")
    assert [(e.label, e.binary) for e in read_labeled(path)] == [(POSITIVE, False), (NEUTRAL, False)]


def test_jsonl_star_ratings_map_to_three_classes(tmp_path):
    path = tmp_path / "reviews.jsonl.gz"
    rows = [
        {"reviewText": "Broke in a day", "overall": 1.0},
        {"reviewText": "It is fine", "overall": 3},
        {"reviewText": "Love it", "overall": 5},
    ]
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    assert [e.label for e in read_labeled(path)] == [NEGATIVE, NEUTRAL, POSITIVE]


def test_csv_with_word_labels(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('text,sentiment\n"Great, really great",Positive\nMeh,neutral\n')
    assert [e.label for e in read_labeled(path)] == [POSITIVE, NEUTRAL]


def test_tweeteval_text_with_sibling_labels(tmp_path):
    (tmp_path / "val_text.txt").write_text("so happy today\nugh mondays\n")
    (tmp_path / "val_labels.txt").write_text("2\n0\n")
    assert [e.label for e in read_labeled(tmp_path / "val_text.txt")] == [POSITIVE, NEGATIVE]


def test_star_rule_edges():
    assert [stars_to_label(s) for s in (1, 2, 2.5, 3, 3.5, 4, 5)] == [0, 0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError):
        stars_to_label(7)


def test_bad_label_names_the_file(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("sentence\tlabel\nfine\tmaybe\n")
    with pytest.raises(InputError, match=r"bad\.tsv"):
        read_labeled(path)


def test_semeval_2014_xml(tmp_path):
    path = tmp_path / "absa.xml"
    path.write_text(
        '<?xml version="1.0"?><sentences><sentence id="1"><text>The pasta was bland but the staff were kind.</text>'
        '<aspectTerms><aspectTerm term="pasta" polarity="negative" from="4" to="9"/>'
        '<aspectTerm term="staff" polarity="positive" from="28" to="33"/></aspectTerms></sentence>'
        '<sentence id="2"><text>Nothing else.</text></sentence></sentences>'
    )
    first, second = read_semeval(path)
    assert [(t.term, first.text[t.start : t.end], t.polarity) for t in first.terms] == [
        ("pasta", "pasta", "negative"),
        ("staff", "staff", "positive"),
    ]
    assert second.terms == []


def test_semeval_2016_opinions_skip_null_targets(tmp_path):
    path = tmp_path / "absa16.xml"
    path.write_text(
        "<Reviews><Review><sentences><sentence><text>Great sushi.</text><Opinions>"
        '<Opinion target="sushi" category="FOOD#QUALITY" polarity="positive" from="6" to="11"/>'
        '<Opinion target="NULL" category="RESTAURANT#GENERAL" polarity="positive" from="0" to="0"/>'
        "</Opinions></sentence></sentences></Review></Reviews>"
    )
    [sentence] = read_semeval(path)
    assert [(t.term, t.start, t.end) for t in sentence.terms] == [("sushi", 6, 11)]


def test_unreadable_xml_is_an_input_error(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text("<sentences><sentence>")
    with pytest.raises(InputError):
        read_semeval(path)
