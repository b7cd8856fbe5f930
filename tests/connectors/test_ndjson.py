"""parse_ndjson(): one JSON object per line; bad lines are dead letters with their line number."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from connectors.ndjson import parse_ndjson
from newswatch.records import RawArticle, Story

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=timezone.utc)


def parse(lines: list[str | bytes], **kw):
    body = b"\n".join(x.encode("utf-8") if isinstance(x, str) else x for x in lines)
    return parse_ndjson(body, source_id="wire", fetched_at=NOW, origin="drop.ndjson", **kw)


def test_simple_objects_with_aliases() -> None:
    articles, dead = parse([
        json.dumps({"title": "<b>Pompeo</b> &amp; Lavrov", "link": "https://e.com/1?utm_source=x",
                    "description": "<p>One</p><p>Two</p>", "body": "Full text.", "pubDate": "2026-02-17T10:00:00Z",
                    "id": "g-1", "lang": "EN", "keywords": ["russia", {"name": "taliban"}], "author": "Bob"}),
        json.dumps({"headline": "Epoch", "published": 1771322400}),
    ])
    assert dead == []
    first, second = articles
    assert first.title == "Pompeo & Lavrov" and first.url == "https://e.com/1"
    assert first.summary == "One\n\nTwo" and first.content == "Full text."
    assert first.guid == "g-1" and first.language == "en" and first.tags == ("russia", "taliban")
    assert first.authors == ("Bob",) and first.source_id == "wire" and first.feed_url == "drop.ndjson"
    assert first.published == datetime(2026, 2, 17, 10, 0, tzinfo=timezone.utc)
    assert second.published == datetime(2026, 2, 17, 10, 0, tzinfo=timezone.utc)


def test_full_records_keep_their_identity() -> None:
    raw = RawArticle.create(source_id="bbc", title="T", url="https://bbc.co.uk/x", fetched_at=NOW)
    story = Story.from_article(RawArticle.create(source_id="dw", title="S", fetched_at=NOW), text="S")
    articles, dead = parse([raw.to_json(), story.to_json()])
    assert dead == []
    assert articles[0] == raw and articles[1].source_id == "dw" and articles[1].id == story.id


def test_bad_lines_are_dead_letters_with_line_numbers() -> None:
    articles, dead = parse([
        '{"title": "ok"}',
        "",
        "not json",
        "[1, 2]",
        '{"url": "https://e.com/no-text"}',
        b'{"title": "\xff\xfe"}',
        '{"kind": "raw_article", "id": "x", "source_id": "s", "fetched_at": "yesterday", "title": "t"}',
        '{"title": "fine too", "published": "not a date"}',
    ])
    assert [a.title for a in articles] == ["ok", "fine too"] and articles[1].published is None
    reasons = [d.reason for d in dead]
    assert reasons[0].startswith("drop.ndjson:3: not valid JSON")
    assert reasons[1] == "drop.ndjson:4: expected a JSON object, got list"
    assert reasons[2] == "drop.ndjson:5: object has no title, summary or content"
    assert reasons[3].startswith("drop.ndjson:6: line is not valid UTF-8")
    assert reasons[4].startswith("drop.ndjson:7: invalid article: fetched_at")
    assert dead[1].payload == "[1, 2]" and all(d.stage == "parse" and d.source == "wire" for d in dead)


def test_bom_crlf_and_language_hint() -> None:
    body = b'\xef\xbb\xbf{"title": "a"}\r\n{"title": "b", "language": "fr"}\r\n'
    articles, dead = parse_ndjson(body, source_id="w", fetched_at=NOW, origin="x", language_hint="de")
    assert dead == [] and [(a.title, a.language) for a in articles] == [("a", "de"), ("b", "fr")]
