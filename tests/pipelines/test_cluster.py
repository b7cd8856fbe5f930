"""AssignClusterFn on a real Beam pipeline (TestPipeline, in process)."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newswatch.cluster import SqliteClusterStore, sign
from newswatch.records import RawArticle, Story
from pipelines.cluster import AssignClusterFn

REPO = Path(__file__).resolve().parents[2]
SYNDICATED = sorted((REPO / "samples" / "syndicated").glob("*.txt"))


def story_of(path: Path) -> Story:
    text = path.read_text(encoding="utf-8")
    art = RawArticle.create(source_id=path.stem, title=text.split("\n", 1)[0],
                            url=f"https://{path.stem}.example/story", content=text)
    return Story.from_article(art, text=text)


def test_assign_cluster_fn_sets_cluster_ids_from_the_shared_store(tmp_path):
    store_path = tmp_path / "clusters.sqlite3"
    first = story_of(SYNDICATED[0])
    with SqliteClusterStore(store_path) as st:  # an earlier batch founded the cluster
        st.assign(sign(first.id, first.text, st.settings))
    copies = [story_of(p) for p in SYNDICATED[1:4]]
    other = Story.from_article(RawArticle.create(source_id="x", title="Port of Rotterdam volumes",
                                                 url="https://x.example/port"),
                               text="The Port of Rotterdam handled a record 11.4 million containers in the"
                                    " first nine months of the year, the port authority said on Tuesday.")
    with TestPipeline(runner="FnApiRunner") as p:
        out = (p | beam.Create(copies + [other], reshuffle=False)
               | beam.ParDo(AssignClusterFn(store_path))
               | beam.Map(lambda s: (s.id, s.cluster_id)))
        assert_that(out, equal_to([(c.id, first.id) for c in copies] + [(other.id, other.id)]))
    with SqliteClusterStore(store_path) as st:
        assert st.stats()["stories"] == 5


def test_batch_assignment_equals_one_by_one(tmp_path):
    """AssignClustersFn (one transaction per batch) gives the clusters that story-by-story assignment gives."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from newswatch.cluster import SqliteClusterStore, with_cluster
    from newswatch.records import RawArticle, Story
    from pipelines.cluster import AssignClustersFn

    base = ("Russia has rejected U.S. allegations that it has been arming the Taliban in their fight against "
            "U.S. troops in Afghanistan, dismissing the assertion that the weapon sales were raised")
    texts = [base, base + " on Thursday.", "Central bank raises interest rates to curb inflation in the euro area "
             "as energy prices climb for a third month", base.replace("Russia", "Moscow")]
    stories = [Story.from_article(RawArticle.create(source_id="s", title=f"t{i}", url=f"https://e.com/{i}"), text=t)
               for i, t in enumerate(texts)]
    one_by_one = SqliteClusterStore(tmp_path / "a.sqlite3")
    expected = [(s.id, with_cluster(s, one_by_one).cluster_id) for s in stories]
    assert expected[1][1] == expected[0][1] and expected[2][1] == stories[2].id
    with TestPipeline(runner="FnApiRunner") as p:
        out = (p | beam.Create([stories]) | beam.ParDo(AssignClustersFn(tmp_path / "b.sqlite3"))
               | beam.FlatMap(lambda batch: [(s.id, s.cluster_id) for s in batch]))
        assert_that(out, equal_to(expected))
