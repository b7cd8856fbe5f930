"""The in-stream matcher and the index search flag the same stories, on a real corpus.

Corpus: every article of the real feeds in ``../shared/data/feeds/news/`` (read
with ``connectors.files.read_any``), the seed story and the project's labelled
set, run through the real pipeline stages (:class:`newswatch.process.Processor`:
clean text, spaCy NER, entity aliases, default topics) and indexed in a
temporary :class:`~newswatch.index.tantivy_index.TantivyIndex`. For every
default topic and for a set of tricky queries, the story ids the in-stream
evaluator (:func:`newswatch.topics.evaluate` on ``MatchDoc.from_story``) accepts
must equal the ids the index search returns.

What an index cannot express (asserted below, documented in docs/topics.md):

* ``min_score`` — index scores are BM25, not sums of boosts: the index returns
  a superset and :func:`newswatch.topics.backtest.backtest` post-filters it
  in-stream, which then agrees exactly;
* ``topic:`` / ``cluster:`` — stored with a story once it has been processed;
  in-stream (before topics run) they are empty, so such clauses never fire live.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from newswatch.config import ConfigSet, TopicSpec
from newswatch.index.base import MAX_WINDOW
from newswatch.topics import MatchDoc, compile_topic, evaluate
from newswatch.topics.backtest import backtest, index_query
from newswatch.topics.quality import load_labelled
from tests.conftest import CONFIG, REPO, SEED_STORY, require_shared

pytestmark = pytest.mark.slow

LABELLED = REPO / "samples" / "labelled" / "topics-labelled.yaml"

#: (query, exclude): prefixes, NOT, proximity, entity fields, source:, phrases across punctuation,
#: boosts, nested groups, Lucene +/- clauses, pure negation, multi-word slop, entity prefixes.
TRICKY: list[tuple[str, str | None]] = [
    ("weapon*", None),
    ("russia AND NOT ukraine", None),
    ('"russia taliban"~5', None),
    ('"taliban russia"~4', None),
    ('"moscow taliban talks"~6', None),
    ("gpe:Russia AND NOT text:moscow", None),
    ('person:"Sergei Lavrov" OR person:"Vladimir Putin"', None),
    ("source:labelled AND bount*", None),
    ("source:bbc-news-world-kagisearch-fastfeedparser-1796df62c4a287cc AND (war OR peace)", None),
    ('"U.S. troops" OR "u.s. forces"', None),
    ("Pompeo's AND text:\"secretary of state\"", None),
    ("(taliban^3 OR kabul^2) AND (talks OR meeting*)", None),
    ('((russia OR moscow) AND (afghan* OR taliban)) OR (bounty AND NOT "bug bounty")', None),
    ("title:(russia OR china) AND text:trade", None),
    ("+election vote* -ukraine", None),
    ("org:tali*", None),
    ('entity:russia AND entity:"united states"', None),
    ('lang:en AND "prime minister"~2', None),
    ('"paid to kill"~3 OR "payments for killing"', None),
    ("NOT (russia OR china OR trump)", None),
    ("norp:american AND troops", None),
    ("taliban", "pakistan OR doha"),
]


def _article_for():
    spec = importlib.util.spec_from_file_location("topics_quality_bench_agree", REPO / "bench" / "topics_quality.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.article_for


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(stories, index) of the real feeds + seed story + labelled set."""
    shared = require_shared()
    from connectors.files import read_any
    from newswatch.errors import ModelNotFoundError
    from newswatch.index.tantivy_index import TantivyIndex
    from newswatch.process import Processor
    from newswatch.settings import Settings

    settings = Settings()
    cfg = ConfigSet.load(CONFIG)
    try:
        proc = Processor(model=settings.spacy_model, entities=cfg.entities, topics=cfg.topics.topics)
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))
    articles = list(read_any(shared / "feeds" / "news", settings=settings).articles)
    articles += read_any(SEED_STORY, settings=settings, source_id="seed").articles
    article_for = _article_for()
    articles += [article_for(i) for i in load_labelled(LABELLED)]
    stories, bad = proc.process(articles)
    assert len(stories) > 1200 and len(bad) < 10
    index = TantivyIndex(tmp_path_factory.mktemp("agree") / "index")
    index.upsert(stories)
    index.commit()
    by_id = {s.id: s for s in stories}  # the index keeps the last story of a repeated id
    yield list(by_id.values()), index
    index.close()


def stream_ids(stories, query: str, exclude: str | None = None, min_score: float = 0.0) -> set[str]:
    topic = compile_topic(TopicSpec(id="t", query=query, exclude=exclude, min_score=min_score))
    return {s.id for s in stories if evaluate(topic, MatchDoc.from_story(s)) is not None}


def index_ids(index, query: str, exclude: str | None = None) -> set[str]:
    res = index.search(index_query(query, exclude), limit=MAX_WINDOW, facets=False)
    assert res.total == len(res.hits) < MAX_WINDOW
    return {h.story.id for h in res.hits}


def test_default_topics_agree(corpus):
    stories, index = corpus
    cfg = ConfigSet.load(CONFIG)
    assert {t.id for t in cfg.topics.topics} >= {"russia-taliban", "bounties"}
    for spec in cfg.topics.topics:
        live = {s.id for s in stories if any(t.id == spec.id for t in s.topics)}  # what the pipeline flagged
        assert live == stream_ids(stories, spec.query, spec.exclude, spec.min_score), spec.id
        res = backtest(index, spec.query, spec.exclude, limit=MAX_WINDOW, min_score=spec.min_score)
        assert {h.story.id for h in res.hits} == live, spec.id
        assert res.total == len(live) >= 15, spec.id     # the labelled positives at least
        assert sum(n for _, n in res.per_day) == res.total


@pytest.mark.parametrize("query, exclude", TRICKY, ids=[q if not x else f"{q} -- exclude {x}" for q, x in TRICKY])
def test_tricky_queries_agree(corpus, query, exclude):
    stories, index = corpus
    live = stream_ids(stories, query, exclude)
    assert live == index_ids(index, query, exclude)
    assert 0 < len(live) < len(stories), "the query should separate the corpus"


def test_min_score_needs_the_in_stream_post_filter(corpus):
    """The index cannot apply min_score: it returns every match; backtest() re-evaluates in-stream."""
    stories, index = corpus
    query, min_score = "taliban^2 OR russia OR moscow OR kremlin OR weapon*", 3.0
    live = stream_ids(stories, query, min_score=min_score)
    raw = index_ids(index, query)
    assert live < raw                                   # strictly fewer: the threshold matters here
    res = backtest(index, query, min_score=min_score, limit=MAX_WINDOW)
    assert res.post_filtered and {h.story.id for h in res.hits} == live and res.total == len(live)


def test_topic_and_cluster_fields_are_known_only_in_the_index(corpus):
    """``topic:`` matches what the pipeline stored; in-stream, before topics run, it never fires."""
    stories, index = corpus
    flagged = {s.id for s in stories if any(t.id == "bounties" for t in s.topics)}
    assert index_ids(index, "topic:bounties") == flagged and flagged
    fresh = compile_topic(TopicSpec(id="t", query="topic:bounties"))
    before_topics = [MatchDoc.from_story(s.model_copy(update={"topics": ()})) for s in stories]
    assert not any(evaluate(fresh, d) for d in before_topics)
