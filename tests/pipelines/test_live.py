"""The long-running pipeline over the local bus: everything a message produces
(story in the index, alerts in the outbox, dead letters) is durable before the
message is acked, and a graceful stop ends the pipeline."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from newswatch import backends
from newswatch.config import ConfigSet
from newswatch.records import RawArticle
from newswatch.settings import Settings
from pipelines.live import run_live, stop_live

from ..conftest import CONFIG, SEED_STORY

pytestmark = pytest.mark.slow
CFG = ConfigSet.load(CONFIG)


def test_sinks_commit_before_the_ack_and_stop_ends_the_pipeline(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "var", config_dir=CONFIG)
    bus = backends.open_bus(settings)
    index = backends.open_index(settings)
    outbox = backends.open_outbox(settings)
    seen_at_ack: list[tuple[int, int, int, int]] = []
    real_ack = bus.ack

    def checking_ack(offsets, **kw):
        index_ro = backends.open_index(settings, readonly=True)
        seen_at_ack.append((len(list(offsets)), index_ro.count(), outbox.count(), bus.count_dead_letters()))
        return real_ack(offsets, **kw)

    bus.ack = checking_ack  # type: ignore[method-assign]
    lines = SEED_STORY.read_text(encoding="utf-8").split("\n")
    seed = RawArticle.create(source_id="wire", title=lines[0], summary="\n".join(lines[1:]),
                             url="https://example.com/seed", language="en")
    try:
        thread = threading.Thread(target=run_live, args=(settings,),
                                  kwargs={"topics": CFG.topics.topics, "entities": CFG.entities}, daemon=True)
        thread.start()
        with bus.transaction():  # both become visible at once: one lease, one bundle
            bus.publish([seed])
            bus.publish_raw("poison", b"\x00 not an article")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (bus.stats()["pending"] or bus.stats()["leased"]):
            time.sleep(0.1)
        stop_live(settings)
        thread.join(30)
        assert not thread.is_alive(), "a graceful stop ends the pipeline"
        assert bus.stats()["pending"] == 0 and bus.stats()["leased"] == 0
        # at the moment of the last ack, every sink had committed what the messages produced
        assert seen_at_ack == [(2, 1, 2, 1)]
    finally:
        bus.ack = real_ack  # type: ignore[method-assign]
        stop_live(settings)
        backends.close_all()


def test_source_and_every_sink_are_one_fused_stage(tmp_path: Path):
    """The ack runs in the source's bundle finalizer: only safe if no fusion break
    (e.g. a multi-input Flatten) separates any sink from the source."""
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from pipelines.live import build_live_pipeline

    settings = Settings(data_dir=tmp_path / "var", config_dir=CONFIG)
    p = build_live_pipeline(settings, topics=CFG.topics.topics, entities=CFG.entities)
    _, stages = FnApiRunner().create_stages(p.to_runner_api())
    with_source = [s for s in stages if any(t.unique_name == "ReadBus/Lease/Process" for t in s.transforms)]
    assert len(with_source) == 1
    names = " ".join(t.unique_name for t in with_source[0].transforms)
    for part in ("Process/Decode", "Process/AssignClusters", "Process/ExtractEntities", "Process/MatchTopics",
                 "Write/WriteStories", "Write/WriteAlerts", "Write/WriteDeadLetters0", "Write/WriteDeadLetters3"):
        assert part in names, f"{part} is not fused with the source"
