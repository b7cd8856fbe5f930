"""Index benchmark (not a test): embedded tantivy at scale, and Elasticsearch bulk building cost.

    python bench/index.py                      # 100k and 1M stories (~10 min, ~1 GB of disk)
    python bench/index.py --sizes 20000,100000 # quicker
    python bench/index.py --json               # one JSON object per measurement

For each size N it generates N stories (deterministic, Zipf-distributed
entities and sources, ~1.2 KB of JSON each), indexes them into a fresh
TantivyIndex under ``--dir`` (committing every ``--commit-every`` stories, as
the pipeline commits per micro-batch), then measures searches that analysts
run: a term query with an entity filter and facets, a prefix query with
facets, and a filter-only search sorted by date. Reported: generation and
indexing docs/s, index size on disk, and p50/p95/max latency per query kind
(after warm-up). Goal: faceted search p95 <= 50 ms at 1M stories.

The Elasticsearch part needs no server: the cost of turning 1,000 stories
into bulk request bodies (``story_action`` + batching), in ms and bytes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newswatch.index.tantivy_index import TantivyIndex  # noqa: E402
from newswatch.records import Entity, MatchedTerm, Story, TopicMatch  # noqa: E402

BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)
SOURCES = [f"src-{i:03d}" for i in range(150)]
TOPICS = ["russia-taliban", "bounties", "elections", "climate", "markets", "health", "energy", "cyber"]
LABELS = ["PERSON", "ORG", "GPE", "NORP", "LOC", "EVENT", "PRODUCT", "FAC"]
HEAD = {"PERSON": ["Mike Pompeo", "Maria Zakharova", "Sergei Lavrov", "Dmitry Peskov", "Vladimir Putin"],
        "ORG": ["Taliban", "Kremlin", "NATO", "United Nations", "Reuters"],
        "GPE": ["Russia", "United States", "Afghanistan", "Moscow", "Kabul", "Doha"]}
WORDS = ("russia taliban bounty bounties troops payments kremlin denies arming wheat exports talks doha hunter "
         "bug program coalition soldiers militants officials report intelligence weapons election vote climate "
         "summit markets oil prices sanctions embassy statement minister parliament border ceasefire refugees "
         "drone strike inflation bank court ruling protest police vaccine outbreak energy gas pipeline").split()


def zipf_cum(n: int) -> list[float]:
    """Cumulative Zipf weights (``random.choices(cum_weights=...)`` is O(log n) with them)."""
    return list(itertools.accumulate(1.0 / (i + 1) for i in range(n)))


def generate(n: int, seed: int = 11) -> Iterator[Story]:
    """``n`` stories; built with ``model_construct`` (fields are valid by construction) to keep 1M fast."""
    rng = random.Random(seed)
    pools = {lab: HEAD.get(lab, []) + [f"{lab.title()} Name {k}" for k in range(2000)] for lab in LABELS}
    weights = {lab: zipf_cum(len(pool)) for lab, pool in pools.items()}
    src_w = zipf_cum(len(SOURCES))
    for i in range(n):
        words = rng.choices(WORDS, k=rng.randint(30, 90))
        fetched = BASE + timedelta(seconds=rng.randint(0, 86400 * 180))
        ents = []
        for lab in rng.choices(LABELS, k=rng.randint(1, 8)):
            canon = rng.choices(pools[lab], cum_weights=weights[lab])[0]
            ents.append(Entity.model_construct(text=canon, label=lab, canonical=canon, start=-1, end=-1))
        topics = tuple(TopicMatch.model_construct(id=t, score=1.0, matched=(
            MatchedTerm.model_construct(term="x", field="text", start=0, end=1),))
            for t in rng.sample(TOPICS, rng.choice([0, 0, 0, 1, 1, 2])))
        yield Story.model_construct(
            kind="story", schema_version=1, id=f"b{i:08d}", source_id=rng.choices(SOURCES, cum_weights=src_w)[0],
            feed_url=None, guid=None, url=f"https://example.com/{i}", title=" ".join(words[:8]).capitalize(),
            summary="", content="", authors=(), published=fetched - timedelta(minutes=rng.randint(0, 600)),
            fetched_at=fetched, language=None, tags=(), text=" ".join(words), lang="en",
            entities=tuple(ents), topics=topics, cluster_id=f"c{i // 3}", pipeline_version="bench")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def timed(fn: Callable[[], Any], runs: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(pct(ms, 0.95), 2),
            "max_ms": round(max(ms), 2)}


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_tantivy(n: int, where: Path, commit_every: int, runs: int, emit: Callable[[dict[str, Any]], None]) -> None:
    path = where / f"tantivy-{n}"
    shutil.rmtree(path, ignore_errors=True)
    ix = TantivyIndex(path, writer_heap_mb=256)
    gen_s = index_s = 0.0
    batch: list[Story] = []
    stories = generate(n)
    t_all = time.perf_counter()
    while True:
        t = time.perf_counter()
        batch = [s for _, s in zip(range(commit_every), stories)]
        gen_s += time.perf_counter() - t
        if not batch:
            break
        t = time.perf_counter()
        ix.upsert(batch)
        ix.commit()
        index_s += time.perf_counter() - t
    total_s = time.perf_counter() - t_all
    assert ix.count() == n, (ix.count(), n)
    emit({"bench": "tantivy-bulk", "stories": n, "generate_docs_per_s": round(n / gen_s),
          "index_docs_per_s": round(n / index_s), "wall_s": round(total_s, 1),
          "disk_mb": round(dir_size(path) / 1e6, 1), "commit_every": commit_every})
    rng = random.Random(5)
    qs = ["russia", "taliban AND troops", '"kremlin denies"', "bount*", "oil OR gas"]
    ents = ["Russia", "United States", "Moscow", "Kabul"]

    def faceted() -> None:
        ix.search(rng.choice(qs), entities={"gpe": rng.choice(ents)}, limit=20, facets=True)

    def prefix_facets() -> None:
        ix.search(rng.choice(["bount*", "weap*", "elect*", "sanction*"]), limit=20, facets=True)

    def newest_filter() -> None:
        ix.search(None, source=rng.choice(SOURCES[:20]), topic="bounties", limit=20, sort="newest", facets=False)

    def match_all_facets() -> None:
        ix.search(None, limit=20, facets=True)

    for name, fn in [("term+entity filter+facets", faceted), ("prefix+facets", prefix_facets),
                     ("filters, newest, no facets", newest_filter), ("all stories+facets", match_all_facets)]:
        emit({"bench": "tantivy-query", "stories": n, "query": name, "runs": runs, **timed(fn, runs)})
    ix.close()


def bench_es_build(emit: Callable[[dict[str, Any]], None], n: int = 5000) -> None:
    from newswatch.index.es_bulk import batches
    from newswatch.index.es_index import story_action

    stories = [s.model_copy() for s in generate(n, seed=3)]
    t = time.perf_counter()
    actions = [story_action(s) for s in stories]
    bodies = [b"".join(a.lines for a in batch) for batch in batches(actions, 500, 5_000_000)]
    ms = (time.perf_counter() - t) * 1000
    size = sum(len(b) for b in bodies)
    emit({"bench": "es-bulk-build", "stories": n, "ms_per_1000": round(ms * 1000 / n, 1),
          "bytes_per_1000": round(size * 1000 / n), "requests": len(bodies)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated story counts (default 100k,1M)")
    ap.add_argument("--dir", type=Path, default=ROOT / ".bench" / "index", help="where the indexes are built")
    ap.add_argument("--commit-every", type=int, default=10_000, help="stories per upsert+commit")
    ap.add_argument("--runs", type=int, default=60, help="timed searches per query kind")
    ap.add_argument("--keep", action="store_true", help="keep the built indexes")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args(argv)
    sizes = [int(x.replace("_", "")) for x in args.sizes.split(",") if x.strip()]
    args.dir.mkdir(parents=True, exist_ok=True)

    def emit(row: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            kind = row.pop("bench")
            print(f"{kind:14s} " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)

    bench_es_build(emit)
    for n in sizes:
        bench_tantivy(n, args.dir, args.commit_every, args.runs, emit)
        if not args.keep:
            shutil.rmtree(args.dir / f"tantivy-{n}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
