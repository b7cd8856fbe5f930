"""CLI commands of the scaled-out deployment: ``poll``, ``pipeline``, ``kafka-status``.

* ``newswatch poll --bus kafka://HOST:PORT`` — the connectors only: poll the
  feeds and wire folders of ``feeds.yaml`` and publish their articles to the
  bus (``news.raw``). Feed cursors and wire files are committed only after the
  broker acknowledged the articles (acks=all).
* ``newswatch pipeline --bus kafka://HOST:PORT`` — one pipeline worker (a
  long-running Beam pipeline); start several to share the partitions.
* ``newswatch kafka-status --bus kafka://HOST:PORT`` — per-partition end
  offset, committed offset, lag and owner, and the group members.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any, Optional

import typer

BusOpt = typer.Option(None, "--bus", help="kafka://HOST:PORT[,HOST:PORT] (default: $NEWSWATCH_BUS).")


def render_kafka_status(st: dict[str, Any], console: Any) -> None:
    """Readable tables of a :func:`newswatch.bus.kafka.kafka_status` snapshot."""
    from rich.table import Table

    console.print(f"[bold]kafka[/] {st['bus']}", highlight=False)
    for topic, t in st["topics"].items():
        group = t.get("group")
        head = f"[bold]{topic}[/]: {t['end']} record(s)"
        if group:
            head += f", group {group}: {t['committed']} committed, lag {t['lag']}"
        console.print(head, highlight=False)
        table = Table("partition", "end offset", "committed", "lag", "owner")
        for r in t["partitions"]:
            table.add_row(str(r["partition"]), str(r["end"]),
                          "—" if r["committed"] is None else str(r["committed"]),
                          "" if r["lag"] is None else str(r["lag"]),
                          r["owner"] or ("not reported" if group else ""))
        console.print(table)
    for group, g in st["groups"].items():
        members = g["members"]
        console.print(f"group [bold]{group}[/]: {g['state']}, {len(members)} member(s)", highlight=False)
        for m in members:
            parts = "; ".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in m["partitions"].items())
            console.print(f"  {m['client_id'] or m['member_id']}  {m['host']}  {parts or 'assignment not reported'}",
                          highlight=False)
    for p in st.get("problems") or []:
        console.print(f"[yellow]note:[/] {p}", highlight=False)


def _kafka_settings(settings: Any, bus: Optional[str]) -> Any:
    from newswatch.cli import fail
    from newswatch.errors import ConfigError

    if bus:
        try:
            settings = settings.with_overrides(bus=bus)
        except ValueError as exc:
            fail(f"--bus {bus!r}: {exc}")
    if not settings.bus.startswith("kafka://"):
        fail(f"this command needs a Kafka bus, not {settings.bus!r}: pass --bus kafka://HOST:PORT "
             f"or set NEWSWATCH_BUS")
    from newswatch.bus.kafka import KafkaSettings, bootstrap_servers

    try:
        bootstrap_servers(settings.bus)
        ks = KafkaSettings()
    except ConfigError as exc:
        fail(str(exc))
    except ValueError as exc:  # pydantic: names the NEWSWATCH_KAFKA_* variable
        fail(f"Kafka settings (NEWSWATCH_KAFKA_*): {exc}")
    return settings, ks


def _serve_metrics(settings: Any) -> None:
    """Prometheus metrics (and the container health check) on ``NEWSWATCH_METRICS_PORT`` when set."""
    if settings.metrics_port:
        from newswatch import metrics

        metrics.serve(settings.metrics_port)


def register(app: typer.Typer, topics_app: typer.Typer) -> None:
    """Add ``poll``, ``pipeline`` and ``kafka-status``."""
    from newswatch.cli import ConfigOpt, DataOpt, err, fail, out, settings_for, setup_logging

    @app.command()
    def poll(bus: Optional[str] = BusOpt, config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
             once: bool = typer.Option(False, "--once", help="Poll every source once, then exit.")) -> None:
        """Run the connectors only: poll feeds and wire folders, publish articles to the bus (news.raw)."""
        from newswatch import backends
        from newswatch.cli import _load_config
        from newswatch.monitor import Poller, build_sources

        settings = settings_for(config, data)
        if bus:
            try:
                settings = settings.with_overrides(bus=bus)
            except ValueError as exc:
                fail(f"--bus {bus!r}: {exc}")
        setup_logging(settings.log_level)
        _serve_metrics(settings)
        cfg = _load_config(settings)
        the_bus = backends.open_bus(settings)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        poller = Poller(build_sources(settings, cfg), the_bus, stop)
        poller.setup()
        err.print(f"newswatch poll: {len(poller.sources)} source(s) → {settings.bus}"
                  f"{'' if once else ' — Ctrl-C to stop'}", highlight=False)
        published = 0
        try:
            if once:
                published = poller.poll_due()
            else:
                while not stop.is_set():
                    published += poller.poll_due()
                    stop.wait(poller.next_wakeup())
        except KeyboardInterrupt:
            pass
        finally:
            poller.close()
            backends.close_all()
        err.print(f"published {published} article(s)", highlight=False)

    @app.command()
    def pipeline(bus: Optional[str] = BusOpt, config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
                 runner: Optional[str] = typer.Option(None, "--runner",
                                                      help="Beam runner (default FnApiRunner, in process; e.g. "
                                                           "PortableRunner for Flink — see docs/scaling.md)."),
                 beam_arg: list[str] = typer.Option([], "--beam-arg", help="Extra Beam pipeline option, e.g. "
                                                    "--beam-arg=--job_endpoint=flink:8099 (repeatable)."),
                 readers: int = typer.Option(1, "--readers", min=1,
                                             help="Kafka consumers inside this pipeline (for Flink/Dataflow).")
                 ) -> None:
        """Run one pipeline worker: read news.raw in the consumer group, index stories, publish alerts."""
        from newswatch.cli import _load_config
        from pipelines.streaming import run_worker

        settings = settings_for(config, data)
        if runner:
            settings = settings.with_overrides(runner=runner)
        settings, ks = _kafka_settings(settings, bus)
        setup_logging(settings.log_level)
        _serve_metrics(settings)
        cfg = _load_config(settings)
        stop = threading.Event()

        def _stop(*_: Any) -> None:
            from pipelines import kafka_source

            stop.set()
            kafka_source.request_stop()

        signal.signal(signal.SIGTERM, _stop)
        err.print(f"newswatch pipeline: group {ks.group} on {settings.bus} topic {ks.raw_topic} → index "
                  f"{settings.index}, alerts {ks.alerts_topic}, dead letters {ks.dead_letter_topic}", highlight=False)
        try:
            run_worker(settings, ks, cfg, beam_args=beam_arg, readers=readers, stop=stop)
        except KeyboardInterrupt:
            _stop()

    @app.command("kafka-status")
    def kafka_status_cmd(bus: Optional[str] = BusOpt, config: Optional[Path] = ConfigOpt,
                         data: Optional[Path] = DataOpt,
                         as_json: bool = typer.Option(False, "--json", help="One JSON object."),
                         require_member: Optional[str] = typer.Option(
                             None, "--require-member", metavar="GROUP:CLIENT_PREFIX",
                             help="Health check: exit 1 unless GROUP has a member whose client/member id starts "
                                  "with CLIENT_PREFIX (e.g. newswatch-pipeline:newswatch-worker-$HOSTNAME).")
                         ) -> None:
        """Per-partition end offset, committed offset, lag and owner of the pipeline and notifier groups."""
        from newswatch.bus.kafka import kafka_status

        settings, ks = _kafka_settings(settings_for(config, data), bus)
        setup_logging("WARNING")
        try:
            st = kafka_status(settings, ks)
        except Exception as exc:  # unreachable broker: one line, not a traceback
            fail(f"cannot read Kafka status from {settings.bus}: {type(exc).__name__}: {exc}")
        if require_member:
            group, _, prefix = require_member.partition(":")
            members = (st["groups"].get(group) or {}).get("members") or []
            if not any((m["client_id"] or m["member_id"]).startswith(prefix) or m["member_id"].startswith(prefix)
                       for m in members):
                err.print(f"unhealthy: no member of group {group!r} starts with {prefix!r} "
                          f"({len(members)} member(s))", highlight=False)
                raise typer.Exit(1)
            out.print(f"ok: {group} has a member {prefix}…", highlight=False)
            return
        if as_json:
            print(json.dumps(st, indent=2, default=str))
            return
        render_kafka_status(st, out)
