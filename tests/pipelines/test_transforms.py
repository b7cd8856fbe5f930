"""The pipeline's transforms on TestPipeline with assert_that: stories, alerts and
dead letters come out of ProcessArticles as the pure stages say."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_not_empty

from newswatch.config import ConfigSet
from newswatch.records import RawArticle
from newswatch.settings import DEFAULT_MODEL
from pipelines.transforms import DEAD, DecodeFn, PrepareFn, ProcessArticles, all_dead_letters

from ..conftest import CONFIG, SEED_STORY

pytestmark = pytest.mark.slow
CFG = ConfigSet.load(CONFIG)


def _msg(i: int, article: RawArticle) -> tuple[int, str, bytes]:
    return (i, article.id, article.to_json().encode())


def seed_article() -> RawArticle:
    lines = SEED_STORY.read_text(encoding="utf-8").split("\n")
    return RawArticle.create(source_id="test", title=lines[0], summary="\n".join(lines[1:]),
                             url="https://example.com/seed", language="en")


def test_decode_splits_bad_payloads_to_dead_letters():
    good = RawArticle.create(source_id="s", title="Hello", url="https://e.com/1")
    with TestPipeline(runner="FnApiRunner") as p:
        out = (p | beam.Create([(1, good.id, good.to_json().encode()), (2, "k", b"\xff not json"),
                                (3, "k", b"[1, 2]"), (4, "k", b'{"kind": "raw_article", "id": "x"}')])
               | beam.ParDo(DecodeFn()).with_outputs(DEAD, main="ok"))
        assert_that(out.ok | "ids" >> beam.Map(lambda a: a.id), equal_to([good.id]), label="good")
        assert_that(out[DEAD] | "reasons" >> beam.Map(lambda d: (d.stage, d.reason.split(":")[0])),
                    equal_to([("decode", "payload is not UTF-8"), ("decode", "payload is JSON list, expected an object"),
                              ("decode", "invalid RawArticle")]), label="dead")
        assert_that(out[DEAD] | "payloads" >> beam.Map(lambda d: d.payload[:7]),
                    equal_to(["\ufffd not j", "[1, 2]", '{"kind"']), label="payload kept")


def test_prepare_rejects_articles_without_text_after_cleaning():
    empty = RawArticle.create(source_id="s", title="<p> </p>", url="https://e.com/2")
    ok = RawArticle.create(source_id="s", title="Title", summary="<p>Body &amp; more</p>", url="https://e.com/3")
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([empty, ok]) | beam.ParDo(PrepareFn()).with_outputs(DEAD, main="ok")
        assert_that(out.ok | beam.Map(lambda s: (s.text, s.lang)), equal_to([("Title\n\nBody & more", None)]))
        assert_that(out[DEAD] | "r" >> beam.Map(lambda d: d.reason),
                    equal_to(["article has no text after HTML cleaning"]), label="dead")


def test_process_articles_flags_seed_story_and_dead_letters_poison():
    seed = seed_article()
    miss = RawArticle.create(source_id="s", title="Bug bounty programme pays hackers",
                             summary="A software company paid $10,000 in bug bounties to security researchers.",
                             url="https://e.com/bug", language="en")
    msgs = [_msg(1, seed), _msg(2, miss), (3, "poison", b"\x00\x01garbage")]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(msgs) | ProcessArticles(model=DEFAULT_MODEL, entities=CFG.entities,
                                                      topics=CFG.topics.topics, batch_size=8)
        assert_that(out["stories"] | beam.Map(lambda s: (s.id, sorted(t.id for t in s.topics))),
                    equal_to([(seed.id, ["bounties", "russia-taliban"]), (miss.id, [])]), label="stories")
        assert_that(out["alerts"] | "a" >> beam.Map(lambda a: (a.topic_id, a.story_id)),
                    equal_to([("russia-taliban", seed.id), ("bounties", seed.id)]), label="alerts")
        assert_that(all_dead_letters(out) | "d" >> beam.Map(lambda d: d.stage), equal_to(["decode"]), label="dead")
        assert_that(out["stories"] | "ents" >> beam.FlatMap(lambda s: [(e.label, e.canonical) for e in s.entities]),
                    is_not_empty(), label="entities")
