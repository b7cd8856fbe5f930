"""The real-cluster suite: runs only when ``NEWSWATCH_ES_URL`` points at an Elasticsearch 9 cluster.

Credentials and TLS come from the usual ``NEWSWATCH_ES_*`` variables
(production client settings, ``server_mode`` "stack"). Everything is created
under a unique alias ``newswatch-test-<random>`` and deleted afterwards.
Covers what the osmem double cannot: ILM and rollover, refresh visibility,
Lucene's own phrase matching and the english analyzer.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

from newswatch.config import TopicSpec
from newswatch.index.es_index import ElasticsearchIndex
from newswatch.index.es_setup import ilm_supported, rollover, setup
from newswatch.topics import MatchDoc, TopicMatcher
from tests.index.factories import make_stories

pytestmark = [pytest.mark.es_live,
              pytest.mark.skipif(not os.environ.get("NEWSWATCH_ES_URL"),
                                 reason="NEWSWATCH_ES_URL is not set: no real Elasticsearch cluster to test against")]


@pytest.fixture(scope="module")
def live() -> Iterator[ElasticsearchIndex]:
    alias = f"newswatch-test-{uuid.uuid4().hex[:8]}"
    ix = ElasticsearchIndex(index_alias=alias, replicas=0)
    try:
        setup(ix.client, ix.layout)
        yield ix
    finally:
        client = ix.client.options(ignore_status=404)
        client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
        client.indices.delete_index_template(name=alias)
        if ilm_supported(ix.client):
            client.ilm.delete_lifecycle(name=alias)
        ix.close()


def test_setup_is_idempotent_with_ilm_where_supported(live: ElasticsearchIndex):
    report = setup(live.client, live.layout)
    assert report.actions == [] and report.ok
    if report.ilm:
        settings = live.client.indices.get_settings(index=report.write_index)[report.write_index]["settings"]
        assert settings["index"]["lifecycle"]["name"] == live.layout.policy


def test_writes_are_invisible_until_commit_then_visible(live: ElasticsearchIndex):
    stories = make_stories(50, prefix="live")
    before = live.count()
    live.upsert(stories)
    assert live.count() == before  # buffered, nothing sent
    live.commit()
    assert live.count() == before + 50
    live.upsert(stories)
    live.commit()
    assert live.count() == before + 50


def test_queries_agree_with_the_stream_on_lucene(live: ElasticsearchIndex):
    stories = make_stories(100, seed=21, prefix="q")
    live.upsert(stories)
    live.commit()
    prefix_ids = {s.id for s in stories}
    for query in ["russia AND NOT taliban", "bount*", '"kremlin denies"~2', "gpe:russia AND org:taliban",
                  '"troops payments"~1', '"wheat exports talks"~3', "NOT bounty", "(kremlin^2 OR doha) AND oil"]:
        matcher = TopicMatcher.compile([TopicSpec(id="t", query=query)])
        expected = {s.id for s in stories if matcher.match(MatchDoc.from_story(s))}
        got = {s.id for s in live.iter_stories(query)} & prefix_ids
        assert got == expected, query


def test_rollover_keeps_one_copy_per_story(live: ElasticsearchIndex):
    stories = make_stories(20, prefix="roll")
    live.upsert(stories)
    live.commit()
    before = live.count()
    new_index = rollover(live.client, live.layout)
    assert new_index.endswith("-000002")
    live.upsert(stories[:10])
    live.commit()
    assert live.count() == before
