"""Benchmark of the alerts path (not a test): clustering cost and delivery latency.

    .venv/bin/python bench/alerts.py [--stories 100000] [--probe 2000] [--alerts 200] [--dir DIR]

1. **Clustering**: fills a :class:`SqliteClusterStore` with ``--stories``
   synthetic stories (~300 words drawn from a Zipf-distributed 20k-word
   vocabulary, signatures computed on all cores), then times
   :func:`assign_cluster` for ``--probe`` new stories — 10 % of them
   rewrites of stored stories (a third of the sentences dropped) — and
   reports µs/story (signature vs store part), the store's size, and whether
   the rewrites joined their originals.
2. **Delivery latency**: a notifier thread (``Notifier.run``) over the local
   outbox delivering to a real JSON webhook on 127.0.0.1; ``--alerts`` alerts
   are added to the outbox one at a time; latency = outbox commit → webhook
   received. Reports p50/p95/max (goal: p95 ≤ 1 s).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from newswatch.cluster import ClusterSettings, Signed, SqliteClusterStore, sign  # noqa: E402

VOCAB = 50_000
_CDF = None


def synthetic_text(i: int, words: int = 300) -> str:
    """~300 words with Zipf (s = 1) frequencies over a 50k vocabulary, like English
    news ("the" ≈ 9 % of tokens); unrelated texts share ~1 % of their 3-word shingles."""
    import numpy as np

    global _CDF
    if _CDF is None:
        w = 1.0 / np.arange(1, VOCAB + 1)
        _CDF = np.cumsum(w) / w.sum()
    ranks = np.searchsorted(_CDF, np.random.default_rng(i).random(words))
    out = [f"w{r}" for r in ranks]
    sentences = [" ".join(out[k:k + 20]) + "." for k in range(0, len(out), 20)]
    return " ".join(sentences)


def rewrite(text: str, seed: int) -> str:
    rng = random.Random(seed)
    sentences = text.split(". ")
    keep = [s for s in sentences if rng.random() > 0.33]
    return "Outlet header. " + ". ".join(keep)


def _sign_range(args: tuple[int, int]) -> list[tuple[str, bytes | None, list[int]]]:
    lo, hi = args
    s = ClusterSettings()
    out = []
    for i in range(lo, hi):
        sg = sign(f"story-{i}", synthetic_text(i), s)
        out.append((sg.story_id, sg.sig.tobytes() if sg.sig is not None else None, sg.keys))
    return out


def bench_clustering(d: Path, n: int, probe: int) -> dict:
    import numpy as np

    path = d / "clusters.sqlite3"
    store = SqliteClusterStore(path)
    t0 = time.perf_counter()
    chunks = [(lo, min(n, lo + 2000)) for lo in range(0, n, 2000)]
    done = 0
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for part in pool.map(_sign_range, chunks):
            signed = [Signed(sid, np.frombuffer(sig, dtype=np.uint32) if sig else None, keys)
                      for sid, sig, keys in part]
            store.assign_many(signed)
            done += len(signed)
            print(f"\r  filling store: {done}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    fill_s = time.perf_counter() - t0
    from newswatch.records import RawArticle, Story

    probes = []
    for j in range(probe):
        if j % 10 == 0:
            src = random.Random(j).randrange(n)
            text, expect = rewrite(synthetic_text(src), j), f"story-{src}"
        else:
            text, expect = synthetic_text(10_000_000 + j), None
        art = RawArticle.create(source_id="bench", title=f"probe {j}", url=f"https://bench.example/p/{j}")
        probes.append((Story.from_article(art, text=text), expect))
    sign_us, store_us, joined, wrong = [], [], 0, 0
    for story, expect in probes:
        t1 = time.perf_counter()
        sg = sign(story.id, story.text, store.settings)
        t2 = time.perf_counter()
        cid = store.assign(sg)
        t3 = time.perf_counter()
        sign_us.append((t2 - t1) * 1e6)
        store_us.append((t3 - t2) * 1e6)
        if expect is not None:
            joined += cid == expect
        elif cid != story.id:
            wrong += 1
    st = store.stats()
    store.close()
    total = [a + b for a, b in zip(sign_us, store_us)]
    return {
        "stories_in_store": st["stories"], "store_bytes": st["bytes"],
        "store_bytes_per_story": round(st["bytes"] / max(1, st["stories"])),
        "fill_seconds": round(fill_s, 1),
        "assign_us_mean": round(statistics.mean(total)), "assign_us_p50": round(statistics.median(total)),
        "assign_us_p95": round(sorted(total)[int(0.95 * len(total))]),
        "signature_us_mean": round(statistics.mean(sign_us)), "store_us_mean": round(statistics.mean(store_us)),
        "store_us_p95": round(sorted(store_us)[int(0.95 * len(store_us))]),
        "rewrites_joined": f"{joined}/{len(probes) // 10}", "unrelated_wrongly_joined": wrong,
    }


def bench_latency(d: Path, n: int) -> dict:
    from newswatch.alerts.notifier import Notifier
    from newswatch.alerts.outbox import AlertOutbox
    from newswatch.alerts.settings import AlertsFile
    from newswatch.alerts.source import OutboxAlertSource
    from newswatch.alerts.state import NotifyState
    from newswatch.config import parse_model
    from newswatch.ids import alert_id
    from newswatch.records import Alert

    received: dict[str, float] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received[body["title"].rsplit(" ", 1)[-1]] = time.time()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = parse_model(f'channels: {{hook: "json://127.0.0.1:{server.server_address[1]}/hook"}}\n'
                      "subscriptions: [{topics: ['*'], channels: [hook]}]\n", AlertsFile)
    outbox = AlertOutbox(d / "queue.sqlite3")
    notifier = Notifier(OutboxAlertSource(outbox), cfg, NotifyState(d / "notify.sqlite3", exclusive=True))
    stop = threading.Event()
    t = threading.Thread(target=notifier.run, args=(stop, 0.5), daemon=True)
    t.start()
    sent_at: dict[str, float] = {}
    rng = random.Random(7)
    for i in range(n):
        key = f"a{i:05d}"
        a = Alert(id=alert_id("bench", key), topic_id="bench", story_id=key, title=f"Bench story {key}")
        outbox.add([a])
        sent_at[key] = time.time()
        time.sleep(rng.uniform(0.005, 0.05))
    deadline = time.time() + 30
    while len(received) < n and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(10)
    notifier.close()
    outbox.close()
    server.shutdown()
    lat = sorted(received[k] - sent_at[k] for k in sent_at if k in received)
    return {"alerts": n, "delivered": len(lat),
            "latency_ms_p50": round(lat[len(lat) // 2] * 1000, 1),
            "latency_ms_p95": round(lat[int(0.95 * len(lat))] * 1000, 1),
            "latency_ms_max": round(lat[-1] * 1000, 1), "goal_p95_ms": 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--probe", type=int, default=2000)
    ap.add_argument("--alerts", type=int, default=200)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    d = args.dir or Path(tempfile.mkdtemp(prefix="nw-bench-alerts-"))
    d.mkdir(parents=True, exist_ok=True)
    print(f"bench dir: {d}", file=sys.stderr)
    res = {"clustering": bench_clustering(d, args.stories, args.probe),
           "delivery": bench_latency(d, args.alerts)}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
