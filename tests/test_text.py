"""html_to_text / normalize_text: clean text from any HTML, never an exception."""

from __future__ import annotations

import pytest
from lxml import etree

from newswatch.text import element_to_text, html_to_text, looks_like_html, normalize_text


@pytest.mark.parametrize("html, expected", [
    ("<p>Hello&nbsp;<b>world</b> &amp; co</p><p>Second &eacute;t&eacute;</p>",
     "Hello world & co\n\nSecond été"),
    ("<div>a<br>b<script>alert(1)</script><style>p{color:red}</style>c</div>", "a\nbc"),
    ("<ul><li>one</li><li>two</li></ul>tail", "one\ntwo\n\ntail"),
    ("<p>unclosed <b>bold <i>italic", "unclosed bold italic"),
    ("a < b and c > d", "a < b and c > d"),
    ("&lt;p&gt;escaped&lt;/p&gt;", "<p>escaped</p>"),
    ("&#8220;quoted&#8221; &#x2014; dash", "“quoted” — dash"),
    ("<html><head><title>T</title></head><body><p>Body</p></body></html>", "Body"),
    ("<![CDATA[<b>inside</b>]]> after", "inside after"),
    ("<?xml version='1.0' encoding='utf-8'?><p>declared</p>", "declared"),
    ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
    ("<p>one</p>\n\n\n<p>two</p>", "one\n\ntwo"),
    ("text   with \t  spaces\n", "text with spaces"),
    ("<img src='x.jpg' alt='pic'/>Caption<iframe>no</iframe>", "Caption"),
    ("<p>Word<!-- comment -->s</p>", "Words"),
    ("<noscript>enable js</noscript><p>kept</p>", "kept"),
])
def test_html_to_text_cases(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize("value", [
    None, "", "   ", b"<p>bytes \xff</p>", 42, "<", "&", "<<<>>>", "\x00\x01\x02<p>x</p>",
    "\ud800 lone surrogate", "<" * 10_000, "<div>" * 5000 + "deep", "</p></p></div>",
    "<p>" + "x" * 200_000 + "</p>", "<script>never closed", "&#0; &#xD800; &#99999999;",
    "<?xml version='1.0' encoding='latin-1'?><a>é</a>", "\ufeff<p>bom</p>",
])
def test_html_to_text_never_raises(value: object) -> None:
    out = html_to_text(value)
    assert isinstance(out, str)
    assert "\x00" not in out


def test_deeply_nested_html_keeps_text() -> None:
    # libxml2 stops at 2048 levels; the regex fallback must keep the words anyway
    assert html_to_text("x" + "<div>" * 5000 + "deep") == "x deep"


def test_html_to_text_returns_nfc_and_no_controls() -> None:
    assert html_to_text("<p>Cafe\u0301\x07</p>") == "Café"


def test_normalize_text_single_and_multiline() -> None:
    assert normalize_text("  a\u00a0 b\n c\u200b ") == "a b c"
    assert normalize_text("Cafe\u0301") == "Café"
    assert normalize_text("l1  \n  l2\n\n\n\nl3", multiline=True) == "l1\nl2\n\nl3"
    assert normalize_text("a\u2029b") == "a b"
    assert normalize_text(None) == "" and normalize_text(b"x") == "x" and normalize_text(3) == "3"


def test_element_to_text_is_namespace_agnostic() -> None:
    root = etree.fromstring(
        b'<x:html xmlns:x="http://www.w3.org/1999/xhtml"><x:body><x:p>One</x:p><x:p>Two<x:br/>three</x:p>'
        b'<x:script>no</x:script></x:body></x:html>')
    assert element_to_text(root) == "One\n\nTwo\nthree"


def test_looks_like_html() -> None:
    assert looks_like_html("<p>x</p>") and looks_like_html("a &amp; b")
    assert not looks_like_html("a < b") and not looks_like_html("AT&T") and not looks_like_html("")
