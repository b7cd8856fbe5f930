"""The pure pipeline stages and the real spaCy model on the canonical story."""

from __future__ import annotations

import json

import pytest

from newswatch.config import ConfigSet
from newswatch.process import Processor, RecordError, decode_article, prepare, story_text
from newswatch.records import RawArticle
from newswatch.settings import DEFAULT_MODEL

from .conftest import CONFIG, SEED_STORY, run_cli

CFG = ConfigSet.load(CONFIG)


def test_decode_rejects_future_schema_and_wrong_kind():
    a = RawArticle.create(source_id="s", title="t", url="https://e.com/x")
    data = json.loads(a.to_json())
    assert decode_article(a.to_json().encode()) == a
    with pytest.raises(RecordError, match="unsupported schema_version"):
        decode_article(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(RecordError, match="kind is 'alert'"):
        decode_article(json.dumps({**data, "kind": "alert"}))


def test_story_text_prefers_longer_body_and_keeps_summary_when_distinct():
    a = RawArticle.create(source_id="s", title="T", summary="<b>Short</b> lede.", content="<p>Long body text here.</p>",
                          url="https://e.com/y")
    assert story_text(a) == "T\n\nShort lede.\n\nLong body text here."
    b = RawArticle.create(source_id="s", title="T", summary="Same text", content="<p>Same text</p>", url="https://e.com/z")
    assert story_text(b) == "T\n\nSame text"


def test_prepare_sets_language_from_hint_or_text():
    a = RawArticle.create(source_id="s", title="Die Regierung hat die Reform beschlossen",
                          summary="und das ist nicht gut für die Stadt und die Leute", url="https://e.com/de")
    assert prepare(a).lang == "de"
    assert prepare(a.model_copy(update={"language": "en-GB"})).lang == "en"


@pytest.fixture(scope="module")
def processor() -> Processor:
    return Processor(model=DEFAULT_MODEL, entities=CFG.entities, topics=CFG.topics.topics)


def _article(title: str, summary: str) -> RawArticle:
    return RawArticle.create(source_id="t", title=title, summary=summary, url=f"https://e.com/{hash(title)}",
                             language="en")


@pytest.mark.slow
def test_seed_story_flags_both_topics_with_entities(processor):
    lines = SEED_STORY.read_text(encoding="utf-8").split("\n")
    [story], bad = processor.process([_article(lines[0], "\n".join(lines[1:]))])
    assert bad == []
    pairs = {(e.label, e.canonical) for e in story.entities}
    for person in ("Mike Pompeo", "Maria Zakharova", "Sergei Lavrov", "Dmitry Peskov"):
        assert ("PERSON", person) in pairs
    assert {("GPE", "Russia"), ("GPE", "Afghanistan"), ("ORG", "Taliban")} <= pairs
    assert ("ORG", "State") not in pairs  # "Secretary of State" is not an organisation
    assert {t.id for t in story.topics} == {"russia-taliban", "bounties"}
    from newswatch.fields import tokenize

    checked = 0
    for t in story.topics:
        for m in t.matched:
            if m.start >= 0 and m.field == "text":
                assert " ".join(tok.text for tok in tokenize(story.text[m.start:m.end])) == m.term
                checked += 1
    assert checked > 0


@pytest.mark.slow
@pytest.mark.parametrize("title,summary", [
    ("Russian wheat exports hit record", "Russia shipped record volumes of wheat to Egypt and Turkey, Moscow traders said."),
    ("Taliban and US envoys meet in Doha", "The Taliban and American negotiators resumed talks in Qatar on prisoner releases."),
    ("Bounty hunter show returns", "The TV bounty hunter is back for a new season chasing fugitives across Texas."),
    ("Bug bounty payouts soar", "Tech firms paid record bug bounties to hackers who found flaws in their software."),
])
def test_near_misses_flag_nothing(processor, title, summary):
    [story], _ = processor.process([_article(title, summary)])
    assert story.topics == ()


@pytest.mark.slow
def test_match_cli_on_seed_story():
    proc = run_cli("match", str(SEED_STORY))
    [obj] = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    ents = {(e["label"], e["canonical"]) for e in obj["entities"]}
    for person in ("Mike Pompeo", "Maria Zakharova", "Sergei Lavrov", "Dmitry Peskov"):
        assert ("PERSON", person) in ents
    assert ("GPE", "Russia") in ents and ("GPE", "Afghanistan") in ents
    assert any(label in ("ORG", "NORP") and name == "Taliban" for label, name in ents)
    topics = {t["id"]: t for t in obj["topics"]}
    assert set(topics) == {"russia-taliban", "bounties"}
    assert all(t["score"] > 0 and t["matched"] for t in topics.values())
    assert {"id", "title", "entities", "topics"} <= set(obj)
