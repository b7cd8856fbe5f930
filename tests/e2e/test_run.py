"""End to end: real outlet feeds and the seed story served over HTTP, a real
``newswatch run`` process indexing them, killed with SIGKILL mid-run and
restarted; then search, the alert log, the wire drop folder and a topic edit
picked up without a restart."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from connectors.files import read_any
from newswatch.demo import load_demo_items, render_rss
from newswatch.index.tantivy_index import TantivyIndex
from newswatch.process import RecordError, prepare
from newswatch.settings import Settings

from ..conftest import CONFIG, NEWSWATCH, REPO, SAMPLES, cli_env, require_shared, run_cli

pytestmark = pytest.mark.e2e

FEEDS = [  # real outlet feeds from ../shared/data/feeds/news (several encodings)
    "bbc-news-world--kagisearch-fastfeedparser--1796df62c4a287cc.xml",
    "dw-english--kagisearch-fastfeedparser--14dda539770f94e3.xml",
    "nyt-world--kagisearch-fastfeedparser--78f77fae2e1ffc14.xml",
    "dawn-world--kagisearch-fastfeedparser--ce5f942d1cd40fc0.xml",
    "guardian-us--rbren-rss-parser--guardian.rss",
    "time-world--kagisearch-fastfeedparser--9f9555d69283aeda.xml",
    "cbsnews-world--kagisearch-fastfeedparser--0c1cef22da7ddc10.xml",
    "golem-rss2--miniflux-v2--encoding_ISO-8859-1.xml",
    "allafrica-latest--kagisearch-fastfeedparser--6040d25e925318ed.xml",
    "abcnews-international--kagisearch-fastfeedparser--f9c17f360c71def1.xml",
]


def wait_for(pred, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"newswatch exited {proc.returncode} while waiting for {what}\n"
                                 f"{log.read_text() if log else ''}")
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log.read_text() if log else ''}")


def index_ids(data: Path) -> list[str]:
    path = data / "index"
    if not path.exists():
        return []
    idx = TantivyIndex(path, readonly=True)
    try:
        n = idx.count()
        return [h.story.id for h in idx.search(None, limit=max(n, 1), facets=False).hits] if n else []
    finally:
        idx.close()


def start(config: Path, data: Path, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen([str(NEWSWATCH), "run", "--config", str(config), "--data", str(data)],
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                            env=cli_env(NEWSWATCH_BATCH_MAX="16", NEWSWATCH_BATCH_WAIT_S="0.1",
                                        NEWSWATCH_TOPICS_RELOAD_S="1"))


@pytest.fixture
def served_feeds(http_dir, tmp_path):
    shared = require_shared()
    base, root = http_dir
    for name in FEEDS:
        shutil.copy(shared / "feeds" / "news" / name, root / name)
    seed = [i for i in load_demo_items(SAMPLES) if i.category == "seed"]
    (root / "seed.xml").write_bytes(render_rss("Seed Wire", "https://seed.example/", seed,
                                               datetime.now(timezone.utc)))
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    feeds = [{"id": f"feed-{i}", "url": f"{base}/{name}"} for i, name in enumerate([*FEEDS, "seed.xml"])]
    (config / "feeds.yaml").write_text(yaml.safe_dump({"defaults": {"interval": 1}, "feeds": feeds,
                                                      "wire": [{"id": "wire", "path": "wire/incoming"}]}))
    expected: set[str] = set()
    for name in [*FEEDS, "seed.xml"]:
        articles, _ = read_any(root / name, settings=Settings())
        for a in articles:
            try:
                prepare(a)
            except RecordError:
                continue
            expected.add(a.id)
    return config, expected, seed[0]


def test_run_indexes_survives_kill9_and_alerts_once(served_feeds, tmp_path):
    config, expected, seed_item = served_feeds
    data = tmp_path / "var"
    log = tmp_path / "run.log"

    # 1. start, let it index part of the stream, then SIGKILL it mid-run
    proc = start(config, data, log)
    try:
        first = wait_for(lambda: len(index_ids(data)) or None, 120, "the first indexed batch", proc, log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 0 < first < len(expected), "the kill must land mid-run"

    # 2. restart: everything arrives exactly once
    proc = start(config, data, log)
    try:
        wait_for(lambda: set(index_ids(data)) >= expected, 240, "every story indexed", proc, log)
        ids = index_ids(data)
        assert len(ids) == len(set(ids)) == len(expected), "no story lost or duplicated"

        # 3. search finds the seed story while run is going
        res = run_cli("search", "Zakharova", "--json", "--data", str(data), "--config", str(config))
        hits = [json.loads(line) for line in res.stdout.splitlines()]
        seed_hits = [h for h in hits if h["title"] == seed_item.title]
        assert len(seed_hits) == 1 and set(seed_hits[0]["topics"]) == {"russia-taliban", "bounties"}

        # 4. the alert log has the seed story once for both default topics
        alert_log = data / "alerts.ndjson"
        wait_for(lambda: alert_log.exists() and alert_log.read_text().count(seed_hits[0]["id"]) >= 2, 30,
                 "seed alerts in the log", proc, log)
        alerts = [json.loads(line) for line in alert_log.read_text().splitlines()]
        keys = [(a["topic_id"], a["story_id"]) for a in alerts]
        assert len(keys) == len(set(keys)), "one alert per (topic, story)"
        assert {("russia-taliban", seed_hits[0]["id"]), ("bounties", seed_hits[0]["id"])} <= set(keys)

        # 5. a topic edit goes live without a restart; a wire drop is ingested with it
        topics = yaml.safe_load((config / "topics.yaml").read_text())
        topics["topics"].append({"id": "zakharova", "name": "Zakharova", "query": 'person:"Maria Zakharova"'})
        (config / "topics.yaml").write_text(yaml.safe_dump(topics, sort_keys=False))
        wait_for(lambda: "topics reloaded" in log.read_text(), 30, "topic reload", proc, log)
        drop = data / "wire" / "incoming"
        drop.mkdir(parents=True, exist_ok=True)
        record = {"title": "Zakharova briefs reporters in Moscow", "url": "https://wire.example/zakharova-briefing",
                  "summary": "Foreign Ministry spokeswoman Maria Zakharova said Moscow would respond."}
        (drop / "item.ndjson.part").write_text(json.dumps(record) + "\n")
        (drop / "item.ndjson.part").rename(drop / "item.ndjson")
        wait_for(lambda: '"zakharova"' in alert_log.read_text(), 60, "alert of the reloaded topic", proc, log)
        wait_for(lambda: (drop / "processed" / "item.ndjson").exists(), 30, "wire file moved to processed/", proc, log)

        # 6. a broken edit is rejected and the previous topics stay live
        (config / "topics.yaml").write_text((config / "topics.yaml").read_text() + "\n  - id: broken\n    query: 'a and (b'\n")
        wait_for(lambda: "topics not reloaded" in log.read_text(), 30, "rejected topic edit", proc, log)

        # 7. status reports the instance
        st = json.loads(run_cli("status", "--json", "--data", str(data), "--config", str(config)).stdout)
        assert st["stories"] == len(expected) + 1 and st["queue"]["pending"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert "monitor stopped" in log.read_text()
