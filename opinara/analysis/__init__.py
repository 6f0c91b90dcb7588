"""The analysis core: text in, results out. No database, no HTTP, no global state beyond loaded models."""

import os

# tldextract (used by Presidio's e-mail recognizer, and imported by YAKE's dependencies) fetches the
# public-suffix list from the internet unless this is set before it is first imported; empty means
# "use the snapshot shipped with the package".
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from opinara.analysis.schema import AnalysisResult

__all__ = ["AnalysisResult"]
