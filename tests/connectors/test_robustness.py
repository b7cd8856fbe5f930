"""The pure parsers never raise: truncated, bit-flipped and spliced real documents."""

from __future__ import annotations

import random

import pytest

from connectors.document import detect_format, parse_document
from connectors.ndjson import parse_ndjson
from connectors.newsml import parse_newsml
from connectors.rss import parse_feed
from newswatch.records import utcnow
from newswatch.text import html_to_text

from ._data import NEWS, NEWSML, require_shared

SAMPLES = ["bbc-news-world--", "qq-news--", "jn-pt--", "theverge--", "golem-rdf--"]
G2_SAMPLES = ["LISTING_2_", "LISTING_24_", "LISTING_3_"]


def mutations(body: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        data = bytearray(body)
        kind = rng.randrange(4)
        if kind == 0:
            data = data[: rng.randrange(len(data) + 1)]
        elif kind == 1:
            for _ in range(rng.randrange(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2:
            start = rng.randrange(len(data))
            data[start:start] = data[rng.randrange(len(data)):][:500]
        else:
            data = bytearray(b"\x00" * rng.randrange(3)) + data[rng.randrange(len(data)):]
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_mutated_feeds_never_raise(seed: int) -> None:
    require_shared(NEWS)
    rng = random.Random(seed)
    now = utcnow()
    for prefix in SAMPLES:
        (path,) = NEWS.glob(prefix + "*")
        for body in mutations(path.read_bytes()[:20_000], rng, 8):
            feed = parse_feed(body, source_id="fuzz", feed_url="https://e.com/f", fetched_at=now)
            assert feed.articles or feed.dead_letters or feed.problem
            doc = parse_document(body, source_id="fuzz", fetched_at=now, origin="x", format=detect_format(body))
            assert doc.articles or doc.dead_letters or doc.problem
            html_to_text(body.decode("utf-8", "replace"))


@pytest.mark.parametrize("seed", range(3))
def test_mutated_newsml_and_ndjson_never_raise(seed: int) -> None:
    require_shared(NEWSML)
    rng = random.Random(seed)
    now = utcnow()
    for prefix in G2_SAMPLES:
        (path,) = NEWSML.glob(prefix + "*")
        for body in mutations(path.read_bytes(), rng, 20):
            articles, dead = parse_newsml(body, source_id="fuzz", fetched_at=now, origin="x")
            assert articles or dead
    lines = b'{"title": "a", "url": "https://e.com/1", "tags": ["x"]}\n{"kind": "raw_article", "id": "1"}\n'
    for body in mutations(lines * 5, rng, 50):
        parse_ndjson(body, source_id="fuzz", fetched_at=now, origin="x")
