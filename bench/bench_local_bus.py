"""Throughput/latency of the embedded bus (LocalBus) on this machine.

    .venv/bin/python bench/bench_local_bus.py [--n 5000] [--dir var/bench]

Measures: publish throughput (articles/s, batches of 50, each batch one fsync'd
transaction), dedup re-publish of unchanged articles, lease+ack round trip
(batch of 1 and of 64), and publish→wait→lease latency across threads.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from newswatch.bus.local import LocalBus
from newswatch.records import RawArticle

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "seed-story.txt"


def articles(n: int, tag: str) -> list[RawArticle]:
    text = SEED.read_text(encoding="utf-8") if SEED.exists() else "word " * 400
    return [RawArticle.create(source_id="bench", title=f"{tag} story {i}", url=f"https://bench.example/{tag}/{i}",
                              summary=text[:300], content=text) for i in range(n)]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    d = args.dir or Path(tempfile.mkdtemp(prefix="nw-bench-"))
    d.mkdir(parents=True, exist_ok=True)
    path = d / "queue.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    bus = LocalBus(path)
    arts = articles(args.n, "a")
    print(f"payload ~{len(arts[0].to_json())} bytes/article, file {path}")

    t0 = time.perf_counter()
    for i in range(0, len(arts), 50):
        bus.publish(arts[i:i + 50])
    dt = time.perf_counter() - t0
    per_batch = dt / (args.n / 50) * 1000
    print(f"publish (batches of 50, dedup on):  {args.n / dt:8.0f} articles/s  ({per_batch:.2f} ms/batch)")

    t0 = time.perf_counter()
    for i in range(0, len(arts), 50):
        bus.publish(arts[i:i + 50])
    dt = time.perf_counter() - t0
    print(f"re-publish unchanged (all deduped): {args.n / dt:8.0f} articles/s")

    t0 = time.perf_counter()
    for i in range(0, len(arts), 1):
        if i >= 500:
            break
        bus.publish([arts[i]], dedup=False)
    dt = time.perf_counter() - t0
    print(f"publish (batches of 1):             {500 / dt:8.0f} articles/s  ({dt / 500 * 1000:.2f} ms/publish)")

    for batch in (1, 64):
        lat: list[float] = []
        n = 0
        while n < min(args.n, 2000 if batch == 1 else args.n):
            t0 = time.perf_counter()
            msgs = bus.lease(batch, 30)
            if not msgs:
                break
            bus.ack([m.offset for m in msgs])
            lat.append(time.perf_counter() - t0)
            n += len(msgs)
        print(f"lease+ack round trip, batch {batch:>2}:    p50 {pct(lat, .5):.2f} ms  p99 {pct(lat, .99):.2f} ms"
              f"  ({n / sum(lat):.0f} msgs/s)")

    # publish in one thread → wait() in another → lease: end-to-end handoff latency
    while bus.lease(500, 30):
        pass
    consumer = LocalBus(path, poll_s=0.1)
    handoff: list[float] = []
    done = threading.Event()

    def consume() -> None:
        while not done.is_set():
            if consumer.wait(0.5):
                msgs = consumer.lease(50, 30)
                if msgs:
                    now = time.time()
                    handoff.extend(now - m.enqueued_at.timestamp() for m in msgs)
                    consumer.ack([m.offset for m in msgs])

    t = threading.Thread(target=consume)
    t.start()
    extra = articles(200, "h")
    for a in extra:
        bus.publish([a])
        time.sleep(0.005)
    time.sleep(0.3)
    done.set()
    t.join()
    print(f"publish→wait→lease handoff (same process): p50 {pct(handoff, .5):.2f} ms  p99 {pct(handoff, .99):.2f} ms"
          f"  n={len(handoff)}")
    print("stats:", {k: v for k, v in bus.stats().items() if k != "path"})
    consumer.close()
    bus.close()


if __name__ == "__main__":
    main()
