"""parse_newsml(): NewsML-G2 items to articles; non-story items to dead letters that say why."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.newsml import parse_newsml

from ._data import NEWSML, require_shared

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=timezone.utc)
G2 = 'xmlns="http://iptc.org/std/nar/2006-10-01/"'


def parse(body: str | bytes, origin: str = "test.xml", **kw):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return parse_newsml(body, source_id="wire", fetched_at=NOW, origin=origin, **kw)


def news_item(inner: str, guid: str = "urn:newsml:example.com:1", ns: str = G2, lang: str = "en") -> str:
    return f'<newsItem {ns} guid="{guid}" version="3" xml:lang="{lang}">{inner}</newsItem>'


STORY = """
  <itemMeta><itemClass qcode="ninat:text"/><versionCreated>2026-02-17T16:25:32-05:00</versionCreated>
    <firstCreated>2026-02-17T15:00:00Z</firstCreated><pubStatus qcode="stat:usable"/>
    <link rel="irel:seeAlso" href="https://wire.example.com/stories/1"/></itemMeta>
  <contentMeta>
    <language tag="en-GB"/>
    <creator><name>Jane Doe</name></creator>
    <subject qcode="medtop:1"><name xml:lang="de">Politik</name><name xml:lang="en">politics</name></subject>
    <subject qcode="medtop:2"/>
    <keyword>Kremlin</keyword><keyword>Taliban</keyword>
    <slugline>RUSSIA-TALIBAN</slugline>
    <headline>Russia denies arming the <span>Taliban</span></headline>
    <description role="drol:summary">Moscow rejects &amp; dismisses the report.</description>
  </contentMeta>
  <contentSet><inlineXML contenttype="application/xhtml+xml">
    <html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head>
      <body><p>Paragraph one.</p><p>Paragraph <b>two</b>.</p><script>bad()</script></body></html>
  </inlineXML></contentSet>"""


def test_news_item_with_xhtml_body() -> None:
    (a,), dead = parse(news_item(STORY))
    assert dead == []
    assert a.title == "Russia denies arming the Taliban"
    assert a.summary == "Moscow rejects & dismisses the report."
    assert a.content == "Paragraph one.\n\nParagraph two."
    assert a.guid == "urn:newsml:example.com:1" and a.url == "https://wire.example.com/stories/1"
    assert a.language == "en-gb" and a.authors == ("Jane Doe",)
    assert a.tags == ("politics", "Kremlin", "Taliban")
    assert a.published == datetime(2026, 2, 17, 15, 0, tzinfo=timezone.utc)
    assert a.source_id == "wire" and a.feed_url == "test.xml"


def test_namespace_agnostic() -> None:
    with_ns, _ = parse(news_item(STORY))
    without_ns, _ = parse(news_item(STORY, ns=""))
    prefixed, _ = parse(news_item(STORY).replace("<", "<g2:").replace("<g2:/", "</g2:")
                        .replace(G2, 'xmlns:g2="http://iptc.org/std/nar/2006-10-01/"'))
    assert with_ns[0].title == without_ns[0].title == prefixed[0].title
    assert with_ns[0].content == without_ns[0].content


def test_nitf_body_and_inline_data() -> None:
    nitf = news_item("""<contentMeta><headline>H</headline></contentMeta><contentSet>
      <inlineXML contenttype="application/nitf+xml"><nitf xmlns="http://iptc.org/std/NITF/2006-10-18/"><body>
        <body.head><hedline><hl1>H</hl1></hedline><byline>By X</byline></body.head>
        <body.content><p>First.</p><p>Second.</p></body.content></body></nitf></inlineXML></contentSet>""")
    (a,), _ = parse(nitf)
    assert a.content == "First.\n\nSecond."
    data = news_item("""<contentMeta><headline>H</headline></contentMeta><contentSet>
      <inlineData contenttype="text/plain">Plain   wire
      text.</inlineData></contentSet>""")
    (b,), _ = parse(data)
    assert b.content == "Plain wire\ntext."


def test_news_message_with_several_items() -> None:
    doc = f"""<newsMessage {G2}><header><sent>2026-02-17T11:17:00Z</sent></header><itemSet>
      {news_item(STORY, guid="g1", ns="")}
      {news_item("<contentMeta><headline>Second story</headline></contentMeta>", guid="g2", ns="")}
      <packageItem guid="p1"><groupSet root="G1"/></packageItem>
      {news_item("<itemMeta><itemClass qcode='ninat:text'/></itemMeta>", guid="g3", ns="")}
    </itemSet></newsMessage>"""
    articles, dead = parse(doc)
    assert [a.guid for a in articles] == ["g1", "g2"]
    assert len(dead) == 2
    assert "packageItem p1 carries no story text" in dead[0].reason
    assert "newsItem g3 carries no story text (no headline, description or body)" in dead[1].reason
    assert dead[0].payload.startswith("<packageItem")


@pytest.mark.parametrize("root, words", [
    ("conceptItem", "NewsML-G2 conceptItem c1 carries no story text"),
    ("planningItem", "NewsML-G2 planningItem c1 carries no story text"),
    ("knowledgeItem", "NewsML-G2 knowledgeItem c1 carries no story text"),
    ("packageItem", "NewsML-G2 packageItem c1 carries no story text"),
])
def test_items_without_story_text_are_dead_letters(root: str, words: str) -> None:
    articles, (dead,) = parse(f'<{root} {G2} guid="c1"><contentMeta/></{root}>', origin="drop/x.xml")
    assert articles == []
    assert dead.stage == "parse" and dead.reason.startswith("drop/x.xml: ") and words in dead.reason


def test_sports_statistics_without_text_name_the_payload_type() -> None:
    doc = news_item("""<contentSet><inlineXML contenttype="application/sportsml+xml">
      <sports-content><team score="3"/></sports-content></inlineXML></contentSet>""")
    articles, (dead,) = parse(doc)
    assert articles == [] and "inlineXML holds application/sportsml+xml data, not story text" in dead.reason


def test_withdrawn_story_is_a_dead_letter() -> None:
    doc = news_item("<itemMeta><pubStatus qcode='stat:canceled'/></itemMeta>"
                    "<contentMeta><headline>Killed</headline></contentMeta>")
    articles, (dead,) = parse(doc)
    assert articles == [] and "withdrawn" in dead.reason


@pytest.mark.parametrize("body, words", [
    (b"<newsItem><unclosed></newsItem>", "not well-formed XML"),
    (b"", "not well-formed XML"),
    (b"\xff\xfe garbage", "not well-formed XML"),
    (b"<rss version='2.0'/>", "root element <rss> is not a newsItem or newsMessage (not NewsML-G2)"),
    (b"<contentMeta><headline>x</headline></contentMeta>", "(a NewsML-G2 fragment)"),
    (f"<newsMessage {G2}><header/></newsMessage>".encode(), "newsMessage carries no items"),
])
def test_broken_documents_are_dead_letters(body: bytes, words: str) -> None:
    articles, (dead,) = parse(body)
    assert articles == [] and words in dead.reason


def test_parser_does_not_expand_entities_or_touch_the_network() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">
      <!ENTITY ext SYSTEM "file:///etc/passwd">]>
      <newsItem guid="x"><contentMeta><headline>&lol2;&ext;</headline></contentMeta></newsItem>"""
    articles, dead = parse(bomb)
    text = " ".join(a.title for a in articles) + " ".join(d.payload for d in dead)
    assert "root:" not in text and "lollollol" not in text


def test_language_hint_and_date_fallbacks() -> None:
    doc = '<newsItem guid="h"><itemMeta><versionCreated> 2018-10-12T06:42:04Z </versionCreated></itemMeta>' \
          '<contentMeta><headline>x</headline></contentMeta></newsItem>'
    (a,), _ = parse(doc, language_hint="de")
    assert a.language == "de" and a.published == datetime(2018, 10, 12, 6, 42, 4, tzinfo=timezone.utc)


def test_all_iptc_samples() -> None:
    folder = require_shared(NEWSML)
    files = sorted(folder.glob("*.xml"))
    assert len(files) == 24
    results = {f.name: parse(f.read_bytes(), origin=f.name) for f in files}
    for name, (articles, dead) in results.items():
        assert articles or dead, name
        for d in dead:
            assert d.reason.startswith(name) and d.payload
    with_text = {n for n, (a, _) in results.items() if a}
    assert with_text == {
        "LISTING_21_A_complete_sample_SportsML-G2_document.xml",
        "LISTING_26_Embedded_photo_metadata_fields_mapped_to_NewsML-G2.xml",
        "LISTING_27_Company_Financial_Information.xml",
        "LISTING_2_NewsML-G2_Text_Document.xml",
        "LISTING_3_Photo_in_NewsML-G2.xml",
        "LISTING_4_Multiple_Renditions_of_a_Video_in_NewsML-G2.xml",
        "facet-example-3.xml",
    }
    (fed,), _ = results["LISTING_2_NewsML-G2_Text_Document.xml"]
    assert fed.title == 'Fed to halt QE to avert "bubble"' and fed.language == "en-us"
    assert fed.content.startswith("(New York, NY - October 21) Et, sent luptat") and "\n\n" in fed.content
    assert "central bank" in fed.tags and fed.authors == ("Meredith Jameson",)
    assert fed.guid == "urn:newsml:acmenews.com:20161121:US-FINANCE-FED"
    (concept,) = results["LISTING_10_Abstract_Concept_conveyed_in_a_NewsML-G2_Concept_Item.xml"][1]
    assert "NewsML-G2 conceptItem" in concept.reason and "carries no story text" in concept.reason
    message = results["LISTING_24_News_Message_conveying_a_complete_News_Package.xml"]
    assert message[0] == [] and len(message[1]) == 5
