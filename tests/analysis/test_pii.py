import pytest

from opinara.analysis.pii import PiiDetector, redact


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector()


def found(detector: PiiDetector, text: str) -> dict[str, str]:
    [entities] = detector([text])
    return {e.type: text[e.start : e.end] for e in entities}


def test_finds_contact_details_and_names(detector: PiiDetector):
    text = "Ask Maria Gonzalez at maria.g@example.org or call 212-555-0143 from 10.0.0.7."
    assert found(detector, text) == {
        "PERSON": "Maria Gonzalez",
        "EMAIL": "maria.g@example.org",
        "PHONE": "212-555-0143",
        "IP_ADDRESS": "10.0.0.7",
    }


def test_finds_payment_and_identity_numbers(detector: PiiDetector):
    text = (
        "My card 4111 1111 1111 1111 was charged twice; refund to IBAN GB82WEST12345698765432. My SSN is 536-22-8726."
    )
    entities = found(detector, text)
    assert entities["CREDIT_CARD"] == "4111 1111 1111 1111"
    assert entities["IBAN"] == "GB82WEST12345698765432"
    assert entities["US_SSN"] == "536-22-8726"


def test_redaction_replaces_each_entity_with_its_type(detector: PiiDetector):
    text = "Email bob@example.com about order 7."
    [entities] = detector([text])
    assert redact(text, entities) == "Email <EMAIL> about order 7."


def test_text_without_pii_finds_nothing(detector: PiiDetector):
    assert detector(["The zipper broke after a week."]) == [[]]
