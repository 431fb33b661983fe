"""A UTF-8 feed's invalid bytes become U+FFFD where they are; other charsets are left to feedparser."""

from __future__ import annotations

import pytest

from digestbot.sources.encoding import declared_charset, replaced_warning, utf8_feed_body

FEED = (
    '<?xml version="1.0" encoding="UTF-8"?><rss><channel><item><title>監視入門</title></item></channel></rss>'
)


@pytest.mark.parametrize(
    ("content", "content_type", "charset"),
    [
        (FEED.encode(), "application/rss+xml; charset=utf-8", "utf-8"),
        (FEED.encode(), "application/rss+xml", "utf-8"),  # from the XML declaration
        (b"<rss/>", "", "utf-8"),  # XML's default
        (b'<?xml version="1.0" encoding="Shift_JIS"?><rss/>', "text/xml", "shift_jis"),
        (FEED.encode(), 'text/xml; charset="EUC-JP"', "euc_jp"),  # the header wins
    ],
)
def test_the_declared_charset_is_read_from_the_header_then_the_declaration(
    content: bytes, content_type: str, charset: str
) -> None:
    """Content-Type charset, else the XML declaration's encoding, else UTF-8."""
    assert charset == declared_charset(content, content_type)


def test_an_invalid_byte_is_replaced_in_place_and_counted() -> None:
    """One 0xFF in a title: that character becomes U+FFFD, the rest of the text is unchanged."""
    raw = FEED.encode().replace("視".encode(), b"\xe8\xff")
    body = utf8_feed_body(raw, "application/rss+xml")
    assert (2, FEED.replace("視", "\ufffd\ufffd")) == (body.replaced, body.content.decode("utf-8"))


def test_a_clean_feed_or_another_charset_is_passed_through_unchanged() -> None:
    """Valid UTF-8 and a Shift_JIS feed come back byte for byte, nothing replaced."""
    sjis = FEED.replace("UTF-8", "Shift_JIS").encode("shift_jis")
    assert [(FEED.encode(), 0), (sjis, 0)] == [
        (b.content, b.replaced) for b in (utf8_feed_body(FEED.encode(), ""), utf8_feed_body(sjis, ""))
    ]


def test_the_warning_names_the_spoiled_entries() -> None:
    """The entries holding U+FFFD are named by title."""
    entries = [{"title": "intact"}, {"title": "監\ufffd入門"}]
    assert "1 invalid UTF-8 byte sequence(s) shown as U+FFFD in 「監\ufffd入門」" in replaced_warning(
        1, entries
    )
