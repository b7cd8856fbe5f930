"""Benchmark of the embedded pipeline (``make bench``). Not a test: it prints numbers.

Measured in one run on the same texts:

1. bare spaCy ``nlp.pipe`` (same model, same NER-only components, same batch size)
   → articles/s: the baseline;
2. the newswatch live pipeline (as in ``newswatch run``) over the same articles
   queued on the durable local bus (decode, clean, language, NER, aliases,
   topics, index commit, alert outbox, ack) → articles/s, and the ratio to (1);
   also the one-shot ``ingest`` path (bounded runs of ``batch_max``);
3. ``newswatch run`` as a real process polling a local feed to which stories are
   added one at a time: feed-visible → alert-in-the-log latency p50/p95;
4. peak RSS of the benchmark process and of the ``run`` process.

Usage: python bench/pipeline.py [--articles N] [--alerts N] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connectors.files import read_any  # noqa: E402
from newswatch import backends  # noqa: E402
from newswatch.config import ConfigSet  # noqa: E402
from newswatch.demo import DemoItem, load_demo_items, render_rss  # noqa: E402
from newswatch.nlp import load_model  # noqa: E402
from newswatch.process import RecordError, prepare  # noqa: E402
from newswatch.records import RawArticle  # noqa: E402
from newswatch.settings import Settings  # noqa: E402
from pipelines.live import run_live, stop_live  # noqa: E402
from pipelines.run import run_batch  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "feeds" / "news"


def corpus(n: int) -> list[RawArticle]:
    """English articles from the real feeds (else the project's samples), seed story first."""
    arts: list[RawArticle] = list(read_any(REPO / "samples" / "seed-story.txt", settings=Settings()).articles)
    if SHARED.is_dir():
        for path in sorted(SHARED.glob("*.xml")) + sorted(SHARED.glob("*.rss")):
            for a in read_any(path, settings=Settings()).articles:
                try:
                    st = prepare(a)
                except RecordError:
                    continue
                if st.lang in (None, "en"):
                    arts.append(a)
    else:
        print(f"(real feeds not found at {SHARED}; using the project's demo items)")
        cfg = Settings()
        for item in load_demo_items(REPO / "samples"):
            arts.append(RawArticle.create(source_id=item.source, title=item.title, summary=item.summary,
                                          url=item.url, fetched_at=datetime.now(timezone.utc)))
    seen: dict[str, RawArticle] = {}
    for a in arts:
        seen.setdefault(a.id, a)
    out = list(seen.values())
    while len(out) < n:  # repeat with new ids if the corpus is small
        out += [a.model_copy(update={"id": f"{a.id}-{len(out)}"}) for a in out[: n - len(out)]]
    return out[:n]


def bench_throughput(articles: list[RawArticle], settings: Settings, cfg: ConfigSet, rounds: int = 3) -> dict:
    """Paired rounds on a noisy machine: bare spaCy, then the live pipeline, each round;
    the ratio is the median of the per-round ratios."""
    texts = [prepare(a).text for a in articles]
    words = sum(len(t.split()) for t in texts)
    nlp = load_model(settings.spacy_model)
    list(nlp.pipe(texts[:16], batch_size=settings.nlp_batch_size))  # warm-up

    # The pipeline is long-lived (as in `newswatch run`): start it, let a warm-up story through.
    bus = backends.open_bus(settings)
    thread = threading.Thread(target=run_live, args=(settings,),
                              kwargs={"topics": cfg.topics.topics, "entities": cfg.entities}, daemon=True)
    thread.start()

    def drained() -> bool:
        st = bus.stats()
        return not st["pending"] and not st["leased"]

    bus.publish([RawArticle.create(source_id="bench", title="Warm-up story", summary="Moscow talks.",
                                   url="https://bench.example/warm-up")], dedup=False)
    while not drained():
        time.sleep(0.02)
    bare_s: list[float] = []
    pipe_s: list[float] = []
    for r in range(rounds):
        t0 = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=settings.nlp_batch_size):
            pass
        bare_s.append(time.perf_counter() - t0)
        fresh = [a.model_copy(update={"id": f"{a.id}-r{r}"}) for a in articles]  # new stories each round
        t0 = time.perf_counter()
        bus.publish(fresh, dedup=False)
        while not drained():
            time.sleep(0.02)
        pipe_s.append(time.perf_counter() - t0)
    stop_live(settings)
    thread.join(60)
    indexed = backends.open_index(settings, readonly=True).count() - 1  # less the warm-up story

    # the one-shot path (`newswatch ingest`): bounded pipeline runs of batch_max messages
    settings2 = settings.with_overrides(data_dir=settings.data_dir.parent / "var-ingest")
    bus2 = backends.open_bus(settings2)
    bus2.publish(articles, dedup=False)
    t0 = time.perf_counter()
    batches = 0
    while msgs := bus2.lease(settings2.batch_max, 600):
        run_batch([(m.offset, m.key, m.payload) for m in msgs], settings2, topics=cfg.topics.topics,
                  entities=cfg.entities)
        bus2.ack([m.offset for m in msgs])
        batches += 1
    ingest_s = time.perf_counter() - t0
    n = len(articles)
    ratios = sorted(b / p for b, p in zip(bare_s, pipe_s))
    return {"articles": n, "words": words, "avg_words": round(words / n), "rounds": rounds,
            "bare_spacy_articles_per_s": n / statistics.median(bare_s),
            "pipeline_articles_per_s": n / statistics.median(pipe_s),
            "ratio": statistics.median(ratios), "ratios": ratios, "indexed": indexed,
            "ingest_articles_per_s": n / ingest_s, "ingest_ratio": statistics.median(bare_s) / ingest_s,
            "ingest_batches": batches, "batch_max": settings.batch_max}


# ----------------------------------------------------------- alert latency
class GrowingFeed:
    """A feed on 127.0.0.1 to which items are appended; remembers when each became visible."""

    def __init__(self, items: list[DemoItem]) -> None:
        self.items, self.visible, self.lock = items, 0, threading.Lock()
        self.visible_at: dict[str, float] = {}
        feed = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with feed.lock:
                    body = render_rss("Bench", "https://bench.example/", feed.items[: feed.visible],
                                      datetime.now(timezone.utc))
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feed.xml"

    def release(self) -> DemoItem:
        with self.lock:
            item = self.items[self.visible]
            self.visible += 1
            self.visible_at[item.title] = time.time()
        return item


def latency_items(n: int) -> list[DemoItem]:
    people = ["Maria Zakharova", "Dmitry Peskov", "Sergei Lavrov", "Zamir Kabulov", "Vladimir Putin"]
    places = ["Kabul", "Moscow", "Doha", "Kazan", "Tashkent"]
    items = []
    for i in range(n):
        p, c = people[i % len(people)], places[i % len(places)]
        items.append(DemoItem(id=f"lat-{i}", source="bench-wire", category="topic",
                              title=f"{p} comments on Taliban contacts ({i})",
                              summary=f"{p} said on day {i} that Russia would keep talking to the Taliban "
                                      f"after a meeting in {c}, officials told reporters.",
                              url=f"https://bench-wire.example/story-{i}", published_offset_min=0,
                              language="en", expect=["russia-taliban"]))
    return items


def bench_latency(n: int, workdir: Path) -> dict:
    feed = GrowingFeed(latency_items(n))
    config = workdir / "config"
    shutil.copytree(REPO / "config", config)
    (config / "feeds.yaml").write_text(json.dumps({"defaults": {"interval": 0.5},
                                                   "feeds": [{"id": "bench-wire", "url": feed.url}], "wire": []}))
    data = workdir / "var-run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "newswatch"), "run", "--config", str(config),
                             "--data", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
    alert_log = data / "alerts.ndjson"
    latencies: list[float] = []
    hwm_kb = 0
    try:
        deadline = time.time() + 60
        while not (data / "queue.sqlite3").exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(3.0)  # model loaded, first empty polls done
        for _ in range(n):
            item = feed.release()
            t_visible = feed.visible_at[item.title]
            deadline = time.time() + 30
            while time.time() < deadline:
                if alert_log.exists() and item.title in alert_log.read_text():
                    latencies.append(time.time() - t_visible)
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError(f"no alert for {item.title!r} within 30 s")
            time.sleep(0.3)
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm_kb = int(line.split()[1])
    finally:
        proc.terminate()
        proc.wait(30)
        feed.server.shutdown()
    lat = sorted(latencies)
    return {"alerts": len(lat), "p50_s": statistics.median(lat), "p95_s": lat[max(0, int(round(0.95 * len(lat))) - 1)],
            "max_s": lat[-1], "run_peak_rss_mb": hwm_kb / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=400)
    ap.add_argument("--alerts", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=REPO / ".bench" / "pipeline.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newswatch-bench-"))
    try:
        settings = Settings(data_dir=work / "var", config_dir=REPO / "config")
        cfg = ConfigSet.load(REPO / "config")
        arts = corpus(args.articles)
        print(f"throughput: {len(arts)} articles, model {settings.spacy_model}, batch_max {settings.batch_max}, "
              f"nlp batch {settings.nlp_batch_size}")
        tp = bench_throughput(arts, settings, cfg, rounds=args.rounds)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  bare spaCy nlp.pipe : {tp['bare_spacy_articles_per_s']:8.1f} articles/s "
              f"({tp['avg_words']} words/article)")
        print(f"  newswatch pipeline  : {tp['pipeline_articles_per_s']:8.1f} articles/s "
              f"(live pipeline over the local bus, {tp['indexed']} indexed)")
        print(f"  ratio pipeline/bare : {tp['ratio']:8.2f}   (median of {tp['rounds']} paired rounds: "
              f"{', '.join(f'{r:.2f}' for r in tp['ratios'])}; goal ≥ 0.90)")
        print(f"  one-shot ingest     : {tp['ingest_articles_per_s']:8.1f} articles/s "
              f"({tp['ingest_batches']} bounded runs of ≤{tp['batch_max']}; ratio {tp['ingest_ratio']:.2f})")
        print(f"  peak RSS (bench)    : {rss_mb:8.0f} MB")
        print(f"latency: {args.alerts} stories appended one at a time to a feed polled every 0.5 s by `newswatch run`")
        lat = bench_latency(args.alerts, work)
        print(f"  feed-visible → alert: p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s, max {lat['max_s']:.2f} s"
              f"   (goal p95 ≤ 2 s)")
        print(f"  peak RSS (run)      : {lat['run_peak_rss_mb']:8.0f} MB   (goal ≤ 1024 MB)")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"throughput": tp, "latency": lat, "bench_peak_rss_mb": rss_mb}, indent=2))
        print(f"(numbers saved to {args.json})")
    finally:
        backends.close_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
