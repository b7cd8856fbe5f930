"""Generated topics (benchmarks): valid, deterministic, and matched exactly by the prefilter."""

from __future__ import annotations

import random

import pytest

from newswatch.topics import MatchDoc, TopicMatcher
from newswatch.topics.compile import threshold_groups
from newswatch.topics.generate import generate_topics, vocabulary_from_docs
from newswatch.topics.matcher import DocIndex
from newswatch.topics.parse import parse_query

WORDS = ("russia taliban weapons bounty troops kremlin moscow talks doha wheat exports sanctions embassy "
         "militants payments coalition soldiers intelligence statement election minister pipeline border "
         "drones ceasefire refugees aid famine harvest markets").split()
ENTS = [("GPE", "Russia"), ("ORG", "Taliban"), ("PERSON", "Sergei Lavrov"), ("GPE", "United States"),
        ("NORP", "Afghan"), ("ORG", "GRU")]


def docs(n: int, seed: int = 3) -> list[MatchDoc]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 80)))
        title = " ".join(rng.choice(WORDS) for _ in range(5))
        out.append(MatchDoc(id=f"d{i}", title=title, text=text, source=rng.choice(["bbc", "tass"]), lang="en",
                            entities=tuple(rng.sample(ENTS, rng.randint(0, 4)))))
    return out


def test_generated_topics_parse_and_are_deterministic():
    vocab = vocabulary_from_docs(docs(40), max_df=1.0)
    a = generate_topics(300, vocab, seed=5)
    assert a == generate_topics(300, vocab, seed=5) and a != generate_topics(300, vocab, seed=6)
    assert len({t.id for t in a}) == 300
    for t in a:
        parse_query(t.query)
        if t.exclude:
            parse_query(t.exclude)
    assert any(t.min_score for t in a) and any(t.exclude for t in a) and any("*" in t.query for t in a)
    assert any('"~' in t.query or '"~' in t.query.replace('" ~', '"~') for t in a)


def test_prefilter_is_exact_on_generated_topics():
    corpus = docs(60)
    vocab = vocabulary_from_docs(corpus, max_df=1.0)
    matcher = TopicMatcher.compile(generate_topics(1500, vocab, seed=9))
    fired = candidates = 0
    for d in corpus:
        fast = matcher.match(DocIndex(d))
        assert fast == matcher.match_all_naive(DocIndex(d)), d.id
        fired += len(fast)
        candidates += len(matcher.candidates(DocIndex(d)))
    # a 30-word vocabulary makes most topics candidates; the prefilter still skips a good share
    assert fired > 100 and candidates < 0.75 * 1500 * len(corpus)


@pytest.mark.parametrize("query, min_score, expected", [
    ("a^3 OR b^2 OR c", 4, ([3.0, 2.0, 1.0], 4.0)),
    ("(a^3 OR b^2)^2", 6, ([3.0, 2.0], 3.0)),          # a top-level boost scales the threshold
    ("a OR (NOT b)^5 OR c", 2, ([1.0, 1.0], 2.0)),     # NOT scores nothing: no weight
    ("a OR (+(-b) c)", 2, ([1.0], 1.0)),               # an alternative without anchors counts as given
    ("a OR b", 0.5, ([1.0, 1.0], 0.5)),
    ("a^3 OR b", 0, None), ("a AND b", 2, None), ("NOT a", 1, None),
])
def test_threshold_groups(query, min_score, expected):
    got = threshold_groups(parse_query(query), min_score)
    if expected is None:
        assert got is None or got[2] <= 0
        return
    groups, weights, need = got
    assert (list(weights), need) == expected and len(groups) == len(weights)
