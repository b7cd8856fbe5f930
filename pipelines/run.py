"""Run the news pipeline over one micro-batch of bus messages.

The embedded monitor drains the durable local bus in micro-batches: lease up to
``batch_max`` messages, run :class:`ProcessArticles` + :class:`WriteOutputs` as
one bounded Beam pipeline, and ack the messages only after the run returns
(every sink is durable by then). A crash at any point before the ack makes the
bus deliver the batch again; sinks are idempotent, so nothing is lost and
nothing is duplicated. Runs use the in-process FnApiRunner unless settings name
another runner (never Beam's default, which tries to download Prism).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from newswatch.config import EntitiesFile, TopicSpec
from newswatch.cluster import store_path
from newswatch.settings import Settings
from pipelines.sinks import WriteOutputs
from pipelines.transforms import Message, ProcessArticles

log = logging.getLogger("newswatch.pipeline")


@dataclass(frozen=True)
class BatchStats:
    messages: int
    stories: int
    alerts_new: int
    dead_letters: int
    seconds: float


def make_pipeline(settings: Settings) -> beam.Pipeline:
    """A Beam pipeline on the configured runner (FnApiRunner by default)."""
    if settings.runner in ("FnApiRunner", "fnapi", "local"):
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--no_pipeline_type_check"]))
    return beam.Pipeline(options=PipelineOptions([f"--runner={settings.runner}"]))


def _counter(result: Any, name: str) -> int:
    try:
        from apache_beam.metrics.metric import MetricsFilter

        res = result.metrics().query(MetricsFilter().with_name(name))["counters"]
        return int(sum(c.committed or c.attempted or 0 for c in res))
    except Exception:  # metrics are informational; a runner without them reports 0
        return 0


def run_batch(messages: Sequence[Message], settings: Settings, *, topics: Sequence[TopicSpec],
              entities: EntitiesFile | None) -> BatchStats:
    """Process ``messages`` end to end (index, outbox, dead letters). Returns after all
    sinks are durable; raises only if the runner itself fails (then nothing is acked)."""
    t0 = time.perf_counter()
    p = make_pipeline(settings)
    outputs = (p
               | "Messages" >> beam.Create(list(messages), reshuffle=False)
               | "Process" >> ProcessArticles(model=settings.spacy_model, entities=entities,
                                              topics=topics, batch_size=settings.nlp_batch_size,
                                              cluster_store=str(store_path(settings.data_dir))))
    outputs | "Write" >> WriteOutputs(settings)
    result = p.run()
    result.wait_until_finish()
    stats = BatchStats(messages=len(messages), stories=_counter(result, "stories_indexed"),
                       alerts_new=_counter(result, "alerts_new"), dead_letters=_counter(result, "dead_letters"),
                       seconds=time.perf_counter() - t0)
    return stats
