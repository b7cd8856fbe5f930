"""The embedded tantivy story index against the StoryIndex promises.

Facets and filters are checked against brute-force answers computed in Python
over the same generated stories.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import tantivy

from newswatch.fields import ENTITY_FIELDS, entity_value
from newswatch.index.base import (
    FACET_SIZE,
    IndexBackendError,
    IndexLockedError,
    IndexMissingError,
    IndexSchemaError,
    QueryError,
    ReadOnlyIndexError,
    StoryIndex,
)
from newswatch.index.tantivy_index import TantivyIndex, build_schema
from newswatch.records import Entity, MatchedTerm, Story, TopicMatch
from newswatch import registry
from tests.index.factories import BASE, make_stories

UTC = timezone.utc
N = 500
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- helpers
def term(ix: TantivyIndex, field: str, value: str) -> tantivy.Query:
    return tantivy.Query.term_query(ix.schema, field, value)


def sdate(s: Story) -> datetime:
    return (s.published or s.fetched_at).astimezone(UTC)


def labels(s: Story) -> dict[str, set[str]]:
    """Indexed entity values by field: only ENTITY_LABELS (WORK_OF_ART etc. are not indexed)."""
    out: dict[str, set[str]] = {}
    for e in s.entities:
        if e.label.lower() in ENTITY_FIELDS:
            out.setdefault(e.label.lower(), set()).add(entity_value(e.canonical))
            out.setdefault("entity", set()).add(entity_value(e.canonical))
    return out


def words(s: Story) -> set[str]:
    """The tokens of the ``text`` field (generated text is lower-case words)."""
    return set(s.text.split())


def ids(result) -> list[str]:
    return [h.story.id for h in result.hits]


def all_ids(ix: TantivyIndex, **kw) -> set[str]:
    res = ix.search_query(kw.pop("query", None), limit=10_000, facets=False, **kw)
    assert res.total == len(res.hits)
    return set(ids(res))


def assert_top(facet: list[tuple[str, int]], counts: Counter) -> None:
    """``facet`` is a correct top-FACET_SIZE of ``counts``: exact counts, ordered, complete."""
    counts = Counter({k: v for k, v in counts.items() if v > 0})
    assert len(facet) == min(FACET_SIZE, len(counts))
    for value, n in facet:
        assert counts[value] == n, (value, n, counts[value])
    assert facet == sorted(facet, key=lambda c: (-c[1], c[0]))
    if facet:
        shown = {v for v, _ in facet}
        floor = facet[-1][1]
        assert all(n <= floor for v, n in counts.items() if v not in shown)
    # with no tie across the cut, the answer is unique
    ranked = sorted(counts.items(), key=lambda c: (-c[1], c[0]))
    if len(ranked) <= FACET_SIZE or ranked[FACET_SIZE - 1][1] != ranked[FACET_SIZE][1]:
        assert facet == ranked[:FACET_SIZE]


def brute_facets(stories: list[Story]) -> dict:
    ents = {f: Counter() for f in ENTITY_FIELDS}
    for s in stories:
        for label, values in labels(s).items():
            if label in ents:
                ents[label].update(values)
    return {"entities": ents,
            "sources": Counter(s.source_id for s in stories),
            "topics": Counter(t for s in stories for t in {m.id for m in s.topics}),
            "days": sorted(Counter(sdate(s).date().isoformat() for s in stories).items())}


def assert_facets(result, stories: list[Story]) -> None:
    want = brute_facets(stories)
    assert set(result.facets.entities) == set(ENTITY_FIELDS)
    for label in ENTITY_FIELDS:
        assert_top(result.facets.entities[label], want["entities"][label])
    assert_top(result.facets.sources, want["sources"])
    assert_top(result.facets.topics, want["topics"])
    assert result.facets.days == want["days"]


def run_child(code: str, path: Path, *args: str) -> subprocess.Popen:
    script = textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, str(path), *args], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def read_line(proc: subprocess.Popen, expect: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"child exited: {proc.stderr.read()}")
        if line.startswith(expect):
            return line.strip()
    raise AssertionError(f"no {expect!r} from child")


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def stories() -> list[Story]:
    return make_stories(N, seed=11)


@pytest.fixture(scope="module")
def full(tmp_path_factory, stories) -> TantivyIndex:
    ix = TantivyIndex(tmp_path_factory.mktemp("full") / "index", writer_heap_mb=32)
    # several commits -> several segments, so facets merge across segments
    for start in range(0, N, 125):
        ix.upsert(stories[start:start + 125])
        ix.commit()
    yield ix
    ix.close()


@pytest.fixture
def ix(tmp_path) -> TantivyIndex:
    index = TantivyIndex(tmp_path / "index", writer_heap_mb=32)
    yield index
    index.close()


# ---------------------------------------------------------------- writes
def test_registry_and_interface(tmp_path):
    index = registry.create("index", "tantivy", path=tmp_path / "idx", writer_heap_mb=16)
    assert isinstance(index, StoryIndex) and isinstance(index, TantivyIndex)
    assert index.count() == 0 and index.search().total == 0
    index.close()


def test_upsert_is_idempotent_and_replaces(ix, stories):
    assert ix.upsert(stories[:200]) == 200
    ix.commit()
    assert ix.count() == 200
    assert ix.upsert(stories[:200]) == 200  # redelivered batch
    ix.commit()
    assert ix.count() == 200
    assert ix.search().total == 200

    changed = stories[5].model_copy(update={"title": "Zanzibar unique headline", "source_id": "src-new"})
    ix.upsert([changed])
    ix.commit()
    assert ix.count() == 200
    assert ix.get(changed.id) == changed
    assert ids(ix.search_query(term(ix, "title", "zanzibar"))) == [changed.id]
    assert ix.search_query(None, source=stories[5].source_id).total == \
        sum(1 for s in stories[:200] if s.source_id == stories[5].source_id) - 1
    assert ids(ix.search_query(None, source="src-new")) == [changed.id]


def test_duplicates_in_one_batch_last_wins(ix, stories):
    a = stories[0]
    b = a.model_copy(update={"title": "Second version"})
    assert ix.upsert([a, stories[1], b]) == 2
    ix.commit()
    assert ix.count() == 2
    assert ix.get(a.id).title == "Second version"


def test_replace_across_uncommitted_batches(ix, stories):
    a = stories[0]
    ix.upsert([a])
    ix.upsert([a.model_copy(update={"title": "Later"})])
    ix.commit()
    assert ix.count() == 1 and ix.get(a.id).title == "Later"


def test_writes_invisible_until_commit(ix, stories):
    ix.upsert(stories[:10])
    assert ix.count() == 0
    assert ix.search().total == 0
    assert ix.get(stories[0].id) is None
    ix.commit()
    assert ix.count() == 10
    assert ix.get(stories[0].id) == stories[0]
    ix.commit()  # nothing pending: no-op
    assert ix.count() == 10


def test_delete(ix, stories):
    ix.upsert(stories[:20])
    ix.commit()
    ix.delete([stories[0].id, stories[1].id, "no-such-id"])
    assert ix.count() == 20  # not visible before commit
    ix.commit()
    assert ix.count() == 18
    assert ix.get(stories[0].id) is None and ix.get(stories[2].id) == stories[2]
    assert stories[0].id not in all_ids(ix)


def test_get_round_trips_exactly(ix):
    tz = timezone(timedelta(hours=5, minutes=30))
    story = Story(
        id="exact-1", source_id="bbc-world", feed_url="https://feeds.bbci.co.uk/news/world/rss.xml",
        guid="urn:x", url="https://www.bbc.co.uk/news/x", title="Russia denies arming Taliban",
        summary="Moscow denies…", content="<p>Full ünïcödé content</p>", authors=("A. Writer", "B"),
        published=datetime(2020, 6, 29, 12, 30, 15, 123456, tzinfo=tz),
        fetched_at=datetime(2020, 6, 29, 13, 0, 0, 999, tzinfo=UTC), language="en", tags=("world", "asia"),
        text="Russia denied arming the Taliban, said Maria Zakharova.", lang="en",
        entities=(Entity(text="Russia", label="GPE", canonical="Russia", start=0, end=6),
                  Entity(text="Maria Zakharova", label="PERSON", canonical="Maria Zakharova", start=40, end=55)),
        topics=(TopicMatch(id="russia-taliban", score=2.5,
                           matched=(MatchedTerm(term="russia", field="text", start=0, end=6),)),),
        cluster_id="c-1", pipeline_version="newswatch-0.1.0")
    ix.upsert([story])
    ix.commit()
    got = ix.get("exact-1")
    assert got == story
    assert got.to_json() == story.to_json()
    assert got.published.utcoffset() == timedelta(hours=5, minutes=30)
    assert ix.get("missing") is None


def test_close_discards_uncommitted_and_releases_lock(tmp_path, stories):
    path = tmp_path / "index"
    first = TantivyIndex(path, writer_heap_mb=16)
    first.upsert(stories[:3])
    first.commit()
    first.upsert(stories[3:6])
    first.close()
    with TantivyIndex(path, writer_heap_mb=16) as second:
        assert second.count() == 3
        second.upsert(stories[6:7])  # lock is free again
        second.commit()
        assert second.count() == 4
    with pytest.raises(IndexBackendError):
        first.count()


# ---------------------------------------------------------------- readers, lock
def test_readonly_reader_sees_new_commits(tmp_path, stories):
    path = tmp_path / "index"
    writer = TantivyIndex(path, writer_heap_mb=16)
    writer.upsert(stories[:5])
    writer.commit()
    reader = TantivyIndex(path, readonly=True)
    assert reader.count() == 5
    writer.upsert(stories[5:12])
    assert reader.count() == 5
    writer.commit()
    assert reader.count() == 12
    assert reader.search().total == 12
    assert reader.get(stories[11].id) == stories[11]
    with pytest.raises(ReadOnlyIndexError):
        reader.upsert(stories[:1])
    with pytest.raises(ReadOnlyIndexError):
        reader.delete([stories[0].id])
    reader.close()
    writer.close()


def test_readonly_without_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissingError, match="no index at .*newswatch run"):
        TantivyIndex(tmp_path / "nothing-here", readonly=True)
    assert not (tmp_path / "nothing-here").exists()


def test_second_writer_in_process_is_a_clear_error(tmp_path, stories):
    path = tmp_path / "index"
    a = TantivyIndex(path, writer_heap_mb=16)
    a.upsert(stories[:1])
    b = TantivyIndex(path, writer_heap_mb=16)
    assert b.count() == 0  # opening and reading is fine
    with pytest.raises(IndexLockedError, match="being written by another newswatch process"):
        b.upsert(stories[1:2])
    a.commit()
    assert b.count() == 1  # not holding the writer: reads reload
    a.close()
    b.upsert(stories[1:2])
    b.commit()
    b.close()


HOLDER = """
import sys
from pathlib import Path
from newswatch.index.tantivy_index import TantivyIndex
from tests.index.factories import make_stories
ix = TantivyIndex(Path(sys.argv[1]), writer_heap_mb=16)
s = make_stories(3, seed=1, prefix="h")
ix.upsert(s[:1]); ix.commit()
print("ready", flush=True)
sys.stdin.readline()
ix.upsert(s[1:]); ix.commit()
print("done", flush=True)
sys.stdin.readline()
"""


def test_second_writer_process_gets_clear_error_and_readers_work(tmp_path, stories):
    path = tmp_path / "index"
    child = run_child(HOLDER, path)
    try:
        read_line(child, "ready")
        reader = TantivyIndex(path, readonly=True)  # never takes the lock
        assert reader.count() == 1
        other = TantivyIndex(path, writer_heap_mb=16)
        with pytest.raises(IndexLockedError) as err:
            other.upsert(stories[:1])
        msg = str(err.value)
        assert str(path) in msg and f"pid {child.pid}" in msg
        assert "read-only" in msg and "--data" in msg
        child.stdin.write("go\n")
        child.stdin.flush()
        read_line(child, "done")
        assert reader.count() == 3  # reload before each read
        assert reader.get("h000002") is not None
        child.stdin.write("stop\n")
        child.stdin.flush()
        child.wait(timeout=20)
        other.upsert(stories[:1])  # the lock went with the process
        other.commit()
        assert reader.count() == 4
        other.close()
        reader.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


CRASHER = """
import sys
from pathlib import Path
from newswatch.index.tantivy_index import TantivyIndex
from tests.index.factories import make_stories
mode = sys.argv[2]
ix = TantivyIndex(Path(sys.argv[1]), writer_heap_mb=16)
batch = 0
def write(commit):
    global batch
    ix.upsert(make_stories(50, seed=batch, prefix=f"b{batch:03d}-"))
    if commit:
        ix.commit()
        print(f"committed {batch}", flush=True)
    batch += 1
write(True); write(True)
if mode == "pending":
    write(False)
    print("pending", flush=True)
    sys.stdin.readline()
else:
    print("looping", flush=True)
    while True:
        write(True)
"""


@pytest.mark.parametrize("mode,delay", [("pending", 0.0), ("loop", 0.05), ("loop", 0.3)])
def test_kill_9_leaves_a_readable_index(tmp_path, mode, delay):
    path = tmp_path / "index"
    child = run_child(CRASHER, path, mode)
    try:
        read_line(child, "pending" if mode == "pending" else "looping")
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    with TantivyIndex(path, writer_heap_mb=16) as ix:
        n = ix.count()
        assert n >= 100 and n % 50 == 0  # whole commits only
        if mode == "pending":
            assert n == 100  # the uncommitted batch is simply absent
            assert ix.get("b002-000000") is None
        batches = n // 50
        for b in range(batches):  # every committed story is there and readable
            assert ix.get(f"b{b:03d}-000000") is not None
            assert ix.get(f"b{b:03d}-000049") is not None
        assert ix.get(f"b{batches:03d}-000000") is None
        assert ix.search(None, limit=5).total == n
        ix.upsert(make_stories(1, prefix="after-"))  # the writer lock is free again
        ix.commit()
        assert ix.count() == n + 1


# ---------------------------------------------------------------- search
def test_entity_filters_match_brute_force(full, stories):
    def want(pred):
        return {s.id for s in stories if pred(s)}

    assert all_ids(full, entities={"gpe": ["Russia"]}) == want(lambda s: "russia" in labels(s).get("gpe", ()))
    assert all_ids(full, entities={"GPE": "russia"}) == all_ids(full, entities={"gpe": ["Russia"]})
    both = want(lambda s: "russia" in labels(s).get("gpe", ()) and "taliban" in labels(s).get("org", ()))
    assert all_ids(full, entities={"gpe": ["Russia"], "org": ["Taliban"]}) == both
    two = want(lambda s: {"russia", "moscow"} <= labels(s).get("gpe", set()))
    assert all_ids(full, entities={"gpe": ["Russia", "  MOSCOW "]}) == two
    assert all_ids(full, entities={"entity": ["Kabul"]}) == \
        want(lambda s: "kabul" in labels(s).get("entity", ()))
    assert all_ids(full, entities={"entity": ["War and Peace"]}) == set()  # WORK_OF_ART: not indexed
    assert all_ids(full, entities={"person": ["Mike Pompeo"]}) == \
        want(lambda s: "mike pompeo" in labels(s).get("person", ()))
    assert all_ids(full, entities={"gpe": ["Atlantis"]}) == set()
    assert both  # the generated data exercises the AND


def test_topic_source_and_date_filters(full, stories):
    assert all_ids(full, topic="bounties") == {s.id for s in stories if any(t.id == "bounties" for t in s.topics)}
    assert all_ids(full, source="src-03") == {s.id for s in stories if s.source_id == "src-03"}
    assert all_ids(full, source=" SRC-03 ") == all_ids(full, source="src-03")
    since, until = BASE + timedelta(days=3), BASE + timedelta(days=9, hours=7)
    assert all_ids(full, since=since) == {s.id for s in stories if sdate(s) >= since}
    assert all_ids(full, until=until) == {s.id for s in stories if sdate(s) < until}
    assert all_ids(full, since=since, until=until) == {s.id for s in stories if since <= sdate(s) < until}
    # a non-UTC bound means the same instant
    local = since.astimezone(timezone(timedelta(hours=-5)))
    assert all_ids(full, since=local) == all_ids(full, since=since)
    combined = all_ids(full, query=term(full, "text", "bounty"), topic="bounties", source="src-00",
                       since=since, entities={"gpe": ["Russia"]})
    assert combined == {s.id for s in stories if "bounty" in words(s) and s.source_id == "src-00"
                        and any(t.id == "bounties" for t in s.topics) and sdate(s) >= since
                        and "russia" in labels(s).get("gpe", ())}


def test_published_falls_back_to_fetched_at(full, stories):
    undated = [s for s in stories if s.published is None]
    assert undated
    s = undated[0]
    exact = full.search_query(term(full, "id", s.id), since=s.fetched_at, until=s.fetched_at + timedelta(seconds=1))
    assert ids(exact) == [s.id]


def test_term_and_phrase_queries(full, stories):
    res = full.search_query(term(full, "text", "kremlin"), limit=1000, facets=False)
    assert set(ids(res)) == {s.id for s in stories if "kremlin" in s.text.split()}
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    phrase = tantivy.Query.phrase_query(full.schema, "text", ["wheat", "exports"])
    assert set(ids(full.search_query(phrase, limit=1000))) == \
        {s.id for s in stories if " wheat exports " in f" {s.text} "}


def test_filters_do_not_change_relevance_order(full):
    q = term(full, "text", "taliban")
    plain = full.search_query(q, limit=1000, facets=False)
    filtered = full.search_query(q, source="src-00", limit=1000, facets=False)
    keep = set(ids(filtered))
    assert [h.score for h in plain.hits if h.story.id in keep] == [h.score for h in filtered.hits]


def test_sort_newest(full, stories):
    res = full.search_query(None, sort="newest", limit=50)
    dates = [sdate(h.story).replace(microsecond=0) for h in res.hits]
    assert dates == sorted(dates, reverse=True)
    want = sorted((sdate(s).replace(microsecond=0) for s in stories), reverse=True)[:50]
    assert dates == want
    assert all(h.score == 0.0 for h in res.hits)
    src = full.search_query(None, sort="newest", source="src-01", limit=1000)
    assert [sdate(h.story) for h in src.hits] == sorted((sdate(s) for s in stories if s.source_id == "src-01"),
                                                        reverse=True)


@pytest.mark.parametrize("sort", ["relevance", "newest"])
def test_paging_with_offset(full, sort):
    q = term(full, "text", "troops")
    whole = full.search_query(q, sort=sort, limit=125, facets=False)
    assert whole.total > 125
    pages = []
    for offset in range(0, 125, 25):
        page = full.search_query(q, sort=sort, limit=25, offset=offset, facets=False)
        assert page.total == whole.total
        pages += ids(page)
    assert pages == ids(whole)
    beyond = full.search_query(q, sort=sort, limit=10, offset=whole.total)
    assert beyond.hits == [] and beyond.total == whole.total


def test_limit_zero_gives_counts_and_facets(full, stories):
    res = full.search_query(None, limit=0)
    assert res.hits == [] and res.total == N
    assert_facets(res, stories)


def test_facets_match_brute_force(full, stories):
    assert_facets(full.search_query(None, limit=1), stories)
    russia = [s for s in stories if "russia" in labels(s).get("gpe", ())]
    assert_facets(full.search_query(None, entities={"gpe": ["Russia"]}), russia)
    q = term(full, "text", "bounty")
    hits = [s for s in stories if "bounty" in words(s)]
    assert_facets(full.search_query(q), hits)
    since = BASE + timedelta(days=10)
    narrow = [s for s in stories if s.source_id == "src-05" and sdate(s) >= since]
    res = full.search_query(None, source="src-05", since=since)
    assert res.total == len(narrow)
    assert_facets(res, narrow)


def test_facets_off_and_no_hits(full):
    res = full.search_query(None, facets=False, limit=3)
    assert res.total == N and len(res.hits) == 3
    assert res.facets.sources == [] and res.facets.days == []
    assert all(v == [] for v in res.facets.entities.values())
    empty = full.search_query(None, source="no-such-source")
    assert empty.total == 0 and empty.hits == [] and empty.facets.sources == []
    assert set(empty.facets.entities) == set(ENTITY_FIELDS)
    assert empty.to_dict()["total"] == 0


def test_result_to_dict(full):
    data = full.search_query(None, limit=2).to_dict()
    assert data["total"] == N and len(data["hits"]) == 2
    assert {"value", "count"} == set(data["facets"]["sources"][0])
    assert set(data["facets"]["entities"]) == set(ENTITY_FIELDS)


# ---------------------------------------------------------------- query strings, validation
def test_query_strings_go_through_the_translator(tmp_path, stories):
    seen = []

    def translate(text, schema):
        seen.append(text)
        if text == "bad":
            raise ValueError("unbalanced quote")
        return tantivy.Query.term_query(schema, "text", text)

    with TantivyIndex(tmp_path / "index", writer_heap_mb=16, translate=translate) as ix:
        ix.upsert(stories[:50])
        ix.commit()
        res = ix.search("kremlin", limit=100)
        assert set(ids(res)) == {s.id for s in stories[:50] if "kremlin" in s.text.split()}
        assert ix.search("   ").total == 50  # blank = match all, translator not called
        assert ix.search(None).total == 50
        with pytest.raises(QueryError, match="invalid query 'bad'"):
            ix.search("bad")
        assert seen == ["kremlin", "bad"]


def test_default_translator_uses_the_topic_language(full, stories):
    try:
        import newswatch.topics.tantivy_query  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(IndexBackendError, match="newswatch.topics"):
            full.search("russia")
        return
    res = full.search("text:kremlin AND gpe:Russia", limit=1000, facets=False)
    assert set(ids(res)) == {s.id for s in stories if "kremlin" in words(s) and "russia" in labels(s).get("gpe", ())}
    pref = full.search("text:bount*", limit=1000, facets=False)  # a real prefix, not an exact term
    assert set(ids(pref)) == {s.id for s in stories if words(s) & {"bounty", "bounties"}}
    neg = full.search("text:kremlin AND NOT text:doha", limit=1000, facets=False)
    assert set(ids(neg)) == {s.id for s in stories if "kremlin" in words(s) and "doha" not in words(s)}
    assert neg.total > 0
    from newswatch.errors import NewswatchError
    with pytest.raises(NewswatchError):
        full.search('"unbalanced')


@pytest.mark.parametrize("kwargs,match", [
    ({"entities": {"planet": ["Mars"]}}, "unknown entity field"),
    ({"since": datetime(2024, 1, 1)}, "tz-aware"),
    ({"sort": "oldest"}, "unknown sort"),
    ({"limit": -1}, ">= 0"),
    ({"limit": 9_000, "offset": 2_000}, "<= 10000"),
])
def test_invalid_requests(full, kwargs, match):
    with pytest.raises(QueryError, match=match):
        full.search_query(None, **kwargs)


def test_schema_mismatch_is_a_clear_error(tmp_path):
    path = tmp_path / "index"
    path.mkdir()
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("something_else", stored=True)
    tantivy.Index(sb.build(), path=str(path))
    with pytest.raises(IndexSchemaError, match="different schema"):
        TantivyIndex(path)


def test_build_schema_is_usable_without_an_index():
    schema = build_schema()
    tantivy.Query.term_query(schema, "gpe", "russia")
    tantivy.Query.phrase_query(schema, "title", ["russia", "denies"])


def test_out_of_range_dates_are_clamped_not_fatal(ix, stories):
    ancient = stories[0].model_copy(update={"id": "ancient", "published": datetime(1, 1, 1, tzinfo=UTC)})
    future = stories[1].model_copy(update={
        "id": "future", "published": datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))})
    ix.upsert([ancient, future, stories[2]])
    ix.commit()
    assert ix.get("ancient") == ancient and ix.get("future") == future
    assert ids(ix.search_query(None, sort="newest"))[::2] == ["future", "ancient"]
    assert ids(ix.search_query(None, until=datetime(1900, 1, 1, tzinfo=UTC))) == ["ancient"]
    assert [d for d, _ in ix.search_query(None).facets.days][::2] == ["1677-09-21", "2262-04-11"]


def test_story_fields():
    from newswatch.index.base import story_fields
    s = Story(id="x", source_id="Wire  AP", title="T", summary="Sum", content="Body", fetched_at=BASE,
              language="DE", topics=(TopicMatch(id="a", score=1), TopicMatch(id="a", score=2)),
              entities=(Entity(text="Kremlin", label="ORG", canonical="The  Kremlin"),
                        Entity(text="kremlin", label="ORG", canonical="the kremlin"),
                        Entity(text="War", label="WORK_OF_ART", canonical="War and Peace"),
                        Entity(text="", label="GPE", canonical="")))
    f = story_fields(s)
    assert f["text"] == ["Body"] and f["lang"] == ["de"] and f["topic"] == ["a"] and f["source"] == ["wire ap"]
    assert f["org"] == ["the kremlin"] and f["gpe"] == [] and f["cluster"] == []
    assert f["entity"] == ["the kremlin"]  # WORK_OF_ART and empty canonicals are not indexed
    assert story_fields(s.model_copy(update={"content": ""}))["text"] == ["Sum"]
    assert story_fields(s.model_copy(update={"text": "Clean"}))["text"] == ["Clean"]


PARITY_QUERIES = [
    "kremlin", "bount*", '"wheat exports"', '"russia taliban"~3', "kremlin AND NOT doha",
    "gpe:Russia AND org:Taliban", 'person:"Mike Pompeo" OR person:"Maria Zakharova"', "entity:kabul",
    "source:src-03", "lang:de", "topic:bounties", "cluster:c7", "title:markets AND NOT text:oil",
    "(troops OR soldiers) AND (bounty OR payments) AND NOT hunter", "gpe:mosc*",
]


@pytest.mark.parametrize("query", PARITY_QUERIES)
def test_backtest_parity_with_the_in_stream_matcher(full, stories, query):
    """A topic query finds the same stories in the index as the live matcher flags."""
    topics = pytest.importorskip("newswatch.topics")
    from newswatch.config import TopicSpec

    matcher = topics.TopicMatcher.compile([TopicSpec(id="t", query=query)])
    stream = {s.id for s in stories if matcher.match(topics.MatchDoc.from_story(s))}
    backtest = set(ids(full.search(query, limit=1000, facets=False)))
    assert stream == backtest
    assert 0 < len(stream) < N or query == "cluster:c7"
