import numpy as np
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from opinara.analysis.sentiment.lexicon import LexiconBackend, compound_to_probs
from opinara.demo import load_demo_reviews
from tests.conftest import require_shared


@pytest.fixture(scope="module")
def backend() -> LexiconBackend:
    return LexiconBackend(neutral_band=0.05)


def test_compound_matches_vader_on_demo_reviews(backend: LexiconBackend):
    vader = SentimentIntensityAnalyzer()
    texts = [r.text for r in load_demo_reviews()] + [
        "I love it 😍",
        "not bad at all!!!",
        "The WORST. Kind of ok though.",
    ]
    for text in texts:
        compound, _, _ = backend.vader.scores_and_valences(text)
        assert compound == vader.polarity_scores(text)["compound"], text


def test_positive_beats_negative_exactly_when_compound_is_positive():
    for compound in np.linspace(-1, 1, 41):
        probs = compound_to_probs(float(compound), 0.05)
        assert probs.sum() == pytest.approx(1.0)
        assert (probs[2] > probs[0]) == (compound > 0) or compound == 0


def test_neutral_band_makes_weak_compounds_neutral():
    assert compound_to_probs(0.03, 0.05).argmax() == 1
    assert compound_to_probs(0.2, 0.05).argmax() == 2
    assert compound_to_probs(-0.2, 0.05).argmax() == 0


def test_explanation_points_at_the_words_vader_scored(backend: LexiconBackend):
    text = "The screen is not good, but the battery is great."
    [prediction] = backend.predict([text], [[(0, len(text))]])
    weights = {text[s:e]: w for s, e, w in prediction.word_weights}
    assert weights["great"] > 0
    assert weights["good"] < 0  # negated by "not"
    assert set(weights) == {"good", "great"}


def test_sentences_get_their_own_scores(backend: LexiconBackend):
    text = "I love the color. I hate the smell."
    [prediction] = backend.predict([text], [[(0, 17), (18, 35)]])
    assert prediction.sentence_probs[0].argmax() == 2
    assert prediction.sentence_probs[1].argmax() == 0


def test_lexicon_accuracy_equals_vader_package_on_sst2_dev(lexicon_analyzer):
    from opinara.evaluation.runner import evaluate_sentiment
    from opinara.training.datasets import read_labeled

    data = read_labeled(require_shared("sst2", "dev.tsv"))
    vader = SentimentIntensityAnalyzer()
    vader_correct = sum((vader.polarity_scores(e.text)["compound"] >= 0) == (e.label == 2) for e in data)
    report = evaluate_sentiment(lexicon_analyzer, data)
    assert report["accuracy"] == round(vader_correct / len(data), 4)
