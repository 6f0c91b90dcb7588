"""Text as a reader sees it, from the HTML that services send (Mastodon ``content``, Reddit ``*_html``,
YouTube ``textDisplay``, feed descriptions): tags stripped, entities decoded, paragraphs and line breaks
kept as newlines, links kept as their URLs, scripts and styles dropped.

Written on the standard library's tokenizer: sanitizers (nh3, bleach) keep HTML, and html2text writes
Markdown; neither gives plain text with the link targets kept.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCKS = frozenset({"p", "div", "li", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr"})
_SKIPPED = frozenset({"script", "style", "head", "title", "noscript", "template"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._links: list[tuple[str | None, int]] = []  # (href, where its text starts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            shown = "".join(self.parts[start:]).strip()
            if shown.startswith(("@", "#")):
                return  # a mention or a hashtag reads as itself; its profile or tag page adds nothing
            if href and href.startswith(("http://", "https://")) and href.rstrip("/") not in shown:
                # Mastodon shortens the link text ("example.com/…"); the reader needs the URL itself.
                self.parts[start:] = [href if not shown or _looks_like_url(shown) else f"{shown} ({href})"]

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _looks_like_url(text: str) -> bool:
    return bool(re.match(r"^(https?://)?[\w.-]+\.[a-z]{2,}(/\S*)?…?$", text, re.IGNORECASE))


def html_text(markup: str) -> str:
    """Plain text of an HTML fragment (also fine on text that has no tags but has entities)."""
    if "<" not in markup and "&" not in markup:
        return markup.strip()
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def join_title(title: str | None, body: str | None) -> str:
    """A post's title with its body, as one text (either may be missing)."""
    parts = [part.strip() for part in (title, body) if part and part.strip()]
    if len(parts) == 2 and _starts_with_words(parts[1], parts[0]):
        return parts[1]  # feeds often repeat the title as the body's first line
    return "\n\n".join(parts)


def _starts_with_words(text: str, prefix: str) -> bool:
    """``text`` begins with ``prefix`` as whole words ("Good" begins "Good news", not "Goodness")."""
    if not text.startswith(prefix):
        return False
    rest = text[len(prefix) : len(prefix) + 1]
    return not rest or not (rest.isalnum() or rest == "_") or not (prefix[-1].isalnum() or prefix[-1] == "_")


def unescape(text: str) -> str:
    """Entities decoded (Reddit's JSON escapes ``&amp;`` in plain-text fields too)."""
    return html.unescape(text)
