"""The long-running embedded pipeline: local bus → news transforms → sinks.

One Beam pipeline on the in-process FnApiRunner for the life of ``newswatch
run``: :class:`~pipelines.bus_source.ReadFromLocalBus` leases messages, the
element-wise :class:`~pipelines.transforms.ProcessArticles` turns them into
stories, alerts and dead letters, :class:`~pipelines.sinks.WriteOutputs`
writes them (idempotently), and the source acks in its bundle finalizer once
all of that has committed. Topics reload from ``topics.yaml`` while it runs.
"""

from __future__ import annotations

import logging
from typing import Sequence

import apache_beam as beam

from newswatch.config import EntitiesFile, TopicSpec
from newswatch.cluster import store_path
from newswatch.settings import Settings
from pipelines.bus_source import ReadFromLocalBus, stop_event
from pipelines.run import make_pipeline
from pipelines.sinks import WriteOutputs
from pipelines.transforms import ProcessArticles

log = logging.getLogger("newswatch.pipeline")


def build_live_pipeline(settings: Settings, *, topics: Sequence[TopicSpec], entities: EntitiesFile | None,
                        reload_topics: bool = True) -> beam.Pipeline:
    """The streaming pipeline over the local bus (not yet running)."""
    if settings.bus != "local":
        raise ValueError("the live embedded pipeline reads the local bus; use `newswatch pipeline` for Kafka")
    p = make_pipeline(settings)
    outputs = (p
               | "ReadBus" >> ReadFromLocalBus(settings)
               | "Process" >> ProcessArticles(
                   model=settings.spacy_model, entities=entities, topics=topics,
                   batch_size=settings.nlp_batch_size,
                   topics_path=(settings.config_dir / "topics.yaml") if reload_topics else None,
                   reload_s=settings.topics_reload_s, cluster_store=str(store_path(settings.data_dir))))
    outputs | "Write" >> WriteOutputs(settings)
    return p


def run_live(settings: Settings, *, topics: Sequence[TopicSpec], entities: EntitiesFile | None) -> None:
    """Run the streaming pipeline until :func:`stop_live` (blocks the calling thread)."""
    p = build_live_pipeline(settings, topics=topics, entities=entities)
    result = p.run()
    result.wait_until_finish()


def stop_live(settings: Settings) -> None:
    """Ask the running pipeline to finish its current bundle and end."""
    stop_event(settings).set()


def reset_stop(settings: Settings) -> None:
    stop_event(settings).clear()
