"""Backtests on a real tantivy index: the library function and the `newswatch topics test` CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from newswatch.config import TopicSpec
from newswatch.index.tantivy_index import TantivyIndex
from newswatch.records import Entity, Story
from newswatch.topics import TopicSyntaxError
from newswatch.topics.backtest import backtest, backtest_topic, index_query
from tests.conftest import run_cli

DAY = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


def story(sid: str, title: str, text: str, *, day: int, source: str = "wire", ents=()) -> Story:
    entities = []
    for label, canon in ents:
        pos = text.find(canon.split()[0])
        entities.append(Entity(text=canon, label=label, canonical=canon, start=pos, end=pos + len(canon)))
    when = DAY + timedelta(days=day)
    return Story(id=sid, source_id=source, url=f"https://example.com/{sid}", title=title, summary="",
                 content="", text=text, fetched_at=when, published=when, lang="en",
                 entities=tuple(entities), pipeline_version="test")


STORIES = [
    story("a1", "Moscow denies arming the Taliban", "Russia denied supplying weapons to the Taliban.", day=0,
          source="tass", ents=[("GPE", "Russia"), ("ORG", "Taliban")]),
    story("a2", "Kremlin hosts Taliban delegation", "The Kremlin said talks with the Taliban went well.", day=1,
          source="bbc", ents=[("GPE", "Russia"), ("ORG", "Taliban")]),
    story("a3", "Bounties on U.S. troops", "Reports said Russia paid bounties to kill U.S. troops.", day=1,
          source="nyt", ents=[("GPE", "Russia"), ("GPE", "United States")]),
    story("a4", "Bug bounty for hackers", "A bank pays a bug bounty to security researchers and troops.", day=2,
          source="nyt"),
    story("a5", "Russian wheat exports", "Russia exported wheat to Egypt.", day=2, source="tass",
          ents=[("GPE", "Russia"), ("GPE", "Egypt")]),
    story("a6", "Taliban ban on universities", "The Taliban extended a ban.", day=3, source="bbc",
          ents=[("ORG", "Taliban")]),
    story("a7", "Weapons and weaponry", "Russian weaponry and weapons for the Taliban.", day=3, source="tass",
          ents=[("GPE", "Russia"), ("ORG", "Taliban")]),
]
RT = TopicSpec(id="russia-taliban", name="Russia and the Taliban", query="gpe:Russia AND org:Taliban",
               owner="desk-a", channels=("slack",))
BOUNTIES = TopicSpec(id="bounties", query="(bounty OR bounties) AND troops", exclude='"bug bounty"')
WEIGHTED = TopicSpec(id="weighted", query="taliban^2 OR weapon* OR russia", min_score=3)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bt")
    idx = TantivyIndex(d / "index")
    idx.upsert(STORIES)
    idx.commit()
    idx.close()
    return d


@pytest.fixture(scope="module")
def index(data_dir: Path):
    idx = TantivyIndex(data_dir / "index", readonly=True)
    yield idx
    idx.close()


def ids(res) -> list[str]:
    return [h.story.id for h in res.hits]


def test_stored_topic_hits_and_counts(index):
    res = backtest_topic(index, RT)
    assert res.total == 3 and ids(res) == ["a7", "a2", "a1"]            # newest first
    assert res.per_day == [("2024-03-01", 1), ("2024-03-02", 1), ("2024-03-04", 1)]
    assert res.per_source == [("tass", 2), ("bbc", 1)]
    assert not res.post_filtered and res.notes == ()


def test_exclude_is_folded_into_the_index_query(index):
    assert index_query("a", '"b c"') == '(a) AND NOT ("b c")'
    assert index_query("a", "  ") == "a"
    res = backtest_topic(index, BOUNTIES)
    assert ids(res) == ["a3"] and res.index_query == '((bounty OR bounties) AND troops) AND NOT ("bug bounty")'
    draft = backtest(index, "(bounty OR bounties) AND troops")
    assert sorted(ids(draft)) == ["a3", "a4"]


def test_since_until_and_limit(index):
    res = backtest(index, "taliban", since=DAY + timedelta(days=1), until=DAY + timedelta(days=3))
    assert ids(res) == ["a2"]
    res = backtest(index, "taliban", limit=1)
    assert res.total == 4 and len(res.hits) == 1


def test_min_score_is_post_filtered_in_stream(index):
    # taliban^2 + weapon* + russia: a1 = 2 (taliban) + 1 (weapons) + 1 (russia) = 4;
    # a7 = 2 + 1 (weapons, weaponry) = 3 ("Russian" is not "russia"); a2, a6 = 2; a5, a3 = 1
    res = backtest_topic(index, WEIGHTED)
    assert res.post_filtered and res.min_score == 3
    assert ids(res) == ["a7", "a1"] and res.total == 2
    assert [h.score for h in res.hits] == [3.0, 4.0]
    assert res.scanned == 6 and not res.truncated
    assert res.per_source == [("tass", 2)] and res.per_day == [("2024-03-01", 1), ("2024-03-04", 1)]
    assert "not expressible in the index" in res.notes[0]
    # without min_score the index answers alone
    assert backtest(index, WEIGHTED.query).total == 6


def test_bad_query_names_the_key(index):
    with pytest.raises(TopicSyntaxError) as info:
        backtest(index, "russia and taliban")
    assert info.value.key == "query" and info.value.token == "and"
    with pytest.raises(TopicSyntaxError) as info:
        backtest(index, "russia", exclude='"open')
    assert info.value.key == "exclude"


# ------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def cli_config(data_dir: Path, tmp_path_factory) -> Path:
    import yaml

    from tests.conftest import CONFIG

    cfg = tmp_path_factory.mktemp("cfg")
    for name in ("feeds.yaml", "entities.yaml", "alerts.yaml"):
        (cfg / name).write_bytes((CONFIG / name).read_bytes())
    topics = {"topics": [t.model_dump(mode="json", exclude_defaults=True) for t in (RT, BOUNTIES, WEIGHTED)]}
    (cfg / "topics.yaml").write_text(yaml.safe_dump(topics, sort_keys=False), encoding="utf-8")
    return cfg


def test_cli_topics_test_prints_hits_and_counts(data_dir: Path, cli_config: Path):
    p = run_cli("topics", "test", "russia-taliban", "--config", str(cli_config), "--data", str(data_dir))
    out = p.stdout
    assert "topic russia-taliban: 3 matching stories" in out
    assert "2024-03-04 09:00  tass  Weapons and weaponry" in out
    assert "per day" in out and "2024-03-02      1" in out
    assert "per source" in out and "2  tass" in out


def test_cli_draft_query_json_and_min_score_note(data_dir: Path, cli_config: Path):
    p = run_cli("topics", "test", "--query", "(bounty OR bounties) AND troops", "--exclude", '"bug bounty"',
                "--json", "--config", str(cli_config), "--data", str(data_dir))
    obj = json.loads(p.stdout)
    assert obj["label"] == "draft query" and obj["total"] == 1 and obj["hits"][0]["id"] == "a3"
    assert obj["per_source"] == [{"source": "nyt", "count": 1}]
    p = run_cli("topics", "test", "weighted", "--since", "2024-03-01", "--limit", "1",
                "--config", str(cli_config), "--data", str(data_dir))
    assert "2 matching stories since 2024-03-01" in p.stdout and "not expressible in the index" in p.stdout
    assert "1 more (--limit)" in p.stdout


def test_cli_errors_and_list(data_dir: Path, cli_config: Path, tmp_path: Path):
    p = run_cli("topics", "test", "nope", "--config", str(cli_config), "--data", str(data_dir), check=False)
    assert p.returncode == 2 and "no topic 'nope'" in p.stderr and "russia-taliban" in p.stderr
    p = run_cli("topics", "test", "russia-taliban", "--config", str(cli_config), "--data", str(tmp_path),
                check=False)
    assert p.returncode == 2 and "no index at" in p.stderr
    p = run_cli("topics", "test", "--query", "russia and taliban", "--config", str(cli_config),
                "--data", str(data_dir), check=False)
    assert p.returncode == 2 and "'and' is searched as a word" in p.stderr
    p = run_cli("topics", "list", "--json", "--config", str(cli_config))
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["russia-taliban", "bounties", "weighted"]
    assert rows[0]["owner"] == "desk-a" and rows[0]["channels"] == ["slack"]
    p = run_cli("topics", "list", "--config", str(cli_config))
    assert "russia-taliban" in p.stdout and "desk-a" in p.stdout
