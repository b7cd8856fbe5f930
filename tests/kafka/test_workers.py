"""End to end on a real broker: real feeds over HTTP → ``newswatch poll`` → Kafka →
two ``newswatch pipeline`` worker processes → Elasticsearch API (osmem) and ``news.alerts``.

Checks every story is indexed exactly once with both workers owning partitions,
that a worker killed with -9 mid-stream loses and duplicates nothing (and no
alert is lost), that an independent client (kcat) reads valid RawArticle JSON
from ``news.raw``, and that a poison message goes to the dead-letter topic
while the pipeline keeps going.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from connectors.files import read_any
from newswatch.bus.kafka import KafkaBus, KafkaSettings, read_tail, topic_offsets
from newswatch.demo import load_demo_items, render_rss
from newswatch.ids import alert_id
from newswatch.process import RecordError, prepare
from newswatch.records import RawArticle
from newswatch.settings import Settings

from ..conftest import CONFIG, NEWSWATCH, REPO, SAMPLES, cli_env, require_shared, run_cli
from .conftest import FAST_GROUP, KCAT_TANSU, kafka_env, kcat_path

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

FEEDS = [  # real outlet feeds with summaries (~620 articles, ~17k words: NER-bound, ~10 s on 2 cores)
    "bbc-news-world--kagisearch-fastfeedparser--1796df62c4a287cc.xml",
    "dw-english--kagisearch-fastfeedparser--14dda539770f94e3.xml",
    "nyt-world--kagisearch-fastfeedparser--78f77fae2e1ffc14.xml",
    "cbsnews-world--kagisearch-fastfeedparser--0c1cef22da7ddc10.xml",
    "allafrica-latest--kagisearch-fastfeedparser--6040d25e925318ed.xml",
    "abcnews-international--kagisearch-fastfeedparser--f9c17f360c71def1.xml",
    "economist-asia--kagisearch-fastfeedparser--960551eca5b5db81.xml",
]
ASSIGNED = re.compile(r"assigned partitions: (.*?) \(client")


def wait_for(pred, timeout: float, what: str, procs=(), logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None and proc.returncode not in (-9,):
                raise AssertionError(f"a worker exited {proc.returncode} while waiting for {what}\n"
                                     + "\n".join(Path(p).read_text()[-4000:] for p in logs))
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n"
                         + "\n".join(f"--- {p}\n{Path(p).read_text()[-4000:]}" for p in logs))


@pytest.fixture
def cluster(tansu, osmem_clone_url, http_dir, tmp_path):
    """Feeds served over HTTP, a config pointing at them, a set-up ES index, env for the CLI."""
    from newswatch.index.es_index import ElasticsearchIndex
    from newswatch.index.es_setup import setup

    shared = require_shared()
    base, root = http_dir
    for name in FEEDS:
        shutil.copy(shared / "feeds" / "news" / name, root / name)
    seed = [i for i in load_demo_items(SAMPLES) if i.category == "seed"]
    (root / "seed.xml").write_bytes(render_rss("Seed Wire", "https://seed.example/", seed,
                                               datetime.now(timezone.utc)))
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    names = [*FEEDS, "seed.xml"]
    feeds = [{"id": f"feed-{i}", "url": f"{base}/{n}"} for i, n in enumerate(names)]
    (config / "feeds.yaml").write_text(yaml.safe_dump({"defaults": {"interval": 3600}, "feeds": feeds,
                                                      "wire": []}))
    expected: set[str] = set()
    for name in names:
        for a in read_any(root / name, settings=Settings())[0]:
            try:
                prepare(a)
            except RecordError:
                continue
            expected.add(a.id)
    index = ElasticsearchIndex(url=osmem_clone_url, server_mode="serverless")
    setup(index.client, index.layout)
    env = cli_env(NEWSWATCH_BUS=tansu.bus, NEWSWATCH_INDEX="elasticsearch", NEWSWATCH_ES_URL=osmem_clone_url,
                  NEWSWATCH_ES_SERVER_MODE="serverless", NEWSWATCH_TOPICS_RELOAD_S="3600",
                  **kafka_env(NEWSWATCH_KAFKA_MAX_POLL_RECORDS="16"))
    ks = KafkaSettings(partitions=4, **FAST_GROUP)
    return {"config": config, "expected": expected, "index": index, "env": env, "ks": ks, "tmp": tmp_path,
            "bus": tansu.bus, "bootstrap": tansu.bootstrap}


def start_worker(c, n: int) -> tuple[subprocess.Popen, Path]:
    log = c["tmp"] / f"worker{n}.log"
    proc = subprocess.Popen([str(NEWSWATCH), "pipeline", "--config", str(c["config"]),
                             "--data", str(c["tmp"] / f"w{n}")], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            cwd=REPO, env=c["env"])
    return proc, log


def assignments(log: Path) -> list[str]:
    return ASSIGNED.findall(log.read_text()) if log.exists() else []


def index_ids(index) -> list[str]:
    return [s.id for s in index.iter_stories(page_size=500)]


def poll_once(c) -> None:
    res = subprocess.run([str(NEWSWATCH), "poll", "--once", "--config", str(c["config"]),
                          "--data", str(c["tmp"] / "poller")], capture_output=True, text=True, cwd=REPO,
                         env=c["env"], timeout=120)
    assert res.returncode == 0, res.stderr


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def both_own_partitions(logs) -> bool:
    last = [assignments(log)[-1:] for log in logs]
    return all(a and "news.raw[" in a[0] for a in last)


def test_two_workers_index_every_story_once_and_kcat_reads_valid_json(cluster) -> None:
    c = cluster
    workers = [start_worker(c, 1), start_worker(c, 2)]
    procs, logs = [w[0] for w in workers], [w[1] for w in workers]
    try:
        wait_for(lambda: both_own_partitions(logs), 180, "both workers to own partitions", procs, logs)
        poll_once(c)
        expected = c["expected"]
        wait_for(lambda: set(index_ids(c["index"])) >= expected, 240, "every story indexed", procs, logs)
        ids = index_ids(c["index"])
        assert len(ids) == len(set(ids)) == len(expected) and c["index"].count() == len(expected)
        owned = [assignments(log)[-1] for log in logs]
        parts = [set(re.findall(r"\d+", o.split("news.raw[")[1])) for o in owned]
        assert parts[0] and parts[1] and not parts[0] & parts[1], owned
        assert parts[0] | parts[1] == {"0", "1", "2", "3"}

        # an independent client (librdkafka's kcat) reads news.raw: every message is a RawArticle
        offsets = topic_offsets(c["bus"], c["ks"], "news.raw")
        seen: list[str] = []
        for p, o in offsets.items():
            if o["end"] == 0:
                continue
            res = subprocess.run([kcat_path(), "-b", c["bootstrap"], *KCAT_TANSU, "-C", "-t", "news.raw",
                                  "-p", str(p), "-o", "0", "-c", str(o["end"]), "-J", "-q"],
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, res.stderr
            for line in res.stdout.splitlines():
                env = json.loads(line)
                article = RawArticle.from_json(env["payload"])
                assert env["key"] == article.id and article.schema_version == 1
                assert "schema_version" in env["headers"]
                seen.append(article.id)
        assert len(seen) == sum(o["end"] for o in offsets.values()) and set(seen) == expected

        # a poison message goes to the dead-letter topic; the workers keep going
        bus = KafkaBus(bus=c["bus"], kafka=c["ks"], create_topics=False)
        try:
            bus.publish_raw("poison-1", b"\x00{not json at all")
            after = RawArticle.create(source_id="late", url="https://late.example/after-poison",
                                      title="Kremlin denies new report on Taliban payments",
                                      summary="Moscow rejected the report on Thursday.")
            bus.publish([after])
            wait_for(lambda: c["index"].get(after.id) is not None, 120, "the article after the poison", procs, logs)
            dead = wait_for(lambda: [d for d in bus.dead_letters() if "not json" in d.payload], 60,
                            "the poison on the dead-letter topic", procs, logs)
            assert dead[0].stage == "decode" and dead[0].reason
        finally:
            bus.close()
        assert all(p.poll() is None for p in procs), "no worker crashed"
        # `newswatch kafka-status` sees both members and the group caught up
        st = wait_for(lambda: (lambda s: s if s["topics"]["news.raw"]["lag"] == 0 else None)(status(c)), 60,
                      "lag 0", procs, logs)
        assert st["topics"]["news.raw"]["end"] == len(seen) + 2
        assert len(st["groups"]["newswatch-pipeline"]["members"]) == 2
        env = {k: v for k, v in c["env"].items() if k.startswith("NEWSWATCH_")}
        ok = run_cli("kafka-status", "--require-member", "newswatch-pipeline:newswatch-worker-", **env, check=False)
        assert ok.returncode == 0, ok.stderr
        no = run_cli("kafka-status", "--require-member", "newswatch-pipeline:someone-else", **env, check=False)
        assert no.returncode == 1 and "unhealthy" in no.stderr
    finally:
        for p in procs:
            stop(p)


def status(c) -> dict:
    env = {k: v for k, v in c["env"].items() if k.startswith("NEWSWATCH_")}
    return json.loads(run_cli("kafka-status", "--json", "--config", str(c["config"]), **env).stdout)


def read_alerts(c) -> list[dict]:
    return [json.loads(r.value) for r in read_tail(c["bus"], c["ks"], "news.alerts", 100_000)]


def test_kill9_of_one_worker_mid_stream_loses_and_duplicates_nothing(cluster) -> None:
    c = cluster
    workers = [start_worker(c, 1), start_worker(c, 2)]
    procs, logs = [w[0] for w in workers], [w[1] for w in workers]
    expected = c["expected"]
    try:
        wait_for(lambda: both_own_partitions(logs), 180, "both workers to own partitions", procs, logs)
        poll_once(c)
        first = wait_for(lambda: len(index_ids(c["index"])) or None, 120, "the first stories", procs, logs)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        assert first < len(expected), "the kill must land mid-stream"
        wait_for(lambda: set(index_ids(c["index"])) >= expected, 240, "every story after the rebalance",
                 procs[1:], logs)
        ids = index_ids(c["index"])
        assert len(ids) == len(set(ids)) == len(expected) and c["index"].count() == len(expected)
        assert assignments(logs[1])[-1] == "news.raw[0,1,2,3]", "the survivor took over every partition"

        # no alert lost: every alert the indexed stories imply is on news.alerts (maybe more than once)
        want = {alert_id(t.id, s.id) for s in c["index"].iter_stories() for t in s.topics}
        assert want, "the seed story fires alerts"
        got = wait_for(lambda: (lambda a: a if {x["id"] for x in a} >= want else None)(read_alerts(c)), 60,
                       "every alert on news.alerts", procs[1:], logs)
        ids_on_topic = [a["id"] for a in got]
        assert len(ids_on_topic) >= len(want) and set(ids_on_topic) == want
    finally:
        for p in procs:
            stop(p)
