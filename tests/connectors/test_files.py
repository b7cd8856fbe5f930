"""detect_format / parse_document / read_any: recognise documents by content, read files, folders, URLs."""

from __future__ import annotations

import pytest

from connectors.document import detect_format, parse_document
from connectors.files import read_any
from newswatch.records import utcnow

from .conftest import Route

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>Hello</title>' \
      b'<link>https://example.com/1</link></item></channel></rss>'
NEWSML = b'<?xml version="1.0"?><!-- wire --><newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="g">' \
         b'<contentMeta><headline>Wire story</headline></contentMeta></newsItem>'
NDJSON = b'{"title": "line one"}\n{"title": "line two"}\n'


@pytest.mark.parametrize("body, kind", [
    (RSS, "feed"),
    (NEWSML, "newsml"),
    (NEWSML.decode().encode("utf-16"), "newsml"),
    (b'<g2:newsMessage xmlns:g2="http://iptc.org/std/nar/2006-10-01/"/>', "newsml"),
    (b"<conceptItem guid='c'/>", "newsml"),
    (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n<groupSet root="G1"/>', "newsml"),
    (NDJSON, "ndjson"),
    (b'\xef\xbb\xbf  {"title": "x"}', "ndjson"),
    (b'{\n  "version": "https://jsonfeed.org/version/1",\n  "items": []\n}', "feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "feed"),
    (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "feed"),
    (b"garbage", "feed"),
    (b"", "feed"),
])
def test_detect_format(body: bytes, kind: str) -> None:
    assert detect_format(body) == kind


def test_parse_document_reports_empty_input() -> None:
    doc = parse_document(b"\n\n", source_id="s", fetched_at=utcnow(), origin="x.ndjson", format="ndjson")
    assert doc.articles == [] and doc.dead_letters == [] and doc.problem == "empty document"


def test_read_any_file_folder_and_file_url(tmp_path, settings) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "BBC World.xml").write_bytes(RSS)
    (tmp_path / "sub" / "wire.xml").write_bytes(NEWSML)
    (tmp_path / "sub" / "lines.ndjson").write_bytes(NDJSON)
    (tmp_path / "sub" / ".hidden.xml").write_bytes(RSS)
    (tmp_path / "sub" / "partial.xml.part").write_bytes(RSS)
    (tmp_path / "notes.txt").write_text("not read when walking a folder")

    articles, dead = read_any(tmp_path / "BBC World.xml", settings=settings)
    assert [a.title for a in articles] == ["Hello"] and dead == [] and articles[0].source_id == "bbc-world"

    result = read_any(str(tmp_path), settings=settings)
    assert [r.origin for r in result.reports] == [str(tmp_path / "BBC World.xml"),
                                                  str(tmp_path / "sub" / "lines.ndjson"),
                                                  str(tmp_path / "sub" / "wire.xml")]
    assert [a.title for a in result.articles] == ["Hello", "line one", "line two", "Wire story"]
    assert [r.format for r in result.reports] == ["feed", "ndjson", "newsml"]
    assert {a.source_id for a in result.articles} == {"bbc-world", "lines", "wire"}

    by_url = read_any((tmp_path / "sub" / "wire.xml").as_uri(), settings=settings, source_id="mywire")
    assert [a.source_id for a in by_url.articles] == ["mywire"]


def test_read_any_reports_unreadable_inputs(tmp_path, settings) -> None:
    missing = read_any(tmp_path / "missing.xml", settings=settings)
    assert missing.articles == [] and missing.dead_letters == []
    assert missing.errors and "file not found" in missing.errors[0]
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert "no readable documents" in read_any(empty_dir, settings=settings).problems[0]


def test_read_any_http(feed_server, settings) -> None:
    feed_server.routes["/rss"] = Route(body=RSS)
    result = read_any(feed_server.url("/rss"), settings=settings)
    assert [a.title for a in result.articles] == ["Hello"]
    assert result.articles[0].source_id == "127.0.0.1"
    assert result.articles[0].feed_url == feed_server.url("/rss")
    failed = read_any(feed_server.url("/nope"), settings=settings)
    assert failed.articles == [] and "HTTP 404" in failed.errors[0]


def test_single_text_and_html_articles(tmp_path, settings) -> None:
    txt = tmp_path / "story.txt"
    txt.write_text("\n  Headline here\n\nFirst paragraph.\n\nSecond paragraph.\n", encoding="utf-8")
    articles, dead = read_any(txt, settings=settings)
    assert dead == [] and [a.title for a in articles] == ["Headline here"]
    assert articles[0].summary == "First paragraph.\n\nSecond paragraph."
    assert read_any(txt, settings=settings).articles[0].id == articles[0].id  # stable
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><html><head><title>Moscow talks</title></head><body><nav>Home | World</nav>"
                    "<article><h1>Moscow hosts talks</h1><p>" + "Russia hosted a delegation in Moscow on Friday. " * 8
                    + "</p></article></body></html>", encoding="utf-8")
    articles, dead = read_any(page, settings=settings)
    assert dead == [] and len(articles) == 1
    assert "Russia hosted a delegation" in articles[0].content and "Home | World" not in articles[0].content
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    articles, dead = read_any(empty, settings=settings)
    assert articles == [] and len(dead) == 1 and "empty" in dead[0].reason
