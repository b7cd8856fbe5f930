"""Real outlet feeds: titles decode without mojibake, ids are stable across parses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from connectors.rss import parse_feed
from newswatch.records import utcnow

from ._data import NEWS, require_shared

#: (file name prefix, a title fragment that must decode exactly, expected language)
OUTLETS = [
    ("bbc-news-world--", "US civil rights leader Jesse Jackson dies aged 84", "en-gb"),
    ("dw-english--", "France arrests nine in right-wing activist's death", None),
    # Al Jazeera-like (no Al Jazeera file in the corpus): pan-African and South Asian outlets
    ("allafrica-latest--", "Africa: Ebola Has Gone From a Global Emergency", "en-us"),
    ("ndtv--", "\"Unrepentant Bigot\": Democrats Slam US Lawmaker", "en"),
    ("nyt-world--", "Trump Said He’d End the War in Ukraine in a Day.", "en-us"),
    ("dawn-world--", "India tells global tech platforms to follow constitution", "en-us"),
    ("golem-rss2--miniflux-v2--encoding_ISO-8859-1", "Red Dead Redemption 2: Hinweise auf PC-Umsetzung", "de"),
    ("golem-rdf--", "Digitalministerium: Neue Glasfaserförderung mit Schnellkasse", None),
    ("jn-pt--", "Mãe de utente é a nova presidente da Raríssimas", "pt-pt"),
    ("dailymail--", "Could the infamous Black Dahlia case be about to be solved?", "en-gb"),
    ("qq-news--", "习近平为何如此强调崇尚英雄？", "zh-cn"),
    ("aif-ru--", "СМИ: собака в Таиланде спасла заживо похороненного младенца", "ru-ru"),
    ("news18-hindi--", "कैसे फैला कोरोना वायरस, WHO की टीम करेगी चीनी अधिकारियों के साथ बैठक", "hi"),
]
MOJIBAKE = re.compile("Ã[\x80-\xbf]|â€|Â[\xa0-\xbf]|\ufffd|ï»¿|Ð[\x80-\xbf]")


def _file(prefix: str):
    require_shared(NEWS)
    matches = sorted(NEWS.glob(prefix + "*"))
    assert len(matches) == 1, prefix
    return matches[0]


@pytest.mark.parametrize("prefix, title, language", OUTLETS, ids=[o[0].rstrip("-") for o in OUTLETS])
def test_outlet_titles_decode_and_ids_are_stable(prefix: str, title: str, language: str | None) -> None:
    path = _file(prefix)
    body = path.read_bytes()
    now = utcnow()
    first = parse_feed(body, source_id="outlet", feed_url=None, fetched_at=now)
    second = parse_feed(body, source_id="outlet", feed_url=None, fetched_at=now + timedelta(hours=1))
    assert first.articles and first.dead_letters == []
    assert any(a.title.startswith(title) for a in first.articles), [a.title for a in first.articles[:3]]
    for article in first.articles:
        assert not MOJIBAKE.search(article.title + article.summary), article.title
        assert article.published is None or article.published.tzinfo is not None
    if language:
        assert first.articles[0].language == language
    assert [a.id for a in first.articles] == [a.id for a in second.articles]
    assert [a.content_hash() for a in first.articles] == [a.content_hash() for a in second.articles]


def test_no_mojibake_in_any_outlet_feed() -> None:
    require_shared(NEWS)
    for path in sorted(NEWS.iterdir()):
        if path.suffix not in (".xml", ".rss"):
            continue
        feed = parse_feed(path.read_bytes(), source_id="outlet", feed_url=None, fetched_at=utcnow())
        for article in feed.articles:
            text = article.title + "\n" + article.summary + "\n" + article.content
            assert not MOJIBAKE.search(text), (path.name, article.title)
            assert "&amp;" not in text and "<p>" not in text, (path.name, article.title)
