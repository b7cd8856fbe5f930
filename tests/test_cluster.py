"""Near-duplicate clustering (newswatch.cluster): real rewrites of the seed story,
unrelated stories, restarts, two processes on one store, pruning."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasketch import MinHash

from newswatch.cluster import (ClusterSettings, SqliteClusterStore, assign_cluster, assign_clusters, jaccard,
                               shingles, sign, signature)
from newswatch.errors import ConfigError
from newswatch.records import RawArticle, Story

REPO = Path(__file__).resolve().parents[1]
SYNDICATED = sorted((REPO / "samples" / "syndicated").glob("*.txt"))


def story_of(path: Path) -> Story:
    text = path.read_text(encoding="utf-8")
    title = text.split("\n", 1)[0]
    art = RawArticle.create(source_id=path.stem, title=title, url=f"https://{path.stem}.example/story", content=text)
    return Story.from_article(art, text=text)


def demo_stories(category: str) -> list[Story]:
    items = yaml.safe_load((REPO / "samples" / "demo-items.yaml").read_text(encoding="utf-8"))["items"]
    out = []
    for it in items:
        if it.get("category") != category or "summary" not in it:
            continue
        text = f"{it['title']}\n\n{it['summary']}"
        art = RawArticle.create(source_id=it["source"], title=it["title"], url=it["url"], summary=it["summary"])
        out.append(Story.from_article(art, text=text))
    return out


@pytest.fixture
def store(tmp_path):
    s = SqliteClusterStore(tmp_path / "clusters.sqlite3")
    yield s
    s.close()


def test_samples_are_twelve_real_rewrites():
    assert len(SYNDICATED) == 12
    texts = [p.read_text(encoding="utf-8") for p in SYNDICATED]
    titles = {t.split("\n", 1)[0] for t in texts}
    assert len(titles) == 12                      # every outlet changed the headline
    sets = [shingles(t) for t in texts]
    assert len({frozenset(s) for s in sets}) == 12  # no two copies are identical
    assert all(len(s) < len(sets[0]) for s in sets[1:])  # trimmed against the full wire copy


def test_signature_is_datasketch_minhash():
    import zlib

    items = shingles(SYNDICATED[0].read_text(encoding="utf-8"))
    m = MinHash(num_perm=128, seed=1, scheme="affine32", hashfunc=zlib.crc32)
    for it in items:
        m.update(it)
    assert np.array_equal(signature(items), m.hashvalues.astype(np.uint32))


def test_text_signature_estimates_jaccard_of_word_shingles():
    """The vectorized shingle hashing keeps MinHash's promise: equal fractions ≈ Jaccard."""
    from newswatch.cluster import jaccard, shingle_hashes, text_signature
    from newswatch.fields import tokenize

    words = [t.text for t in tokenize(SYNDICATED[0].read_text(encoding="utf-8"))]
    assert len(set(shingle_hashes(words, 3).tolist())) == len(shingles(" ".join(words), 3))  # no collisions
    assert not np.array_equal(shingle_hashes(["a", "b", "c"], 3), shingle_hashes(["c", "b", "a"], 3))
    half = words[: len(words) // 2]
    a, b = set(shingle_hashes(words, 3).tolist()), set(shingle_hashes(half, 3).tolist())
    true_j = len(a & b) / len(a | b)
    est = jaccard(text_signature(words, 3, 256), text_signature(half, 3, 256))
    assert abs(est - true_j) < 0.1
    assert jaccard(text_signature(words, 3), text_signature(words, 3)) == 1.0


def test_shingles_use_the_index_tokenizer():
    assert shingles("Russia, the KREMLIN said!", 3) == {b"russia the kremlin", b"the kremlin said"}
    assert shingles("two words", 3) == {b"two words"}
    assert shingles("", 3) == set()


def test_rewrites_join_the_first_story_cluster(store):
    stories = [story_of(p) for p in SYNDICATED]
    out = assign_clusters(stories, store)
    assert {s.cluster_id for s in out} == {stories[0].id}
    assert store.members(stories[0].id) == [s.id for s in stories]


def test_unrelated_stories_do_not_cluster(store):
    seed = story_of(SYNDICATED[0])
    assert assign_cluster(seed, store) == seed.id
    others = demo_stories("near-miss") + demo_stories("general")
    assert len(others) >= 10
    for s in others:
        assert assign_cluster(s, store) == s.id, s.title
    sig_seed = sign(seed.id, seed.text, store.settings).sig
    assert max(jaccard(sig_seed, sign(s.id, s.text, store.settings).sig) for s in others) < 0.1


def test_idempotent_and_short_stories(store):
    seed, copy = story_of(SYNDICATED[0]), story_of(SYNDICATED[6])
    assert assign_cluster(seed, store) == seed.id
    assert assign_cluster(copy, store) == seed.id
    assert assign_cluster(copy, store) == seed.id
    assert assign_cluster(seed, store) == seed.id
    edited = copy.model_copy(update={"text": "completely different text now " * 5})
    assert assign_cluster(edited, store) == seed.id  # same story id: same cluster, even if edited
    short = [Story.from_article(RawArticle.create(source_id="x", title="Live updates", url=f"https://x.example/{i}"),
                                text="Live updates") for i in range(2)]
    assert [assign_cluster(s, store) for s in short] == [s.id for s in short]
    assert store.stats()["stories"] == 4


def test_restart_keeps_clusters(tmp_path):
    path = tmp_path / "c.sqlite3"
    first, second = story_of(SYNDICATED[0]), story_of(SYNDICATED[1])
    with SqliteClusterStore(path) as s:
        assert assign_cluster(first, s) == first.id
    with SqliteClusterStore(path) as s:
        assert s.cluster_of(first.id) == first.id
        assert assign_cluster(second, s) == first.id


def test_store_refuses_other_signature_parameters(tmp_path):
    path = tmp_path / "c.sqlite3"
    SqliteClusterStore(path).close()
    with pytest.raises(ConfigError, match="shingle_words"):
        SqliteClusterStore(path, ClusterSettings(shingle_words=4))
    SqliteClusterStore(path, ClusterSettings(threshold=0.5)).close()  # threshold may change


def test_settings_check_bands():
    with pytest.raises(ValueError, match="exceeds"):
        ClusterSettings(bands=64, rows=3)


def test_prune_forgets_old_stories(tmp_path):
    st = SqliteClusterStore(tmp_path / "c.sqlite3", ClusterSettings(horizon_days=14))
    try:
        t0 = time.time()
        old, copy = story_of(SYNDICATED[0]), story_of(SYNDICATED[1])
        st.assign(sign(old.id, old.text, st.settings), now=t0 - 20 * 86400)
        assert st.prune(now=t0) == 1
        assert st.cluster_of(old.id) is None
        n_bands = st._conn().execute("SELECT COUNT(*) FROM cluster_bands").fetchone()[0]
        assert n_bands == 0
        assert st.assign(sign(copy.id, copy.text, st.settings), now=t0) == copy.id  # a new cluster
    finally:
        st.close()


def test_two_processes_share_one_store(tmp_path):
    """Two workers assign copies and unrelated stories at the same moment: the
    copies end in one cluster, each story is stored once, both see the same ids."""
    path = tmp_path / "c.sqlite3"
    SqliteClusterStore(path).close()
    start = tmp_path / "go"
    others = tmp_path / "others"
    others.mkdir()
    for i, s in enumerate(demo_stories("near-miss")[:4]):
        (others / f"other-{i}.txt").write_text(s.text, encoding="utf-8")
    a_files = [SYNDICATED[0], SYNDICATED[6], others / "other-0.txt", others / "other-1.txt"]
    b_files = [SYNDICATED[12 - 1], SYNDICATED[1], others / "other-2.txt", others / "other-3.txt"]
    procs = [subprocess.Popen([sys.executable, __file__, str(path), str(start), *map(str, files)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
             for files in (a_files, b_files)]
    time.sleep(0.3)
    start.touch()
    results: dict[str, str] = {}
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        for line in out.split("\n"):
            if line.strip():
                sid, cid = line.split()
                results[sid] = cid
    copies = [story_of(f).id for f in (SYNDICATED[0], SYNDICATED[6], SYNDICATED[11], SYNDICATED[1])]
    assert len({results[c] for c in copies}) == 1
    assert results[copies[0]] in copies
    unrelated = [sid for sid in results if sid not in copies]
    assert len(unrelated) == 4 and all(results[u] == u for u in unrelated)
    with SqliteClusterStore(path) as st:
        assert st.stats()["stories"] == 8
        assert all(st.cluster_of(sid) == cid for sid, cid in results.items())


def _worker_main(argv: list[str]) -> None:
    """Subprocess side of test_two_processes_share_one_store."""
    store_path, start, *files = argv
    st = SqliteClusterStore(store_path)
    deadline = time.monotonic() + 30
    while not Path(start).exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    for f in files:
        s = story_of(Path(f))
        print(s.id, assign_cluster(s, st), flush=True)
    st.close()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    _worker_main(sys.argv[1:])
