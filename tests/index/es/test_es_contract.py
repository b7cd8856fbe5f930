"""ElasticsearchIndex against a real HTTP server speaking the Elasticsearch API (osmem-server).

Counts, filters, facets and paging are checked against brute-force answers
computed in Python over the same generated stories. osmem makes documents
visible before a refresh, so "invisible until commit" cannot be shown here
(see docs/elasticsearch.md); the real-cluster suite covers what it can.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from newswatch import registry
from newswatch.fields import ENTITY_FIELDS, entity_value
from newswatch.index.base import FACET_SIZE, QueryError, StoryIndex, top_counts
from newswatch.index.es_index import ElasticsearchIndex
from newswatch.records import Story
from newswatch.settings import Settings
from newswatch.topics.parse import TopicSyntaxError
from tests.fixtures.osmem import es_client
from tests.index.factories import BASE, make_stories

pytestmark = pytest.mark.elasticsearch

UTC = timezone.utc
N = 240


def sdate(s: Story) -> datetime:
    return (s.published or s.fetched_at).astimezone(UTC)


def labels(s: Story) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in s.entities:
        if e.label.lower() in ENTITY_FIELDS:
            out.setdefault(e.label.lower(), set()).add(entity_value(e.canonical))
            out.setdefault("entity", set()).add(entity_value(e.canonical))
    return out


@pytest.fixture
def loaded(es_index: ElasticsearchIndex) -> tuple[ElasticsearchIndex, list[Story]]:
    stories = make_stories(N)
    es_index.upsert(stories)
    es_index.commit()
    return es_index, stories


def all_ids(ix: ElasticsearchIndex, **kw) -> list[str]:
    return [h.story.id for h in ix.search(limit=1000, facets=False, **kw).hits]


def test_is_a_story_index_and_is_registered(osmem_clone_url: str):
    settings = Settings(index="elasticsearch", es_url=osmem_clone_url)
    ix = registry.create("index", "elasticsearch", settings=settings, server_mode="serverless")
    try:
        assert isinstance(ix, StoryIndex) and ix.name == "elasticsearch" and ix.url == osmem_clone_url
    finally:
        ix.close()


def test_count_get_and_reindex_does_not_duplicate(loaded):
    ix, stories = loaded
    assert ix.count() == N
    assert ix.get(stories[17].id) == stories[17]  # the Story exactly as upserted
    assert ix.get("no-such-id") is None
    changed = [s.model_copy(update={"title": "Re-indexed title"}) for s in stories[:50]]
    ix.upsert(stories[:50])
    ix.upsert(changed)
    ix.commit()
    assert ix.count() == N
    assert ix.get(stories[3].id).title == "Re-indexed title"
    assert ix.search("title:indexed", limit=100, facets=False).total == 50


def test_delete(loaded):
    ix, stories = loaded
    ix.delete([s.id for s in stories[:10]] + ["unknown"])
    ix.commit()
    assert ix.count() == N - 10
    assert ix.get(stories[0].id) is None


def test_filters_against_brute_force(loaded):
    ix, stories = loaded
    by_gpe = {s.id for s in stories if "russia" in labels(s).get("gpe", set())}
    assert set(all_ids(ix, entities={"gpe": "Russia"})) == by_gpe and by_gpe
    both = {s.id for s in stories if {"russia"} <= labels(s).get("gpe", set())
            and "taliban" in labels(s).get("org", set())}
    assert set(all_ids(ix, entities={"gpe": ["Russia"], "org": "TALIBAN"})) == both
    topic = {s.id for s in stories if any(t.id == "bounties" for t in s.topics)}
    assert set(all_ids(ix, topic="Bounties")) == topic and topic
    src = {s.id for s in stories if s.source_id == "src-01"}
    assert set(all_ids(ix, source="src-01")) == src and src
    since, until = BASE + timedelta(days=5), BASE + timedelta(days=12, seconds=30)
    window = {s.id for s in stories if since <= sdate(s).replace(microsecond=0) < until}
    assert set(all_ids(ix, since=since, until=until)) == window and window
    # query + filter together
    q = {s.id for s in stories if "kremlin" in s.text.split() and s.source_id == "src-00"}
    assert {h.story.id for h in ix.search("text:kremlin", source="src-00", limit=1000).hits} == q and q


def test_facets_against_brute_force(loaded):
    ix, stories = loaded
    res = ix.search(None, limit=0)
    assert res.total == N and res.hits == []
    f = res.facets
    for label in ENTITY_FIELDS:
        counts = Counter(v for s in stories for v in labels(s).get(label, set()))
        assert f.entities[label] == top_counts(counts.items()), label
    assert f.sources == top_counts(Counter(s.source_id for s in stories).items())
    assert f.topics == top_counts(Counter(t.id for s in stories for t in {t.id: t for t in s.topics}.values()).items())
    days = Counter(sdate(s).strftime("%Y-%m-%d") for s in stories)
    assert f.days == sorted(days.items())
    assert all(len(v) <= FACET_SIZE for v in f.entities.values())
    # facets are computed over the matches only
    sub = ix.search("russia", limit=1)
    matching = [s for s in stories if "russia" in (s.title.lower().split() + s.text.split())]
    assert sub.total == len(matching)
    assert sub.facets.sources == top_counts(Counter(s.source_id for s in matching).items())


def test_offset_paging_sorting_and_search_after(loaded):
    ix, stories = loaded
    expected = [s.id for s in sorted(stories, key=lambda s: (-sdate(s).replace(microsecond=0).timestamp(), s.id))]
    assert all_ids(ix, sort="newest") == expected
    page2 = [h.story.id for h in ix.search(None, sort="newest", limit=25, offset=25, facets=False).hits]
    assert page2 == expected[25:50]
    walked, after, pages = [], None, 0
    while True:
        page = ix.search_after(None, after=after, limit=37, sort="newest")
        walked.extend(h.story.id for h in page.result.hits)
        pages += 1
        if page.after is None:
            break
        after = page.after
    assert walked == expected and pages == N // 37 + 1
    assert [s.id for s in ix.iter_stories(page_size=50)] == expected
    rel = ix.search("bounty OR troops", limit=1000, facets=False).hits
    scores = [h.score for h in rel]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert all(h.score == 0.0 for h in ix.search("bounty", sort="newest", limit=5).hits)


def test_invalid_requests_raise_query_error(es_index: ElasticsearchIndex):
    with pytest.raises(TopicSyntaxError):  # as on tantivy: the topic language's own error, with the fix
        es_index.search("title:(", limit=1)
    with pytest.raises(QueryError):
        es_index.search(None, entities={"planet": "Mars"})
    with pytest.raises(QueryError):
        es_index.search(None, since=datetime(2024, 1, 1))


def test_400_items_become_dead_letters(osmem_clone_url: str):
    """A mapping that refuses some documents (here: ``lang`` mapped as integer) → 400 per item."""
    client = es_client(osmem_clone_url)
    client.indices.create(index="conflict-000001", mappings={"properties": {"lang": {"type": "integer"}}},
                          aliases={"conflict": {"is_write_index": True}})
    stories = make_stories(40)
    refused = {s.id for s in stories if (s.lang or s.language)}
    ix = ElasticsearchIndex(url=osmem_clone_url, server_mode="serverless", index_alias="conflict")
    try:
        ix.upsert(stories)
        ix.commit()
        dead = ix.take_dead_letters()
        assert {Story.from_json(d.payload).id for d in dead} == refused and refused
        assert all("400" in d.reason and "lang" in d.reason for d in dead)
        assert ix.count() == len(stories) - len(refused)
    finally:
        ix.close()
        client.close()


def test_409_on_create_and_existing_index_are_handled(es_index: ElasticsearchIndex, osmem_clone_url: str):
    """setup() twice (index already exists) is fine; the server's 409 on ``create`` is what ES returns."""
    from elasticsearch import ConflictError

    from newswatch.index.es_setup import IndexLayout, setup

    client = es_client(osmem_clone_url)
    try:
        assert setup(client, IndexLayout()).actions == []
        es_index.upsert(make_stories(1))
        es_index.commit()
        with pytest.raises(ConflictError):
            client.create(index="newswatch-stories", id="s000000", document={"id": "s000000"})
    finally:
        client.close()


def test_reindex_after_rollover_leaves_one_copy(es_index: ElasticsearchIndex, osmem_clone_url: str):
    stories = make_stories(30)
    es_index.upsert(stories)
    es_index.commit()
    client = es_client(osmem_clone_url)
    try:  # a rollover by hand (osmem has no _rollover API): new write index behind the alias
        client.indices.create(index="newswatch-stories-000002")
        client.indices.update_aliases(actions=[
            {"add": {"index": "newswatch-stories-000001", "alias": "newswatch-stories", "is_write_index": False}},
            {"add": {"index": "newswatch-stories-000002", "alias": "newswatch-stories", "is_write_index": True}}])
        es_index.upsert(stories[:12])
        es_index.commit()
        assert es_index.count() == 30
        assert client.count(index="newswatch-stories-000002")["count"] == 12
        assert es_index.get(stories[0].id) == stories[0]
    finally:
        client.close()


def test_missing_alias_is_explained(osmem_clone_url: str):
    from newswatch.index.base import IndexMissingError

    ix = ElasticsearchIndex(url=osmem_clone_url, server_mode="serverless", index_alias="never-set-up")
    try:
        with pytest.raises(IndexMissingError, match="index setup"):
            ix.count()
    finally:
        ix.close()
