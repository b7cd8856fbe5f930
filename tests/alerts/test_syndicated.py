"""Twelve syndicated copies of the seed story through the real clustering, entities
and topics → exactly one alert per topic on the webhook, "+11 similar stories"."""

from __future__ import annotations

import pytest

from connectors.files import read_any
from newswatch import process
from newswatch.cluster import SqliteClusterStore, assign_clusters
from newswatch.config import ConfigSet
from newswatch.settings import Settings

from tests.alerts.rig import Rig
from tests.conftest import CONFIG, SAMPLES

pytestmark = [pytest.mark.alerts, pytest.mark.slow]


def test_twelve_copies_one_alert_per_topic(tmp_path, webhook):
    settings = Settings()
    cfg = ConfigSet.load(CONFIG)
    files = sorted((SAMPLES / "syndicated").glob("*.txt"))
    assert len(files) == 12
    articles = []
    for f in files:
        got, dead = read_any(f, settings=settings)
        assert not dead and len(got) == 1
        articles.extend(got)
    proc = process.Processor(model=settings.spacy_model, entities=cfg.entities, topics=cfg.topics.topics)
    stories, bad = proc.process(articles)
    assert not bad
    with SqliteClusterStore(tmp_path / "clusters.sqlite3") as store:
        stories = assign_clusters(stories, store)
    assert {s.cluster_id for s in stories} == {stories[0].id}
    names = {t.id: t.name for t in cfg.topics.topics}
    alerts = [a for s in stories for a in process.alerts_for(s, names)]
    # every copy fires both default topics: 24 alert events for the notifier
    assert sorted({a.topic_id for a in alerts}) == ["bounties", "russia-taliban"] and len(alerts) == 24

    rig = Rig(tmp_path, f'channels:\n  hook: "{webhook.url()}"\n'
                        "subscriptions:\n  - topics: ['*']\n    channels: [hook]\n")
    try:
        rig.fire(*alerts)
        st = rig.notifier.drain()
        assert (st.received, st.new_notices, st.similar, st.sent) == (24, 2, 22, 2)
        assert rig.pending() == 0
        assert sorted(webhook.titles()) == [
            "Bounties on US and coalition troops: Pompeo Never Complained About Russian Weapon Sales to Taliban,"
            " Moscow Says",
            "Russia and the Taliban: Pompeo Never Complained About Russian Weapon Sales to Taliban, Moscow Says"]
        for payload in webhook.answered:
            assert "+11 similar stories" in payload["message"]
        by_topic = {n["alert"].topic_id: n for n in rig.state.notices()}
        assert {t: n["similar"] for t, n in by_topic.items()} == {"russia-taliban": 11, "bounties": 11}
        assert "russia (gpe)" in webhook.answered[0]["message"] or "russia (gpe)" in webhook.answered[1]["message"]
    finally:
        rig.close()
