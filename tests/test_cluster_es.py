"""The Elasticsearch cluster store (newswatch.cluster_es) against the osmem test double:
rewrites, unrelated stories, idempotence, two workers, races, format check, pruning."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest

from newswatch.cluster import ClusterSettings, assign_cluster, assign_clusters, open_store, sign
from newswatch.cluster_es import ElasticsearchClusterStore
from newswatch.errors import ConfigError
from newswatch.records import RawArticle, Story
from tests.fixtures.osmem import es_client, osmem_clone_url, osmem_process  # noqa: F401
from tests.test_cluster import SYNDICATED, demo_stories, story_of

pytestmark = pytest.mark.elasticsearch


@pytest.fixture
def make_store(osmem_clone_url: str) -> Iterator[Any]:
    """Stores ("workers") on one fresh osmem clone, each with its own client."""
    opened: list[ElasticsearchClusterStore] = []

    def make(settings: ClusterSettings | None = None, **kw: Any) -> ElasticsearchClusterStore:
        st = ElasticsearchClusterStore(es_client(osmem_clone_url), settings=settings, close_client=True, **kw)
        opened.append(st)
        return st

    yield make
    for st in opened:
        st.close()


def renamed(story: Story, prefix: str) -> Story:
    """The same text under another story id (another outlet's identical copy)."""
    art = RawArticle.create(source_id=prefix, title=story.title, url=f"https://{prefix}.example/{story.id}",
                            content=story.text)
    return Story.from_article(art, text=story.text)


def test_rewrites_join_the_first_story_cluster(make_store):
    store = make_store()
    stories = [story_of(p) for p in SYNDICATED]
    out = assign_clusters(stories, store)
    assert {s.cluster_id for s in out} == {stories[0].id}
    assert all(store.cluster_of(s.id) == stories[0].id for s in stories)


def test_assign_many_and_unrelated_stories(make_store):
    store = make_store()
    seed = story_of(SYNDICATED[0])
    others = demo_stories("near-miss") + demo_stories("general")
    assert len(others) >= 10
    batch = [seed, *others, story_of(SYNDICATED[6])]  # shares 17 bands with the wire copy
    clusters = store.assign_many([sign(s.id, s.text, store.settings) for s in batch])
    assert clusters == [seed.id, *(s.id for s in others), seed.id]
    assert store.stats() == {"stories": len(batch), "clusters": len(others) + 1}


def test_idempotent_and_short_stories(make_store):
    store = make_store()
    seed, copy = story_of(SYNDICATED[0]), story_of(SYNDICATED[6])
    assert assign_cluster(seed, store) == seed.id
    assert assign_cluster(copy, store) == seed.id
    assert store.assign(sign(copy.id, copy.text, store.settings)) == seed.id  # past cluster_of: the s: doc
    edited = copy.model_copy(update={"text": "completely different text now " * 5})
    assert store.assign(sign(edited.id, edited.text, store.settings)) == seed.id
    short = [Story.from_article(RawArticle.create(source_id="x", title="Live updates", url=f"https://x.example/{i}"),
                                text="Live updates") for i in range(2)]
    assert [assign_cluster(s, store) for s in short] == [s.id for s in short]
    assert store.cluster_of("never-seen") is None


def test_a_second_worker_sees_the_first_workers_clusters(make_store):
    a, b = make_store(), make_store()
    first, second, third = (story_of(SYNDICATED[i]) for i in (0, 1, 2))
    assert assign_cluster(first, a) == first.id
    assert b.cluster_of(first.id) == first.id          # realtime get, no refresh
    assert assign_cluster(second, b) == first.id
    assert assign_cluster(third, a) == first.id
    assert a.cluster_of(second.id) == first.id


def test_lost_claim_race_gives_way_to_the_earlier_founder(make_store, monkeypatch):
    """Worker B read the band claims before worker A wrote its own: B founds, its claim
    creates conflict, and B joins A's earlier cluster instead (and fixes its claims)."""
    a, b = make_store(), make_store()
    first, copy, later = story_of(SYNDICATED[0]), story_of(SYNDICATED[1]), story_of(SYNDICATED[2])
    t0 = time.time()
    assert a.assign(sign(first.id, first.text, a.settings), now=t0) == first.id
    real = b._mget
    stale = {"on": True}

    def stale_read(ids):
        if stale["on"] and all(i.startswith("b:") for i in ids):
            stale["on"] = False
            return {}
        return real(ids)

    monkeypatch.setattr(b, "_mget", stale_read)
    assert b.assign(sign(copy.id, copy.text, b.settings), now=t0 + 0.001) == first.id
    claims = real([f"b:{k}" for k in sign(copy.id, copy.text, b.settings).keys])
    assert {c["cluster_id"] for c in claims.values()} == {first.id}
    assert a.assign(sign(later.id, later.text, a.settings), now=t0 + 1) == first.id


def test_two_threads_converge(make_store):
    """Two workers, each with its own client, assign interleaved copies at the same
    instant (identical twins first: the tightest race), plus unrelated stories."""
    a, b = make_store(), make_store()
    wire = story_of(SYNDICATED[0])
    copies = [story_of(p) for p in SYNDICATED[1:]]
    others = demo_stories("near-miss")[:4]
    a_work = [wire, *copies[0::2], *others[:2]]
    b_work = [renamed(wire, "twin"), *copies[1::2], *others[2:]]
    n = max(len(a_work), len(b_work))
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(store: ElasticsearchClusterStore, work: list[Story]) -> None:
        try:
            for i in range(n):
                barrier.wait(10)
                if i < len(work):
                    s = work[i]
                    results[s.id] = store.assign_many([sign(s.id, s.text, store.settings)])[0]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(st, w)) for st, w in ((a, a_work), (b, b_work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    similar = [wire.id, b_work[0].id, *(c.id for c in copies)]
    assert len({results[i] for i in similar}) == 1
    assert results[similar[0]] in (wire.id, b_work[0].id)
    assert [results[o.id] for o in others] == [o.id for o in others]
    assert all(a.cluster_of(i) == results[i] == b.cluster_of(i) for i in results)


def test_repeated_twin_races_converge(make_store):
    """Many rounds of two identical copies assigned at once by two workers: always one cluster."""
    a, b = make_store(), make_store()
    base = [story_of(p) for p in SYNDICATED[:4]] + demo_stories("near-miss") + demo_stories("general")
    for rnd, story in enumerate(base):
        pair = [renamed(story, f"left{rnd}"), renamed(story, f"right{rnd}")]
        barrier = threading.Barrier(2)
        out: dict[str, str] = {}

        def run(st: ElasticsearchClusterStore, s: Story, out: dict[str, str] = out,
                barrier: threading.Barrier = barrier) -> None:
            sig = sign(s.id, s.text, st.settings)
            barrier.wait(10)
            out[s.id] = st.assign(sig)

        threads = [threading.Thread(target=run, args=(st, s)) for st, s in zip((a, b), pair)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(set(out.values())) == 1 and len(out) == 2, (rnd, out)


def test_store_refuses_other_signature_parameters(make_store):
    make_store()
    with pytest.raises(ConfigError, match="shingle_words"):
        make_store(ClusterSettings(shingle_words=4))
    make_store(ClusterSettings(threshold=0.5))  # threshold may change


def test_prune_forgets_old_stories(make_store):
    st = make_store(ClusterSettings(horizon_days=14))
    t0 = time.time()
    old, copy = story_of(SYNDICATED[0]), story_of(SYNDICATED[1])
    st._next_prune = t0 + 3600  # no automatic prune during the first assign
    st.assign(sign(old.id, old.text, st.settings), now=t0 - 20 * 86400)
    assert st.prune(now=t0) == 1
    assert st.cluster_of(old.id) is None
    left = st.client.search(index=st.index, query={"term": {"kind": "band"}}, size=0)
    assert left["hits"]["total"]["value"] == 0
    assert st.assign(sign(copy.id, copy.text, st.settings), now=t0) == copy.id  # a new cluster


def test_open_store_selects_the_elasticsearch_backend(osmem_clone_url, monkeypatch, tmp_path):
    import newswatch.cluster_es as cluster_es

    monkeypatch.setenv("NEWSWATCH_CLUSTER_BACKEND", "elasticsearch")
    monkeypatch.setenv("NEWSWATCH_ES_URL", osmem_clone_url)
    monkeypatch.setenv("NEWSWATCH_ES_SERVER_MODE", "serverless")
    monkeypatch.setattr(cluster_es, "_stores", {})
    store = open_store(tmp_path / "unused.sqlite3")
    try:
        assert isinstance(store, ElasticsearchClusterStore)
        assert open_store(tmp_path / "unused.sqlite3") is store
        seed = story_of(SYNDICATED[0])
        assert store.assign_many([sign(seed.id, seed.text, store.settings)]) == [seed.id]
        assert not (tmp_path / "unused.sqlite3").exists()
    finally:
        store.close()
