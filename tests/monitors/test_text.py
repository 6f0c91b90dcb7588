"""Reader text from the HTML services send: what a person would read, with the links they could follow."""

from __future__ import annotations

from opinara.monitors.text import html_text, join_title

# A Mastodon status "content" as the API returns it: paragraphs, a line break, a link whose text Mastodon
# shortened with invisible spans, a mention, a hashtag and an escaped ampersand.
MASTODON = (
    '<p>Tried the new <a href="https://shop.example.com/products/widget-2000?ref=fedi" rel="nofollow noopener" '
    'target="_blank"><span class="invisible">https://</span><span class="ellipsis">shop.example.com/products/wi'
    '</span><span class="invisible">dget-2000?ref=fedi</span></a> &amp; it&#39;s great<br>battery lasts days</p>'
    '<p>cc <span class="h-card" translate="no"><a href="https://mastodon.social/@bob" class="u-url mention">'
    '@<span>bob</span></a></span> <a href="https://mastodon.social/tags/gadgets" class="mention hashtag" '
    'rel="tag">#<span>gadgets</span></a></p>'
)


def test_mastodon_content_reads_as_paragraphs_with_the_full_link():
    assert html_text(MASTODON) == (
        "Tried the new https://shop.example.com/products/widget-2000?ref=fedi & it's great\n"
        "battery lasts days\n\n"
        "cc @bob #gadgets"
    )


def test_a_link_shortened_with_an_ellipsis_becomes_its_url():
    markup = '<p>see <a href="https://example.com/a/very/long/path">example.com/a/very/lo…</a></p>'
    assert html_text(markup) == "see https://example.com/a/very/long/path"


def test_a_link_with_words_keeps_the_words_and_the_url():
    assert html_text('<a href="https://example.com/r">my review</a>.') == "my review (https://example.com/r)."


def test_a_link_that_shows_its_own_url_is_not_repeated():
    markup = '<a href="https://example.com/">https://example.com</a>'
    assert html_text(markup) == "https://example.com"


def test_entities_are_decoded_and_scripts_dropped():
    markup = "<div>Fish &amp; chips &lt;3 &quot;ok&quot; &#8212; caf&eacute;<script>alert(1)</script></div>"
    assert html_text(markup) == 'Fish & chips <3 "ok" — café'


def test_plain_text_passes_through():
    assert html_text("  no markup here  ") == "no markup here"
    assert html_text("AT&amp;T") == "AT&T"


def test_a_javascript_link_keeps_only_its_words():
    assert html_text('<a href="javascript:alert(1)">click</a>') == "click"


def test_join_title_puts_the_title_before_the_body():
    assert join_title("Great phone", "Battery lasts two days.") == "Great phone\n\nBattery lasts two days."


def test_join_title_drops_a_title_the_body_repeats():
    assert join_title("Great phone", "Great phone: battery lasts two days.") == "Great phone: battery lasts two days."


def test_join_title_keeps_a_title_that_is_only_the_start_of_a_word():
    assert join_title("Good", "Goodness, what a phone") == "Good\n\nGoodness, what a phone"


def test_join_title_with_either_part_missing():
    assert join_title(None, " body ") == "body"
    assert join_title("title", "") == "title"
    assert join_title(None, None) == ""
