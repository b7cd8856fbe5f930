"""Topic matching cost per article as topics grow: 10, 1,000, 10,000 and 100,000 topics.

    .venv/bin/python bench/topics.py [--articles 300] [--sizes 10,1000,10000,100000] [--naive-docs 20]

Articles: a deterministic sample of the real feed items in
``../shared/data/feeds/news/`` plus the seed story, run once through the real
pipeline stages (spaCy NER, entity aliases) so the matcher sees real text and
real entities. Topics: :func:`newswatch.topics.generate.generate_topics` over a
vocabulary taken from those articles (entity clauses, phrases, prefixes,
proximity with NOT, weighted terms with ``min_score``, ``title:`` fields, nested
groups, ``source:``/``lang:``, excludes).

Reports per size: compile time, per-article matching time (mean and p95,
indexing the article included), candidates evaluated and topics fired per
article, the ratio to 10 topics, and — at 1k and 10k, on a sample of articles
— the naive cost of evaluating every topic. Also: re-compiling an identical
topic set (a hot reload; parse cache), and pickling the compiled matcher
(what Beam ships to workers). Goals: 10k ÷ 10 ≤ 3, 100k < 10 ms.

Timings are wall-clock on whatever else the machine is doing: compare ratios
within one run.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newswatch.topics.generate import generate_topics, sample, vocabulary_from_docs  # noqa: E402
from newswatch.topics.matcher import DocIndex, MatchDoc, TopicMatcher  # noqa: E402

FEEDS = ROOT.parent / "shared" / "data" / "feeds" / "news"
SEED = ROOT / "samples" / "seed-story.txt"


def load_docs(n: int) -> list[MatchDoc]:
    """``n`` real feed articles plus the seed story, with entities from the real pipeline stages."""
    from connectors.files import read_any
    from newswatch.config import ConfigSet
    from newswatch.process import Processor, match_doc
    from newswatch.settings import Settings

    settings = Settings()
    if not FEEDS.is_dir():
        sys.exit(f"real feed corpus not found at {FEEDS}")
    articles = sample(read_any(FEEDS, settings=settings)[0], n, seed=3)
    articles += read_any(SEED, settings=settings, source_id="seed")[0]
    cfg = ConfigSet.load(ROOT / "config")
    proc = Processor(model=settings.spacy_model, entities=cfg.entities, topics=())
    stories, _bad = proc.process(articles)  # type: ignore[arg-type]
    return [match_doc(s) for s in stories]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def time_matching(matcher: TopicMatcher, docs: list[MatchDoc]) -> tuple[list[float], float, float]:
    """Per-article seconds of ``match``, candidates and matches per article.

    The garbage collector stays on (as in production). A full collection first moves the
    freshly compiled matcher (built with the collector paused) to the oldest generation —
    without it the first ~100 articles pay for promoting millions of objects — then a
    short warm-up.
    """
    gc.collect()
    for d in docs[: max(1, len(docs) // 10)]:
        matcher.match(d)
    times = []
    fired = 0
    for d in docs:
        t0 = time.perf_counter()
        fired += len(matcher.match(d))
        times.append(time.perf_counter() - t0)
    cands = statistics.mean(len(matcher.candidates(DocIndex(d))) for d in docs)
    return times, cands, fired / len(docs)


def time_naive(matcher: TopicMatcher, docs: list[MatchDoc]) -> float:
    t0 = time.perf_counter()
    for d in docs:
        matcher.match_all_naive(d)
    return (time.perf_counter() - t0) / len(docs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=300)
    ap.add_argument("--sizes", default="10,1000,10000,100000")
    ap.add_argument("--naive-docs", type=int, default=20, help="articles for the naive evaluate-every-topic cost")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()

    t0 = time.perf_counter()
    docs = load_docs(args.articles)
    words = statistics.mean(len(DocIndex(d).fields["text"].tokens) for d in docs)
    ents = statistics.mean(len(d.entities) for d in docs)
    print(f"{len(docs)} articles (real feeds + seed story), {words:.0f} words and {ents:.1f} entity mentions "
          f"on average; NER {time.perf_counter() - t0:.1f}s")
    vocab = vocabulary_from_docs(docs)
    print(f"vocabulary: {len(vocab.words)} words, {len(vocab.entities)} entity values, {len(vocab.sources)} sources")
    naive_docs = sample(docs, args.naive_docs, seed=5)

    rows = []
    base_mean = None
    for n in sizes:
        specs = generate_topics(n, vocab, seed=11)
        t0 = time.perf_counter()
        matcher = TopicMatcher.compile(specs)
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        TopicMatcher.compile(specs)  # identical set again: parse cache (a hot reload of an unchanged file)
        recompile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        blob = pickle.dumps(matcher)
        pickle.loads(blob)
        pickle_s = time.perf_counter() - t0
        times, cands, fired = time_matching(matcher, docs)
        mean = statistics.mean(times)
        base_mean = base_mean if base_mean is not None else mean
        naive = time_naive(matcher, naive_docs) if n in (1000, 10000) else None
        stats = matcher.stats()
        rows.append((n, compile_s, recompile_s, pickle_s, len(blob), mean, pct(times, 0.95), cands, fired,
                     mean / base_mean, naive, stats))
        print(f"  {n:>7} topics: compile {compile_s:6.2f}s (again {recompile_s:5.2f}s), "
              f"match mean {mean * 1e3:6.3f} ms p95 {pct(times, 0.95) * 1e3:6.3f} ms, "
              f"{cands:6.1f} candidates, {fired:5.2f} fired/article"
              + (f", naive {naive * 1e3:8.2f} ms" if naive is not None else ""), flush=True)
        del matcher

    print()
    print(f"{'topics':>8} {'compile s':>9} {'again s':>8} {'pickle s':>8} {'mean ms':>8} {'p95 ms':>8} "
          f"{'×10':>6} {'cands':>7} {'fired':>6} {'naive ms':>9}  anchors / always-evaluated")
    for n, cs, rs, ps, _size, mean, p95, cands, fired, ratio, naive, stats in rows:
        naive_s = f"{naive * 1e3:9.2f}" if naive is not None else f"{'-':>9}"
        print(f"{n:>8} {cs:>9.2f} {rs:>8.2f} {ps:>8.2f} {mean * 1e3:>8.3f} {p95 * 1e3:>8.3f} {ratio:>6.2f} "
              f"{cands:>7.1f} {fired:>6.2f} {naive_s}  {stats.anchors} / {stats.always_evaluate}")
    by_n = {r[0]: r for r in rows}
    print()
    if 10 in by_n and 10000 in by_n:
        r = by_n[10000][9]
        print(f"goal 10k ÷ 10 ≤ 3: {r:.2f} — {'met' if r <= 3 else 'NOT met'}")
    if 100000 in by_n:
        m = by_n[100000][5] * 1e3
        print(f"goal 100k < 10 ms per article: {m:.2f} ms — {'met' if m < 10 else 'NOT met'}")
    for n in (1000, 10000):
        if n in by_n and by_n[n][10]:
            print(f"prefilter vs naive at {n}: {by_n[n][10] / by_n[n][5]:.0f}× faster")
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
