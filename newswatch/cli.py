"""The ``newswatch`` command line.

Every command takes ``--config DIR`` (feeds, topics, entities, alerts YAML;
default ``config/``) and ``--data DIR`` (queue, index, alert log, state;
default ``var/``), so several instances run side by side. Errors print one
readable line naming the file, key and fix, and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from newswatch.errors import NewswatchError
from newswatch.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Streaming news monitor: feeds → Beam → entities → topics → index → alerts.")
topics_app = typer.Typer(no_args_is_help=True, help="Write and test watch topics.")
app.add_typer(topics_app, name="topics")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("newswatch")

ConfigOpt = typer.Option(None, "--config", help="Config directory (default: config/ or $NEWSWATCH_CONFIG_DIR).")
DataOpt = typer.Option(None, "--data", help="Data directory (default: var/ or $NEWSWATCH_DATA_DIR).")


def setup_logging(level: str = "INFO") -> None:
    """Readable progress on stderr; third-party chatter (Beam, absl) kept down."""
    from rich.logging import RichHandler

    warnings.filterwarnings("ignore")
    handler: logging.Handler
    if err.is_terminal:
        handler = RichHandler(console=err, show_path=False, rich_tracebacks=False, markup=False,
                              log_time_format="%H:%M:%S")
        fmt = "%(message)s"
    else:  # logs to a file or pipe: one plain line per record
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(message)s"
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format=fmt, force=True)
    logging.getLogger("newswatch").setLevel(level)
    for noisy in ("apache_beam", "absl", "urllib3", "spacy"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def settings_for(config: Optional[Path], data: Optional[Path]) -> Settings:
    s = Settings()
    return s.with_overrides(config_dir=config, data_dir=data)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def parse_since(value: Optional[str]) -> Optional[datetime]:
    """``7d``, ``12h``, ``30m`` or an ISO date/time → an aware UTC datetime."""
    if not value:
        return None
    m = re.fullmatch(r"(\d+)\s*([smhdw])", value.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        secs = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit] * n
        return datetime.now(timezone.utc) - timedelta(seconds=secs)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use 7d, 12h, 30m or an ISO date like 2026-11-01") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _load_config(settings: Settings, topics_file: Optional[Path] = None) -> Any:
    from newswatch.config import ConfigSet

    return ConfigSet.load(settings.config_dir, topics_file=topics_file)


# ---------------------------------------------------------------------- run
@app.command()
def run(config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
        once: bool = typer.Option(False, "--once", help="Poll every source once, process everything, exit.")) -> None:
    """Run the monitor: poll feeds and wire folders, run the pipeline, index, alert. Ctrl-C stops cleanly."""
    from newswatch import metrics
    from newswatch.monitor import Monitor

    settings = settings_for(config, data)
    setup_logging(settings.log_level)
    cfg = _load_config(settings)
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
        log.info("metrics on http://127.0.0.1:%d/metrics", settings.metrics_port)
    monitor = Monitor(settings, cfg, console=sys.stdout)
    _graceful_signals(monitor)
    err.print(f"newswatch: monitoring with config [bold]{settings.config_dir}[/], data [bold]{settings.data_dir}[/]"
              f" — Ctrl-C to stop", highlight=False)
    try:
        monitor.run(once=once)
    except KeyboardInterrupt:
        monitor.shutdown()
    _print_summary(settings)


def _graceful_signals(monitor: Any) -> None:
    """First Ctrl-C/SIGTERM: finish the current bundle and stop cleanly; second Ctrl-C: exit now."""
    hits = [0]

    def handler(signum: int, _frame: Any) -> None:
        hits[0] += 1
        if hits[0] > 1 and signum == signal.SIGINT:
            err.print("stopping now (work in flight is redelivered on the next start)", highlight=False)
            os._exit(130)
        err.print("stopping: finishing the current batch (Ctrl-C again to exit at once)", highlight=False)
        monitor.request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _print_summary(settings: Settings) -> None:
    try:
        from newswatch import backends

        idx = backends.open_index(settings, readonly=True)
        err.print(f"index: {idx.count()} stories in {settings.index_path}", highlight=False)
    except Exception as exc:  # summary is best effort
        log.debug("summary failed: %s", exc)


# --------------------------------------------------------------------- demo
@app.command()
def demo(config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
         duration: float = typer.Option(30.0, help="Seconds over which the sample items are released."),
         keep_running: bool = typer.Option(False, "--keep-running", help="Keep monitoring after all items are in."),
         samples: Path = typer.Option(Path("samples"), help="Directory of the project's sample data.")) -> None:
    """Run the monitor offline against the project's own sample feeds, served locally."""
    import time

    from newswatch.config import ConfigSet
    from newswatch.demo import DemoFeedServer, load_demo_items, write_demo_config
    from newswatch.monitor import Monitor

    settings = settings_for(config, data)
    setup_logging(settings.log_level)
    items = load_demo_items(samples)
    server = DemoFeedServer(items, duration_s=duration)
    server.start()
    demo_cfg = settings.data_dir / "demo-config"
    write_demo_config(settings.config_dir, demo_cfg, server.feed_urls(), interval_s=2)
    dsettings = settings.with_overrides(config_dir=demo_cfg)
    monitor = Monitor(dsettings, ConfigSet.load(demo_cfg), console=sys.stdout)
    _graceful_signals(monitor)
    err.print(f"demo: serving {len(items)} sample items at {server.url} over {duration:.0f}s; "
              f"index in {settings.data_dir} — try `newswatch search Zakharova` in another terminal",
              highlight=False)
    done_at: list[float] = []

    def until() -> bool:
        if keep_running or not server.all_released():
            return False
        st = monitor.bus.stats()
        if st.get("pending", 0) or st.get("leased", 0):
            return False
        done_at.append(time.monotonic())
        return done_at[-1] - done_at[0] > 5.0  # one more poll round after the last release

    try:
        monitor.run(until=until)
    except KeyboardInterrupt:
        monitor.shutdown()
    finally:
        server.stop()
    _print_summary(settings)
    err.print("demo finished. Try: newswatch search Zakharova · newswatch search 'gpe:Russia AND org:Taliban'",
              highlight=False)


# ------------------------------------------------------------------- ingest
@app.command()
def ingest(sources: list[str] = typer.Argument(..., help="Feed files, directories, URLs, NewsML-G2 or NDJSON."),
           config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
           source_id: Optional[str] = typer.Option(None, "--source", help="Source id for the records.")) -> None:
    """One-shot backfill: read files/URLs and run them through the same pipeline into the index."""
    from rich.progress import Progress

    from connectors.files import read_any
    from newswatch import backends
    from newswatch.alerts.dispatch import AlertDispatcher
    from newswatch.alerts.log import AlertLog
    from newswatch.monitor import LEASE_S
    from pipelines.run import run_batch

    settings = settings_for(config, data)
    setup_logging(settings.log_level)
    cfg = _load_config(settings)
    bus = backends.open_bus(settings)
    published = dead = 0
    for src in sources:
        articles, dls = read_any(src, settings=settings, source_id=source_id)
        published += bus.publish(articles)
        if dls:
            bus.dead_letter(dls)
        dead += len(dls)
        log.info("read %s: %d article(s), %d dead letter(s)", src, len(articles), len(dls))
    totals = {"stories": 0, "alerts": 0, "dead": dead}
    pending = bus.stats().get("pending", 0)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("processing", total=pending or None)
        while True:
            msgs = bus.lease(settings.batch_max, LEASE_S)
            if not msgs:
                break
            stats = run_batch([(m.offset, m.key, m.payload) for m in msgs], settings,
                              topics=cfg.topics.topics, entities=cfg.entities)
            bus.ack([m.offset for m in msgs])
            totals["stories"] += stats.stories
            totals["alerts"] += stats.alerts_new
            totals["dead"] += stats.dead_letters
            progress.advance(task, len(msgs))
    dispatcher = AlertDispatcher(backends.open_outbox(settings),
                                 AlertLog(backends.data_path(settings, cfg.alerts.log)),
                                 console=cfg.alerts.console, console_stream=sys.stdout)
    dispatcher.run_once()
    err.print(f"ingested: {published} new article(s) queued, {totals['stories']} stories indexed, "
              f"{totals['alerts']} new alert(s), {totals['dead']} dead letter(s)", highlight=False)


# ------------------------------------------------------------------- search
@app.command()
def search(query: str = typer.Argument("", help="Lucene query-string: AND/OR/NOT, \"phrases\", prefix*, gpe:Russia …"),
           entity: list[str] = typer.Option([], "--entity", "-e", help="LABEL:Name filter, e.g. gpe:Russia (repeatable)."),
           topic: Optional[str] = typer.Option(None, "--topic", help="Only stories flagged by this topic id."),
           source: Optional[str] = typer.Option(None, "--source", help="Only this source id."),
           since: Optional[str] = typer.Option(None, "--since", help="7d, 12h or an ISO date."),
           limit: int = typer.Option(20, "--limit", "-n", min=1, max=10_000),
           newest: bool = typer.Option(False, "--newest", help="Sort by date instead of relevance."),
           as_json: bool = typer.Option(False, "--json", help="One JSON object per hit."),
           config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
    """Search indexed stories (works while `run` is going)."""
    from newswatch import backends

    settings = settings_for(config, data)
    setup_logging("WARNING")
    ents: dict[str, list[str]] = {}
    for e in entity:
        label, sep, value = e.partition(":")
        if not sep or not value:
            raise typer.BadParameter(f"{e!r}: use LABEL:Name, e.g. gpe:Russia", param_hint="--entity")
        ents.setdefault(label.lower(), []).append(value)
    if not settings.index_path.exists() and settings.index == "tantivy":
        fail(f"no index at {settings.index_path}: run `newswatch run`, `newswatch demo` or `newswatch ingest` first "
             f"(or pass --data DIR).")
    idx = backends.open_index(settings, readonly=True)
    res = idx.search(query or None, entities=ents or None, topic=topic, source=source,
                     since=parse_since(since), limit=limit, sort="newest" if newest else "relevance")
    if as_json:
        for h in res.hits:
            s = h.story
            print(json.dumps({"id": s.id, "score": round(h.score, 4), "title": s.title, "url": s.url,
                              "source": s.source_id, "published": s.published.isoformat() if s.published else None,
                              "topics": [t.id for t in s.topics],
                              "entities": sorted({f"{e.label}:{e.canonical}" for e in s.entities})},
                             ensure_ascii=False))
        return
    out.print(f"[bold]{res.total}[/] matching stories", highlight=False)
    for h in res.hits:
        s = h.story
        when = s.published.strftime("%Y-%m-%d %H:%M") if s.published else "—"
        tops = f" [magenta]{' '.join(t.id for t in s.topics)}[/]" if s.topics else ""
        out.print(f"{when}  [cyan]{s.source_id}[/]  [bold]{_esc(s.title)}[/]{tops}\n    {s.url or s.id}",
                  highlight=False)
    if res.total and res.facets:
        f = res.facets
        top = [f"{v} ({n})" for label in ("person", "org", "gpe") for v, n in (f.entities.get(label) or [])[:3]]
        if top:
            out.print(f"[dim]top entities: {', '.join(top)}[/]", highlight=False)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# -------------------------------------------------------------------- match
@app.command()
def match(paths: list[str] = typer.Argument(..., help="Files, directories or URLs of articles (feeds, NewsML-G2, NDJSON, text)."),
          topics: Optional[Path] = typer.Option(None, "--topics", help="Topics file (default: CONFIG/topics.yaml)."),
          as_json: bool = typer.Option(True, "--json/--text", help="JSON lines (default) or readable text."),
          explain: bool = typer.Option(False, "--explain", help="Show what fired, highlighted in the text."),
          config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
    """Run articles through entities and topics without writing the index; one JSON object per article."""
    from connectors.files import read_any
    from newswatch.process import Processor

    settings = settings_for(config, data)
    setup_logging("WARNING")
    cfg = _load_config(settings, topics)
    articles = []
    for p in paths:
        got, dls = read_any(p, settings=settings)
        articles.extend(got)
        for d in dls:
            err.print(f"skipped ({d.stage}): {d.reason}", highlight=False, markup=False)
    proc = Processor(model=settings.spacy_model, entities=cfg.entities, topics=cfg.topics.topics,
                     batch_size=settings.nlp_batch_size)
    stories, bad = proc.process(articles)
    for a, reason in bad:
        err.print(f"skipped {a.id}: {reason}", highlight=False, markup=False)
    for s in stories:
        if explain:
            _print_explain(s)
            continue
        obj = {"id": s.id, "title": s.title, "lang": s.lang,
               "entities": [{"text": e.text, "label": e.label, "canonical": e.canonical} for e in _dedup_ents(s)],
               "topics": [{"id": t.id, "score": t.score,
                           "matched": [{"term": m.term, "field": m.field, "start": m.start, "end": m.end}
                                       for m in t.matched]} for t in s.topics]}
        if as_json:
            print(json.dumps(obj, ensure_ascii=False))
        else:
            out.print(f"[bold]{_esc(s.title)}[/]  topics: {', '.join(t.id for t in s.topics) or '—'}", highlight=False)


def _dedup_ents(story: Any) -> list[Any]:
    seen: dict[tuple[str, str, str], Any] = {}
    for e in story.entities:
        seen.setdefault((e.text, e.label, e.canonical), e)
    return list(seen.values())


def _print_explain(story: Any) -> None:
    from rich.text import Text

    out.rule(story.title or story.id)
    if not story.topics:
        out.print("no topic fired")
    for t in story.topics:
        counts: dict[str, int] = {}
        for m in t.matched:
            counts[f"{m.field}:{m.term}"] = counts.get(f"{m.field}:{m.term}", 0) + 1
        out.print(f"[bold magenta]{t.id}[/] score {t.score:g}: "
                  + ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in counts.items()), highlight=False)
    spans = sorted({(m.start, m.end) for t in story.topics for m in t.matched if 0 <= m.start < m.end})
    text = Text(story.text)
    for s, e in spans:
        if e <= len(story.text):
            text.stylize("bold reverse yellow", s, e)
    out.print(text)


# ------------------------------------------------------------------- topics
@topics_app.command("check")
def topics_check(topics: Optional[Path] = typer.Option(None, "--topics", help="Topics file (default: CONFIG/topics.yaml)."),
                 config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
    """Validate every topic; print errors with file:line, the offending token and a fix."""
    from newswatch.topics.check import check_topics

    settings = settings_for(config, data)
    path = topics or settings.config_dir / "topics.yaml"
    problems = check_topics(path)
    if not problems:
        from newswatch.config import TopicsFile, load_model

        n = len(load_model(path, TopicsFile, missing_ok=False).topics)
        out.print(f"{path}: {n} topic(s) OK", highlight=False)
        return
    for p in problems:
        err.print(str(p), highlight=False, markup=False)
    raise typer.Exit(1)


# ------------------------------------------------------------------- status
@app.command()
def status(config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
           as_json: bool = typer.Option(False, "--json"),
           bus: Optional[str] = typer.Option(None, "--bus", help="local, or kafka://HOST:PORT for per-partition lag.")
           ) -> None:
    """Health: queue depth, dead letters, index size, alerts, feeds and their last poll (Kafka: lag per partition)."""
    from newswatch.status import collect_status

    settings = settings_for(config, data)
    if bus:
        settings = settings.with_overrides(bus=bus)
    setup_logging("WARNING")
    if settings.bus.startswith("kafka://"):
        from newswatch.bus.kafka import kafka_status
        from newswatch.cli_kafka import render_kafka_status

        kst = kafka_status(settings)
        if as_json:
            print(json.dumps(kst, default=str, indent=2))
        else:
            render_kafka_status(kst, out)
        return
    st = collect_status(settings)
    if as_json:
        print(json.dumps(st, default=str, indent=2))
        return
    from newswatch.status import render_status

    render_status(st, out)


#: Modules that add commands of their own area: each defines ``register(app, topics_app)``.
COMMAND_MODULES = ("newswatch.cli_topics", "newswatch.cli_index", "newswatch.cli_alerts", "newswatch.cli_kafka")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app, topics_app)


_register_commands()


def main() -> None:
    """Console entry point: readable errors instead of tracebacks for expected failures."""
    try:
        app()
    except NewswatchError as exc:
        err.print(f"[bold red]error:[/] {_esc(str(exc))}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
