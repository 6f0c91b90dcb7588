import pytest

from opinara.analysis.language import LanguageDetector
from opinara.errors import InputError


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(["en", "es", "fr", "de", "it", "pt", "nl"])


def test_detects_configured_languages(detector: LanguageDetector):
    found = detector(
        [
            "The battery lasts all day and the screen is bright enough outdoors.",
            "La batería dura todo el día y la pantalla se ve muy bien al aire libre.",
            "Die Akkulaufzeit ist hervorragend und der Bildschirm ist sehr hell.",
        ]
    )
    assert [f.code for f in found] == ["en", "es", "de"]
    assert all(f.confidence > 0.5 for f in found)


def test_very_short_texts_get_low_confidence(detector: LanguageDetector):
    [short] = detector(["Great!"])
    assert short.confidence < 0.3


def test_texts_without_letters_have_no_language(detector: LanguageDetector):
    [digits] = detector(["12345 !!!"])
    assert digits.code is None and digits.confidence == 0.0


def test_unknown_language_code_is_an_input_error():
    with pytest.raises(InputError, match="unknown language code"):
        LanguageDetector(["en", "xx"])
