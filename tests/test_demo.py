"""The demo data (samples/) and the demo feed server (newswatch.demo)."""

from __future__ import annotations

import http.client
import logging
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
import yaml

from newswatch.config import FeedsFile, load_model
from newswatch.demo import (DemoFeedServer, DemoItem, load_demo_items, outlet_name, parse_story_file,
                            render_rss, write_demo_config)
from newswatch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED_SEED = ROOT.parent / "shared" / "data" / "seed-story.txt"
OUTLETS = {"harbor-herald", "meridian-wire", "northgate-times", "plains-courier"}
DEFAULT_TOPICS = {"russia-taliban", "bounties"}
T0 = datetime(2024, 3, 5, 12, 0, 0, tzinfo=timezone.utc)

# A sentence: starts with a letter/digit/quote, ends with . ! or ? (optionally inside quotes).
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”']))\s+(?=[\"“A-Z0-9])")
_RUSSIA = re.compile(r"\b(Russia|Russian|Moscow|Kremlin|Lavrov|Peskov|Zakharova|Kabulov|GRU)\b")
_TALIBAN = re.compile(r"\bTaliban\b")
_BOUNTY = re.compile(r"\b(bounty|bounties|payments? for killing)\b", re.I)
_TROOPS = re.compile(r"\b(troops|soldiers|service members|servicemen)\b", re.I)


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if re.search(r"[A-Za-z].*[.!?][\"”']?$", s)]


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def items() -> list[DemoItem]:
    return load_demo_items(SAMPLES)


def get(server: DemoFeedServer, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def visible_guids(server: DemoFeedServer) -> set[str]:
    guids: set[str] = set()
    for url in server.feed_urls().values():
        status, _h, body = get(server, urlsplit(url).path)
        assert status == 200
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        guids |= {e.id for e in parsed.entries}
    return guids


# ---------------------------------------------------------------- sample data
def test_seed_story_is_a_verbatim_copy() -> None:
    if not SHARED_SEED.exists():
        pytest.skip("../shared/data/seed-story.txt not present")
    assert (SAMPLES / "seed-story.txt").read_bytes() == SHARED_SEED.read_bytes()


def test_sample_yaml_loads_with_the_planned_mix(items: list[DemoItem]) -> None:
    assert 30 <= len(items) <= 45
    cats = Counter(i.category for i in items)
    assert cats["seed"] == 1 and cats["syndicated"] == 2 and cats["broken"] == 1
    assert 7 <= cats["topic"] <= 10
    assert cats["near-miss"] >= 8
    assert cats["general"] >= 10
    assert {i.source for i in items} == OUTLETS
    assert len({i.id for i in items}) == len(items)
    assert len({i.url for i in items}) == len(items)
    assert all(i.language == "en" for i in items)
    assert all(i.published_offset_min <= 0 for i in items)
    # The header says it is sample data.
    head = (SAMPLES / "demo-items.yaml").read_text(encoding="utf-8")[:600]
    assert "SAMPLE DATA" in head


def test_every_item_has_a_sentence_and_a_valid_url(items: list[DemoItem]) -> None:
    for item in items:
        parts = urlsplit(item.url)
        assert parts.scheme == "https" and parts.hostname == f"{item.source}.example", item.id
        assert len(parts.path) > 1 and " " not in item.url, item.id
        if item.category == "broken":
            assert not item.title and not item.summary
            continue
        assert item.title.strip(), item.id
        assert len(sentences(item.summary)) >= 1, item.id


def test_short_items_have_two_to_four_sentences(items: list[DemoItem]) -> None:
    for item in items:
        if item.category in ("topic", "near-miss", "general"):
            n = len(sentences(item.summary))
            assert 2 <= n <= 4, f"{item.id}: {n} sentences"


def test_expectations_name_default_topics_and_fit_the_words(items: list[DemoItem]) -> None:
    """A lexical sanity check of each item's `expect` (the real check runs the matcher)."""
    for item in items:
        assert set(item.expect) <= DEFAULT_TOPICS, item.id
        text = f"{item.title}\n{item.summary}"
        rt = bool(_RUSSIA.search(text) and _TALIBAN.search(text))
        bounty = bool(_BOUNTY.search(text) and _TROOPS.search(text))
        if "russia-taliban" in item.expect:
            assert rt, f"{item.id} expects russia-taliban but lacks Russia+Taliban words"
        else:
            assert not rt, f"{item.id} has Russia and Taliban words but does not expect russia-taliban"
        if "bounties" in item.expect:
            assert bounty, f"{item.id} expects bounties but lacks bounty+troops words"
        if item.category in ("seed", "topic", "syndicated"):
            assert item.expect, item.id
        else:
            assert item.expect == (), item.id
    firing = [i for i in items if i.expect]
    assert len(firing) >= 8
    assert any(set(i.expect) == {"russia-taliban"} for i in firing)
    assert any(set(i.expect) == {"bounties"} for i in firing)
    # Near misses share a topic's words without its meaning.
    near = " ".join(f"{i.title} {i.summary}" for i in items if i.category == "near-miss").lower()
    for word in ("bug bounty", "bounty hunter", "wolf", "wheat", "doha", "ukraine", "reward"):
        assert word in near, word


def test_seed_item_comes_from_the_seed_story(items: list[DemoItem]) -> None:
    text = (SAMPLES / "seed-story.txt").read_text(encoding="utf-8")
    headline, paragraphs, tags, caption = parse_story_file(text)
    assert headline == text.splitlines()[0]
    seed = [i for i in items if i.category == "seed"]
    assert len(seed) == 1
    seed_item = seed[0]
    assert seed_item is items[0], "the seed story is released first"
    assert seed_item.title == headline == "Pompeo Never Complained About Russian Weapon Sales to Taliban, Moscow Says"
    assert seed_item.source == "meridian-wire"
    assert seed_item.paragraphs == paragraphs and len(paragraphs) == 12
    assert seed_item.paragraphs[0].startswith("Russia has rejected U.S. allegations")
    assert "Getty" not in seed_item.summary and caption.endswith("Getty")
    assert seed_item.tags == tags and "Taliban" in tags
    assert set(seed_item.expect) == DEFAULT_TOPICS


def test_syndicated_rewrites_reuse_seed_paragraphs(items: list[DemoItem]) -> None:
    seed = next(i for i in items if i.category == "seed")
    synd = [i for i in items if i.category == "syndicated"]
    assert len(synd) == 2
    for s in synd:
        assert s.duplicate_of == seed.id
        assert s.source != seed.source and s.title != seed.title
        assert 3 <= len(s.paragraphs) < len(seed.paragraphs)
        assert all(p in seed.paragraphs for p in s.paragraphs), s.id
    assert synd[0].source != synd[1].source


def test_invalid_items_name_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "demo-items.yaml").write_text(
        "items:\n  - id: x1\n    source: harbor-herald\n    title: T\n    summary: S.\n"
        "    url: https://elsewhere.example/a\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_demo_items(tmp_path)
    assert "demo-items.yaml:2" in str(exc.value) and "harbor-herald.example" in str(exc.value)
    (tmp_path / "demo-items.yaml").write_text("items:\n  - id: x1\n    sorce: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean 'source'"):
        load_demo_items(tmp_path)


# ------------------------------------------------------------------------ RSS
def test_rss_renders_and_parses_back(items: list[DemoItem]) -> None:
    for outlet in sorted(OUTLETS):
        mine = [i for i in items if i.source == outlet]
        body = render_rss(outlet_name(outlet), f"https://{outlet}.example/", mine, T0,
                          self_url=f"http://127.0.0.1:1/feeds/{outlet}.xml")
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "rss20"
        assert parsed.feed.title == outlet_name(outlet)
        by_link = {e.link: e for e in parsed.entries}
        assert set(by_link) == {i.url for i in mine}
        for item in mine:
            e = by_link[item.url]
            assert e.get("title", "") == item.title
            assert e.id == item.guid and e.guidislink is False
            assert e.published_parsed is not None
            assert parsedate_to_datetime(e.published) == (T0 + timedelta(minutes=item.published_offset_min)).replace(microsecond=0)
            if item.summary:
                assert e.summary.startswith("<p>") and item.paragraphs[0][:40] in e.summary
        # newest first
        dates = [parsedate_to_datetime(e.published) for e in parsed.entries]
        assert dates == sorted(dates, reverse=True)


def test_rss_escapes_markup_and_drops_invalid_characters() -> None:
    item = DemoItem(id="x", source="harbor-herald", title="Fish & <Chips> \"R&D\" \x01 café",
                    summary="A <b>bold</b> claim & more.\n\nSecond ]]> paragraph.",
                    url="https://harbor-herald.example/a?b=1&c=2", tags=("A&B",))
    body = render_rss("H & H", "https://harbor-herald.example/", [item], T0)
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    e = parsed.entries[0]
    assert e.title == 'Fish & <Chips> "R&D"  café'
    assert e.link == "https://harbor-herald.example/a?b=1&c=2"
    assert "&lt;b&gt;bold&lt;/b&gt;" in e.summary and e.summary.count("<p>") == 2
    assert parsed.feed.title == "H & H" and e.tags[0].term == "A&B"
    with pytest.raises(ValueError):
        render_rss("x", "https://x.example/", [item], T0.replace(tzinfo=None))


def test_rss_of_broken_item_is_well_formed(items: list[DemoItem]) -> None:
    broken = next(i for i in items if i.category == "broken")
    parsed = feedparser.parse(render_rss("N", "https://n.example/", [broken], T0))
    assert not parsed.bozo and len(parsed.entries) == 1
    assert parsed.entries[0].get("title", "") == "" and parsed.entries[0].get("summary", "") == ""


# --------------------------------------------------------------------- server
def test_server_releases_items_over_time(items: list[DemoItem], caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="newswatch.demo")
    server = DemoFeedServer(items, duration_s=30.0, start_count=3, clock=clock)
    assert server.released_count() == 0 and not server.all_released()
    with server:
        assert set(server.feed_urls()) == OUTLETS
        assert all(u.startswith(server.url + "/feeds/") and u.endswith(".xml") for u in server.feed_urls().values())
        assert visible_guids(server) == {i.guid for i in items[:3]}
        status, headers, body = get(server, "/")
        assert status == 200 and headers["content-type"].startswith("text/html")
        for url in server.feed_urls().values():
            assert url.encode() in body
        assert f"Released 3/{len(items)} items".encode() in body

        clock.advance(10.0)
        seen = visible_guids(server)
        assert 3 < len(seen) < len(items)
        expected = 3 + (len(items) - 3) * 10 // 30
        assert abs(len(seen) - expected) <= 1
        assert seen == {i.guid for i in items[: len(seen)]}, "released in list order"
        assert not server.all_released()

        clock.advance(20.0)
        assert server.all_released()
        assert visible_guids(server) == {i.guid for i in items}
        status, _h, body = get(server, "/status.json")
        assert status == 200 and b'"all_released": true' in body
    messages = [r.getMessage() for r in caplog.records]
    assert f"demo: released 3/{len(items)} items" in messages
    assert f"demo: released {len(items)}/{len(items)} items" in messages


def test_server_answers_304_when_unchanged(items: list[DemoItem]) -> None:
    clock = FakeClock()
    with DemoFeedServer(items, duration_s=30.0, start_count=3, clock=clock) as server:
        path = "/feeds/meridian-wire.xml"
        status, h1, body1 = get(server, path)
        assert status == 200 and h1["content-type"].startswith("application/rss+xml")
        etag = h1["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        status, h2, body = get(server, path, {"If-None-Match": etag})
        assert status == 304 and body == b"" and h2["etag"] == etag
        status, _h, _b = get(server, path, {"If-None-Match": '"something-else"'})
        assert status == 200
        # HEAD: headers, no body.
        status, h3, body = get(server, path, method="HEAD")
        assert status == 200 and body == b"" and h3["etag"] == etag

        # Advance until a meridian-wire item is released: new ETag, new body.
        idx = next(i for i, it in enumerate(items) if i >= 3 and it.source == "meridian-wire")
        clock.advance(server.release_offset_s(idx) + 0.01)
        status, h4, body4 = get(server, path, {"If-None-Match": etag})
        assert status == 200 and h4["etag"] != etag and len(body4) > len(body1)
        # If-Modified-Since with the Last-Modified we sent (once its second is over).
        clock.advance(1.0)
        status, h5, _b = get(server, path)
        lm = h5["last-modified"]
        status, _h, _b = get(server, path, {"If-Modified-Since": lm})
        assert status == 304
        status, _h, _b = get(server, path, {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert status == 200
        # If-None-Match wins over If-Modified-Since.
        status, _h, _b = get(server, path, {"If-None-Match": '"stale"', "If-Modified-Since": lm})
        assert status == 200
        # Unknown paths.
        assert get(server, "/feeds/nope.xml")[0] == 404
        assert get(server, "/etc/passwd")[0] == 404


def test_feed_unchanged_between_releases_of_other_outlets(items: list[DemoItem]) -> None:
    clock = FakeClock()
    with DemoFeedServer(items, duration_s=30.0, start_count=3, clock=clock) as server:
        # Find two consecutive releases where the second is not harbor-herald.
        _s, h, _b = get(server, "/feeds/harbor-herald.xml")
        before = h["etag"]
        idx = next(i for i in range(3, len(items)) if items[i].source != "harbor-herald")
        clock.advance(server.release_offset_s(idx) + 0.01)
        if not any(it.source == "harbor-herald" for it in items[3: idx + 1]):
            assert get(server, "/feeds/harbor-herald.xml", {"If-None-Match": before})[0] == 304


def test_server_zero_duration_and_defaults(items: list[DemoItem]) -> None:
    server = DemoFeedServer(items[:5], duration_s=0.0)
    with server:
        assert server.all_released()
        assert len(visible_guids(server)) == 5
    server.stop()  # twice is fine
    with pytest.raises(ValueError):
        DemoFeedServer([])


def test_server_on_real_clock_with_feedparser_conditional_get(items: list[DemoItem]) -> None:
    """End to end with the system clock and feedparser's own HTTP client."""
    with DemoFeedServer(items, duration_s=1.0, start_count=2) as server:
        url = server.feed_urls()["meridian-wire"]
        deadline = time.monotonic() + 10
        while not server.all_released() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.all_released()
        first = feedparser.parse(url)
        assert first.status == 200 and len(first.entries) == sum(i.source == "meridian-wire" for i in items)
        again = feedparser.parse(url, etag=first.etag)
        assert again.status == 304


# --------------------------------------------------------------------- config
def test_write_demo_config(tmp_path: Path, items: list[DemoItem]) -> None:
    src = tmp_path / "config"
    src.mkdir()
    (src / "topics.yaml").write_text("topics: []\n", encoding="utf-8")
    (src / "alerts.yaml").write_text("console: true\n", encoding="utf-8")
    (src / "feeds.yaml").write_text("feeds: [{id: real, url: 'https://example.org/rss'}]\n", encoding="utf-8")
    server = DemoFeedServer(items)
    try:
        dest = write_demo_config(src, tmp_path / "demo-config", server.feed_urls(), interval_s=2)
    finally:
        server.stop()
    assert dest == tmp_path / "demo-config"
    assert (dest / "topics.yaml").read_text() == "topics: []\n"
    assert (dest / "alerts.yaml").exists() and not (dest / "entities.yaml").exists()
    feeds = load_model(dest / "feeds.yaml", FeedsFile, missing_ok=False)
    assert feeds.defaults.interval == 2
    assert {f.id for f in feeds.feeds} == OUTLETS
    assert all(f.url.startswith(server.url) and f.language == "en" for f in feeds.feeds)
    assert feeds.wire == ()
    raw = yaml.safe_load((dest / "feeds.yaml").read_text())
    assert set(raw) == {"defaults", "feeds", "wire"}


def test_write_demo_config_from_repo_config_and_url_list(tmp_path: Path) -> None:
    urls = ["http://127.0.0.1:9/feeds/harbor-herald.xml", "http://127.0.0.1:9/feeds/plains-courier.xml"]
    dest = write_demo_config(ROOT / "config", tmp_path / "d", urls, interval_s=1.5)
    feeds = load_model(dest / "feeds.yaml", FeedsFile)
    assert [f.id for f in feeds.feeds] == ["harbor-herald", "plains-courier"]
    assert feeds.defaults.interval == 1.5
    for name in ("topics.yaml", "entities.yaml", "alerts.yaml"):
        if (ROOT / "config" / name).exists():
            assert (dest / name).read_bytes() == (ROOT / "config" / name).read_bytes()


# ------------------------------------------------- through the real connector
def _articles_from_demo(items: list[DemoItem]) -> tuple[list, list]:
    rss = pytest.importorskip("connectors.rss")
    articles, dead = [], []
    for outlet in sorted(OUTLETS):
        body = render_rss(outlet_name(outlet), f"https://{outlet}.example/", [i for i in items if i.source == outlet], T0)
        parsed = rss.parse_feed(body, source_id=outlet, feed_url=f"http://127.0.0.1:1/feeds/{outlet}.xml",
                                fetched_at=T0 + timedelta(minutes=1))
        assert parsed.problem is None, parsed.problem
        articles += parsed.articles
        dead += parsed.dead_letters
    return articles, dead


def test_connector_turns_demo_feeds_into_articles_and_one_dead_letter(items: list[DemoItem]) -> None:
    articles, dead = _articles_from_demo(items)
    assert len(articles) == len(items) - 1
    assert len(dead) == 1 and "no title" in dead[0].reason
    by_url = {a.url: a for a in articles}
    seed = items[0]
    a = by_url[seed.url]
    assert a.title == seed.title and a.source_id == "meridian-wire"
    assert "Zakharova" in a.summary and a.published is not None


@pytest.mark.slow
def test_demo_expectations_hold_in_the_pipeline(items: list[DemoItem]) -> None:
    """Every item fires exactly the topics in its `expect` with the default config."""
    pytest.importorskip("newswatch.topics.matcher")
    from newswatch.config import ConfigSet
    from newswatch.errors import ModelNotFoundError
    from newswatch.process import Processor
    from newswatch.settings import Settings

    cfg = ConfigSet.load(ROOT / "config")
    try:
        proc = Processor(model=Settings().spacy_model, entities=cfg.entities, topics=cfg.topics.topics)
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))
    articles, _dead = _articles_from_demo(items)
    stories, bad = proc.process(articles)
    assert not bad
    expect = {i.url: set(i.expect) for i in items}
    wrong = {s.url: (sorted(t.id for t in s.topics), sorted(expect[s.url])) for s in stories
             if {t.id for t in s.topics} != expect[s.url]}
    assert not wrong, wrong


def test_connector_fetch_gets_304_from_demo_server(items: list[DemoItem]) -> None:
    http_mod = pytest.importorskip("connectors.http")
    clock = FakeClock()
    with DemoFeedServer(items, duration_s=30.0, clock=clock) as server:
        url = server.feed_urls()["northgate-times"]
        first = http_mod.fetch(url, timeout_s=5)
        assert first.status == "ok" and first.etag
        again = http_mod.fetch(url, etag=first.etag, last_modified=first.last_modified, timeout_s=5)
        assert again.status == "not-modified"
        clock.advance(30.0)
        later = http_mod.fetch(url, etag=first.etag, last_modified=first.last_modified, timeout_s=5)
        assert later.status == "ok" and later.etag != first.etag
