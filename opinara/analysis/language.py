"""Language identification with lingua, restricted to the configured languages."""

from __future__ import annotations

import re

from opinara.analysis.schema import Language
from opinara.errors import InputError

_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
# Below this many letters lingua's guess is little better than chance among similar languages.
CONFIDENT_LETTERS = 40


class LanguageDetector:
    """``language.lingua.v1``: ISO 639-1 code and a confidence that shrinks on very short texts."""

    name = "language.lingua.v1"

    def __init__(self, languages: list[str]) -> None:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        try:
            codes = [getattr(IsoCode639_1, code.upper()) for code in languages]
        except AttributeError as exc:
            raise InputError(f"unknown language code in {languages!r}: {exc}") from exc
        if len(codes) == 1:
            self._only = languages[0]
            self._detector = None
        else:
            self._only = None
            self._detector = (
                LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_preloaded_language_models().build()
            )

    def __call__(self, texts: list[str]) -> list[Language]:
        letters = [len(_LETTERS.findall(text[:2000])) for text in texts]
        if self._detector is None:
            return [Language(code=self._only, confidence=1.0 if n else 0.0) for n in letters]
        results: list[Language] = []
        todo = [i for i, n in enumerate(letters) if n >= 2]
        confidences = self._detector.compute_language_confidence_values_in_parallel([texts[i][:2000] for i in todo])
        best = {i: values[0] for i, values in zip(todo, confidences, strict=True) if values}
        for i, n in enumerate(letters):
            value = best.get(i)
            if value is None:
                results.append(Language(code=None, confidence=0.0))
                continue
            shrink = min(1.0, n / CONFIDENT_LETTERS)
            results.append(
                Language(code=value.language.iso_code_639_1.name.lower(), confidence=round(value.value * shrink, 4))
            )
        return results
