"""run_batch end to end: index, alert outbox and dead letters written; running the
same batch again (a redelivery after a crash) changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch import backends
from newswatch.config import ConfigSet
from newswatch.records import RawArticle
from newswatch.settings import Settings
from pipelines.run import run_batch

from ..conftest import CONFIG, SEED_STORY

pytestmark = pytest.mark.slow
CFG = ConfigSet.load(CONFIG)


def test_run_batch_writes_every_sink_idempotently(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "var", config_dir=CONFIG)
    lines = SEED_STORY.read_text(encoding="utf-8").split("\n")
    seed = RawArticle.create(source_id="wire", title=lines[0], summary="\n".join(lines[1:]),
                             url="https://example.com/seed?utm_source=rss", language="en")
    other = RawArticle.create(source_id="wire", title="Bank raises rates", summary="The central bank raised rates.",
                              url="https://example.com/rates", language="en")
    batch = [(1, seed.id, seed.to_json().encode()), (2, other.id, other.to_json().encode()),
             (3, "bad", b"{not json")]
    try:
        first = run_batch(batch, settings, topics=CFG.topics.topics, entities=CFG.entities)
        assert (first.messages, first.stories, first.alerts_new, first.dead_letters) == (3, 2, 2, 1)
        again = run_batch(batch, settings, topics=CFG.topics.topics, entities=CFG.entities)
        assert (again.stories, again.alerts_new) == (2, 0)  # re-upserted, no new alerts

        index = backends.open_index(settings, readonly=True)
        assert index.count() == 2
        hits = index.search("Zakharova").hits
        assert [h.story.id for h in hits] == [seed.id]
        assert {t.id for t in hits[0].story.topics} == {"russia-taliban", "bounties"}
        outbox = backends.open_outbox(settings)
        assert sorted(a.topic_id for a in outbox.list()) == ["bounties", "russia-taliban"]
        bus = backends.open_bus(settings)
        dead = bus.dead_letters()
        assert len(dead) == 1 and dead[0].stage == "decode" and dead[0].payload == "{not json"
    finally:
        backends.close_all()
