"""The unbounded Kafka reader on the FnApiRunner: offsets committed only after the sinks."""

from __future__ import annotations

import threading
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from kafka import KafkaAdminClient, TopicPartition

from newswatch.bus.kafka import KafkaBus, consumer_config
from newswatch.settings import Settings
from pipelines import kafka_source, streaming
from pipelines.transforms import ProcessArticles, all_dead_letters

pytestmark = pytest.mark.kafka

N = 24


class FileSink(beam.DoFn):
    """Appends the offsets of a bundle to a file in finish_bundle (a durable sink);
    with ``fail`` it raises there instead (a sink whose store is down)."""

    def __init__(self, path: str, fail: bool = False, stop_after: int = 0) -> None:
        self.path, self.fail, self.stop_after = path, fail, stop_after

    def start_bundle(self) -> None:
        self.buf: list[str] = []

    def process(self, element):
        (topic, partition, offset), key, value = element
        self.buf.append(f"{partition}:{offset}:{key}")

    def finish_bundle(self) -> None:
        if not self.buf:
            return
        if self.fail:
            raise RuntimeError("index unavailable")
        with open(self.path, "a") as fh:
            fh.write("".join(line + "\n" for line in self.buf))
        if self.stop_after and sum(1 for _ in open(self.path)) >= self.stop_after:
            kafka_source.request_stop()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offs = admin.list_group_offsets({group: [TopicPartition(topic, p) for p in range(4)]}).get(group, {})
        return {tp.partition: (o.offset if o.offset is not None and o.offset >= 0 else None) for tp, o in offs.items()}
    finally:
        admin.close()


def run_reader(tansu, ks, sink: FileSink, *, timeout_s: float = 180.0) -> None:
    kafka_source.clear_stop()
    timer = threading.Timer(timeout_s, kafka_source.request_stop)
    timer.start()
    try:
        p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--no_pipeline_type_check"]))
        (p | kafka_source.ReadFromKafka(consumer_config(tansu.bus, ks, group=ks.group, role="test"),
                                        [ks.raw_topic], max_records=5, poll_timeout_ms=200)
           | beam.ParDo(sink))
        p.run().wait_until_finish()
    finally:
        timer.cancel()
        kafka_source.close_consumers()
        kafka_source.clear_stop()


@pytest.fixture
def published(tansu, kafka_settings):
    bus = KafkaBus(bus=tansu.bus, kafka=kafka_settings)
    try:
        for i in range(N):
            bus.publish_raw(f"k{i}", f"payload {i}".encode())
    finally:
        bus.close()
    return kafka_settings


def test_reader_commits_after_the_sink_and_stops_on_request(tansu, published, tmp_path: Path) -> None:
    ks = published
    out = tmp_path / "sink.txt"
    run_reader(tansu, ks, FileSink(str(out), stop_after=N))
    lines = out.read_text().splitlines()  # all N: the sink stopped the reader, not the safety timer
    assert sorted(int(line.split(":")[2][1:]) for line in lines) == list(range(N))
    got = committed(tansu.bootstrap, ks.group, ks.raw_topic)
    per_partition: dict[int, int] = {}
    for line in lines:
        p, off, _ = line.split(":")
        per_partition[int(p)] = max(per_partition.get(int(p), 0), int(off) + 1)
    assert {p: o for p, o in got.items() if o is not None} == per_partition


def test_failed_sink_commits_nothing_and_records_come_again(tansu, published, tmp_path: Path) -> None:
    ks = published
    with pytest.raises(Exception, match="index unavailable"):
        run_reader(tansu, ks, FileSink(str(tmp_path / "never.txt"), fail=True))
    assert all(o is None for o in committed(tansu.bootstrap, ks.group, ks.raw_topic).values())
    out = tmp_path / "sink.txt"
    run_reader(tansu, ks, FileSink(str(out), stop_after=N))
    assert sorted(int(line.split(":")[2][1:]) for line in out.read_text().splitlines()) == list(range(N))


def test_worker_graph_is_one_fused_stage_from_reader_to_every_sink(kafka_settings) -> None:
    """The bundle finalizer (offset commit) runs after every DoFn of the reader's
    fused stage; the sinks must therefore be in that stage."""
    settings = Settings(bus="kafka://127.0.0.1:9", data_dir=Path("/nonexistent"))
    p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--no_pipeline_type_check"]))
    streaming.build(p, settings, kafka_settings, topics=(), entities=None)
    _, stages = FnApiRunner().create_stages(p.to_runner_api())
    reader = [s for s in stages if any(t.unique_name.startswith("Write/") for t in s.transforms)]
    assert len(reader) == 1, [s.name for s in stages]
    names = " ".join(t.unique_name for t in reader[0].transforms)
    for part in ("ReadKafka/Poll", "Process/Decode", "Process/ExtractEntities", "Write/WriteStories",
                 "Write/ProduceAlerts", "Write/ProduceDeadLetters0", "Write/ProduceDeadLetters3"):
        assert part in names, f"{part} is not fused with the reader: {names}"


def test_a_flatten_would_split_the_stage(kafka_settings) -> None:
    """Why dead-letter parts get a sink each: on the FnApiRunner a multi-input Flatten
    is a fusion break, so a sink after flattened dead letters would run in another
    stage (after the reader's bundles were finalized)."""
    settings = Settings(bus="kafka://127.0.0.1:9", data_dir=Path("/nonexistent"))
    conf = consumer_config(settings.bus, kafka_settings, group="g", role="t")
    p = beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(["--no_pipeline_type_check"]))
    out = (p | "ReadKafka" >> kafka_source.ReadFromKafka(conf, ["t"])
             | "Process" >> ProcessArticles(model="m", entities=None, topics=()))
    all_dead_letters(out) | "AfterFlatten" >> beam.Map(print)
    _, stages = FnApiRunner().create_stages(p.to_runner_api())
    poll = [s for s in stages if any("ReadKafka/Poll" in t.unique_name for t in s.transforms)
            and any("Process/Decode" in t.unique_name for t in s.transforms)]
    after = [s for s in stages if any("AfterFlatten" in t.unique_name for t in s.transforms)]
    assert poll and after and poll[0] is not after[0]


def test_other_runners_get_streaming_and_the_pass_through_options() -> None:
    from apache_beam.options.pipeline_options import PortableOptions, StandardOptions

    settings = Settings(bus="kafka://127.0.0.1:9", runner="PortableRunner")
    p = streaming.make_pipeline(settings, ["--job_endpoint=flink-jobserver:8099", "--parallelism=6"])
    assert p.options.view_as(StandardOptions).runner == "PortableRunner"
    assert p.options.view_as(StandardOptions).streaming is True
    assert p.options.view_as(PortableOptions).job_endpoint == "flink-jobserver:8099"
    local = streaming.make_pipeline(Settings(bus="kafka://127.0.0.1:9"))
    assert type(local.runner).__name__ == "FnApiRunner"
