"""parse_feed(): RSS/Atom/RDF/JSON Feed bytes to articles and dead letters, never an exception."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from connectors.rss import parse_feed

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=timezone.utc)


def parse(body: bytes | str, **kw):
    if isinstance(body, str):
        body = body.encode("utf-8")
    kw.setdefault("source_id", "test")
    kw.setdefault("feed_url", "https://example.com/news/feed.xml")
    kw.setdefault("fetched_at", NOW)
    return parse_feed(body, **kw)


def rss(items: str, channel_extra: str = "", encoding: str = "utf-8") -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>T</title>'
            f'<link>https://example.com/</link>{channel_extra}{items}</channel></rss>')


def test_rss_item_fields() -> None:
    feed = parse(rss("""
      <item><title>Russia denies arming the Taliban</title>
        <link>https://example.com/a?utm_source=rss&amp;id=7</link>
        <guid isPermaLink="false">story-7</guid>
        <description>&lt;p&gt;Moscow &amp;amp; Kabul&lt;/p&gt;&lt;p&gt;Second&lt;/p&gt;</description>
        <pubDate>Tue, 17 Feb 2026 20:19:37 -0500</pubDate>
        <category>World</category><category>Asia</category>
        <author>reporter@example.com (Jane Doe)</author>
      </item>""", "<language>en-GB</language>"))
    assert feed.problem is None and feed.dead_letters == []
    (a,) = feed.articles
    assert a.title == "Russia denies arming the Taliban"
    assert a.url == "https://example.com/a?id=7"            # tracking parameter dropped
    assert a.guid == "story-7"
    assert a.summary == "Moscow & Kabul\n\nSecond"
    assert a.published == datetime(2026, 2, 18, 1, 19, 37, tzinfo=timezone.utc)
    assert a.published.tzinfo is not None
    assert a.language == "en-gb" and a.tags == ("World", "Asia")
    assert a.authors == ("Jane Doe",)
    assert a.source_id == "test" and a.feed_url == "https://example.com/news/feed.xml"
    assert a.fetched_at == NOW


def test_cdata_and_entities_and_content_encoded() -> None:
    feed = parse(rss("""
      <item xmlns:content="http://purl.org/rss/1.0/modules/content/">
        <title><![CDATA[Caf&eacute; &amp; <b>Bar</b>]]></title>
        <link>https://example.com/cafe</link>
        <description><![CDATA[<p>Short &ndash; summary</p><script>x()</script>]]></description>
        <content:encoded><![CDATA[<p>Long body one.</p><p>Long body two &copy; 2026.</p>]]></content:encoded>
      </item>"""))
    (a,) = feed.articles
    assert a.title == "Café & Bar"
    assert a.summary == "Short – summary"
    assert a.content == "Long body one.\n\nLong body two © 2026."


def test_largest_content_value_wins_and_duplicate_of_summary_dropped() -> None:
    feed = parse("""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
      <entry><id>tag:x,2026:1</id><title>One</title><summary>Same text</summary>
        <content type="html">&lt;p&gt;Same text&lt;/p&gt;</content></entry>
      <entry><id>tag:x,2026:2</id><title>Two</title>
        <content type="text">short</content></entry></feed>""")
    one, two = feed.articles
    assert one.summary == "Same text" and one.content == ""
    assert two.content == "short" or two.summary == "short"


def test_relative_links_resolve_against_feed_url_and_xml_base() -> None:
    feed = parse(rss("<item><title>R</title><link>/story/1</link></item>"))
    assert feed.articles[0].url == "https://example.com/story/1"
    atom = parse("""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example.org/dir/">
      <title>A</title><entry><title>E</title><link rel="alternate" href="item.html"/></entry></feed>""")
    assert atom.articles[0].url == "https://base.example.org/dir/item.html"


def test_relative_link_resolves_against_channel_link_for_local_files() -> None:
    feed = parse(rss("<item><title>R</title><link>/story/1</link></item>"), feed_url="/local/feed.xml")
    assert feed.articles[0].url == "https://example.com/story/1"


def test_relative_link_without_any_http_base_falls_back_to_guid_id() -> None:
    body = '<rss version="2.0"><channel><title>T</title><item><title>R</title><link>/story/1</link>' \
           '<guid>g-1</guid></item></channel></rss>'
    (a,) = parse(body, feed_url="/local/feed.xml").articles
    assert a.url is None and a.guid == "g-1"


def test_alternate_link_beats_enclosure_text() -> None:
    feed = parse("""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><title>E</title>
      <link rel="alternate" type="text/html" href="https://example.com/page"/>
      <link rel="enclosure" type="image/jpeg">https://img.example.com/x.jpg</link></entry></feed>""")
    assert feed.articles[0].url == "https://example.com/page"


def test_missing_dates_are_none_and_future_dates_ignored() -> None:
    soon = (NOW + timedelta(hours=20)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    later = (NOW + timedelta(days=30)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    feed = parse(rss(f"""<item><title>none</title></item>
      <item><title>soon</title><pubDate>{soon}</pubDate></item>
      <item><title>later</title><pubDate>{later}</pubDate></item>
      <item><title>garbage</title><pubDate>yesterday-ish</pubDate></item>
      <item><title>updated only</title><atom:updated xmlns:atom="http://www.w3.org/2005/Atom">2026-02-01T10:00:00+02:00</atom:updated></item>
      <item><title>odd format</title><pubDate>Sat, Dec 16 2023 02:02:33 PM</pubDate></item>"""))
    by_title = {a.title: a.published for a in feed.articles}
    assert by_title["none"] is None and by_title["garbage"] is None
    assert by_title["soon"] is not None and by_title["later"] is None
    assert by_title["updated only"] == datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)
    assert by_title["odd format"].date() == datetime(2023, 12, 16).date()   # feedparser ignores "PM"


def test_encodings_declared_in_xml() -> None:
    body = rss("<item><title>Glasfaserförderung für Mütter</title></item>", encoding="ISO-8859-1")
    feed = parse(body.encode("iso-8859-1"))
    assert feed.articles[0].title == "Glasfaserförderung für Mütter"
    gb = rss("<item><title>习近平为何如此强调崇尚英雄</title></item>", encoding="gb2312")
    assert parse(gb.encode("gb2312")).articles[0].title == "习近平为何如此强调崇尚英雄"


def test_charset_from_http_headers() -> None:
    body = rss("<item><title>Ação</title></item>").replace('encoding="utf-8"', "").encode("iso-8859-1")
    feed = parse(body, response_headers={"Content-Type": "application/rss+xml; charset=ISO-8859-1"})
    assert feed.articles[0].title == "Ação"


def test_language_from_xml_lang_then_feed_then_hint() -> None:
    atom = parse("""<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr"><title>A</title>
      <entry xml:lang="de"><title>Deutsch</title></entry><entry><title>Français</title></entry></feed>""")
    assert [a.language for a in atom.articles] == ["de", "fr"]
    hinted = parse(rss("<item><title>x</title></item>"), language_hint="en_US")
    assert hinted.articles[0].language == "en-us"


def test_entries_without_text_become_dead_letters_with_the_entry() -> None:
    feed = parse(rss("<item><title>ok</title></item><item><guid>only-a-guid</guid></item>"))
    assert len(feed.articles) == 1
    (dead,) = feed.dead_letters
    assert dead.stage == "parse" and "entry only-a-guid" in dead.reason and "no title, summary or content" in dead.reason
    assert json.loads(dead.payload)["id"] == "only-a-guid"
    assert dead.source == "test"


def test_broken_xml_is_recovered_with_a_problem() -> None:
    feed = parse(rss("<item><title>Fish & Chips</title><link>https://e.com/a?x=1&y=2</link></item>"))
    assert feed.articles and feed.articles[0].title == "Fish & Chips"
    assert feed.problem and "not well-formed" in feed.problem


@pytest.mark.parametrize("body, reason", [
    (b"", "empty document"),
    (b"<html><head><title>Login</title></head><body><p>Sign in</p></body></html>", "an HTML page"),
    (b"Internal Server Error", "not a feed"),
    (b"<?xml version='1.0'?><catalog><book>x</book></catalog>", "no RSS, Atom, RDF or CDF structure"),
    (b'{"not": "a json feed"}', "not a JSON Feed"),
    (b"{broken json", "not a feed"),
])
def test_unparseable_documents_become_one_dead_letter(body: bytes, reason: str) -> None:
    feed = parse(body)
    assert feed.articles == []
    (dead,) = feed.dead_letters
    assert dead.stage == "parse" and reason in dead.reason
    assert dead.payload == body.decode("utf-8", "replace")


def test_unparseable_payload_is_truncated_to_1mb() -> None:
    feed = parse(b"garbage " * 200_000)
    (dead,) = feed.dead_letters
    assert len(dead.payload) < 1_000_100 and "truncated" in dead.payload


def test_feed_with_zero_entries_is_a_problem_not_a_dead_letter() -> None:
    feed = parse(rss(""))
    assert feed.articles == [] and feed.dead_letters == []
    assert feed.problem == "feed has no entries" and feed.title == "T"


def test_ids_are_stable_across_parses_and_fetch_times() -> None:
    body = rss("<item><title>a</title><link>https://e.com/1</link></item><item><title>b</title><guid>g2</guid></item>")
    first = [a.id for a in parse(body).articles]
    second = [a.id for a in parse(body, fetched_at=NOW + timedelta(hours=3)).articles]
    assert first == second and len(set(first)) == 2


def test_extra_tags_are_appended() -> None:
    feed = parse(rss("<item><title>a</title><category>World</category></item>"), extra_tags=("russia", "world"))
    assert feed.articles[0].tags == ("World", "russia")


def test_json_feed() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1", "title": "J", "language": "en",
        "home_page_url": "https://example.org/",
        "items": [
            {"id": "2", "title": "post 2", "content_text": "Plain text.", "url": "https://example.org/2",
             "tags": ["a", "b"], "date_published": "2026-02-17T10:00:00-05:00", "authors": [{"name": "me"}]},
            {"id": 1, "content_html": "<p>Hello, <b>world</b>!</p><script>alert()</script>", "url": "/1"},
            {"id": "3"},
            "not an object",
        ],
    }
    feed = parse(json.dumps(doc))
    assert feed.version.startswith("json")
    two, one = feed.articles
    assert two.title == "post 2" and two.content == "Plain text." and two.tags == ("a", "b")
    assert two.published == datetime(2026, 2, 17, 15, 0, tzinfo=timezone.utc) and two.authors == ("me",)
    assert one.content == "Hello, world!" and one.url == "https://example.org/1" and one.guid == "1"
    assert one.language == "en"
    assert len(feed.dead_letters) == 2
