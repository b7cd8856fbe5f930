"""Generated stories for index tests and benchmarks (deterministic per seed)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from newswatch.records import Entity, MatchedTerm, Story, TopicMatch

BASE = datetime(2024, 3, 1, tzinfo=timezone.utc)
SOURCES = [f"src-{i:02d}" for i in range(12)]
TOPICS = ["russia-taliban", "bounties", "elections", "climate", "markets"]
NAMED = {
    "PERSON": ["Mike Pompeo", "Maria Zakharova", "Sergei Lavrov", "Dmitry Peskov", "Vladimir Putin",
               "Joe Biden", "Zabihullah Mujahid", "Angela Merkel"],
    "ORG": ["Taliban", "Kremlin", "State Department", "NATO", "United Nations", "Reuters"],
    "GPE": ["Russia", "United States", "Afghanistan", "Moscow", "Kabul", "Doha", "Germany"],
    "NORP": ["Russian", "American", "Afghan"],
    "LOC": ["Middle East", "Hindu Kush"],
    "FAC": ["Bagram Airfield"],
    "EVENT": ["Doha talks", "World War II"],
    "PRODUCT": ["Su-57"],
    "WORK_OF_ART": ["War and Peace"],
}
WORDS = ("russia taliban bounty bounties troops payments kremlin denies arming wheat exports talks "
         "doha hunter bug program coalition soldiers militants officials report intelligence weapons "
         "election vote climate summit markets oil prices sanctions embassy statement").split()


def _zipf_pick(rng: random.Random, values: list[str]) -> str:
    weights = [1.0 / (i + 1) for i in range(len(values))]
    return rng.choices(values, weights)[0]


def make_story(i: int, rng: random.Random, *, prefix: str = "s") -> Story:
    words = [rng.choice(WORDS) for _ in range(rng.randint(20, 60))]
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    fetched = BASE + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
    published = None if rng.random() < 0.2 else fetched - timedelta(minutes=rng.randint(0, 600))
    entities = []
    for _ in range(rng.randint(0, 8)):
        label = rng.choice(list(NAMED))
        # extra generated names give a long tail; the named ones dominate (Zipf)
        pool = NAMED[label] + [f"{label.title()} Tail {k}" for k in range(15)]
        canon = _zipf_pick(rng, pool)
        surface = canon if rng.random() < 0.7 else canon.upper()
        entities.append(Entity(text=surface, label=label, canonical=canon, start=0, end=len(surface)))
        if rng.random() < 0.3:  # repeated mention of the same entity
            entities.append(Entity(text=surface, label=label, canonical=canon, start=5, end=5 + len(surface)))
    topics = tuple(TopicMatch(id=t, score=round(rng.random(), 3),
                              matched=(MatchedTerm(term=rng.choice(WORDS), field="text", start=0, end=3),))
                   for t in rng.sample(TOPICS, rng.choice([0, 0, 1, 1, 2])))
    return Story(id=f"{prefix}{i:06d}", source_id=_zipf_pick(rng, SOURCES), url=f"https://example.com/{prefix}/{i}",
                 title=title, summary="", content="", text=" ".join(words), fetched_at=fetched,
                 published=published, lang=rng.choice(["en", "en", "de", None]), entities=tuple(entities),
                 topics=topics, cluster_id=f"c{i // 3}", pipeline_version="test")


def make_stories(n: int, seed: int = 7, *, prefix: str = "s", start: int = 0) -> list[Story]:
    rng = random.Random(seed)
    return [make_story(i, rng, prefix=prefix) for i in range(start, start + n)]
