"""CLI of the alerts area: ``newswatch notify`` and ``newswatch alerts list|retry|test``.

Registered by :mod:`newswatch.cli` through :func:`register`.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts analysts received: list, retry failed deliveries, test a channel.")


def _load(settings: Any) -> Any:
    from newswatch.alerts.settings import AlertsFile
    from newswatch.config import load_model

    from newswatch.config import TopicsFile, with_topic_throttles

    alerts = load_model(Path(settings.config_dir) / "alerts.yaml", AlertsFile)
    return with_topic_throttles(alerts, load_model(Path(settings.config_dir) / "topics.yaml", TopicsFile))


def _state_path(settings: Any, cfg: Any) -> Path:
    return cfg.state if cfg.state.is_absolute() else Path(settings.data_dir) / cfg.state


def _warn_unknown_topics(settings: Any, cfg: Any, err: Any) -> None:
    """Subscriptions naming topic ids that topics.yaml does not define (typos) — a warning, not an error:
    topics come and go while the notifier runs."""
    from newswatch.config import TopicsFile, load_model

    try:
        topics = {t.id for t in load_model(Path(settings.config_dir) / "topics.yaml", TopicsFile).topics}
    except Exception:  # topics.yaml problems are reported by `topics check`, not here
        return
    for i, sub in enumerate(cfg.subscriptions):
        for pattern in sub.topics:
            if not any(ch in pattern for ch in "*?[") and pattern not in topics:
                err.print(f"warning: alerts.yaml subscriptions[{i}] names topic {pattern!r}, which topics.yaml "
                          f"does not define (known: {', '.join(sorted(topics)) or 'none'})", highlight=False)


def register(app: typer.Typer, topics_app: typer.Typer) -> None:  # noqa: C901 - one closure per command
    from newswatch.cli import ConfigOpt, DataOpt, err, fail, out, parse_since, settings_for, setup_logging

    app.add_typer(alerts_app, name="alerts")

    # ---------------------------------------------------------------- notify
    @app.command()
    def notify(config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
               once: bool = typer.Option(False, "--once", help="Deliver what is pending and due now, then exit."),
               bus: Optional[str] = typer.Option(None, "--bus", help="'local' (the outbox under --data) or "
                                                 "kafka://HOST:PORT (the news.alerts topic); default $NEWSWATCH_BUS."),
               backfill: bool = typer.Option(False, "--backfill", help="On first start, also deliver alerts fired "
                                             "before the notifier ever ran (default: from now on).")) -> None:
        """Deliver alerts to the channels in alerts.yaml: one per story cluster, throttled, digests, retries."""
        from newswatch.alerts.notifier import Notifier

        settings = settings_for(config, data)
        setup_logging(settings.log_level)
        cfg = _load(settings)
        if not cfg.subscriptions:
            err.print(f"warning: {settings.config_dir / 'alerts.yaml'} has no subscriptions: alerts are received "
                      "and acknowledged but go nowhere", highlight=False)
        _warn_unknown_topics(settings, cfg, err)
        notifier = Notifier.from_settings(settings, cfg, bus=bus, backfill=backfill, console_stream=sys.stdout)
        try:
            if once:
                st = notifier.drain()
                err.print(f"notify: {st.received} alert(s) received, {st.new_notices} new, {st.similar} similar "
                          f"(deduplicated), {st.sent} message(s) sent, {st.digests} digest(s), {st.retried} "
                          f"retry(ies) scheduled, {st.parked} parked, {notifier.inflight} waiting", highlight=False)
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            err.print(f"notify: delivering alerts from {bus or settings.bus} to "
                      f"{', '.join(sorted(notifier.channels))} — Ctrl-C to stop", highlight=False)
            try:
                notifier.run(stop)
            except KeyboardInterrupt:
                pass
        finally:
            notifier.close()

    # ------------------------------------------------------------------ list
    @alerts_app.command("list")
    def alerts_list(topic: Optional[str] = typer.Option(None, "--topic", help="Only this topic id."),
                    since: Optional[str] = typer.Option(None, "--since", help="7d, 12h, 30m or an ISO date."),
                    limit: int = typer.Option(50, "--limit", "-n", min=1, max=100_000),
                    as_json: bool = typer.Option(False, "--json", help="One JSON object per alert."),
                    config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
        """Alerts newest first: one per (topic, story cluster), with similar stories and delivery states."""
        from newswatch.alerts.log import format_alert
        from newswatch.alerts.state import NotifyState

        settings = settings_for(config, data)
        setup_logging("WARNING")
        cfg = _load(settings)
        when = parse_since(since)
        path = _state_path(settings, cfg)
        if not path.exists():
            _list_outbox(settings, topic, when, limit, as_json, err, out, fail)
            return
        with NotifyState(path) as state:
            rows = state.notices(topic=topic, since=when.timestamp() if when else None, limit=limit)
        for r in rows:
            a = r["alert"]
            if as_json:
                print(json.dumps({**json.loads(a.to_json()), "similar": r["similar"], "throttled": r["throttled"],
                                  "received_at": _iso(r["received_ts"]), "deliveries": r["deliveries"],
                                  "digest_waiting": r["digest_waiting"]}, ensure_ascii=False))
                continue
            line = format_alert(a)
            if r["similar"]:
                line += f"  +{r['similar']} similar"
            out.print(line, highlight=False, markup=False)
            states = [f"{d['channel']}{'(digest)' if d['via'] == 'digest' else ''}={d['state']}"
                      + (f" [{d['error']}]" if d["state"] == "parked" and d["error"] else "") for d in r["deliveries"]]
            states += [f"digest:{s}=waiting" for s in r["digest_waiting"]]
            if states:
                out.print("    " + "  ".join(states), highlight=False, markup=False)
        if not rows and not as_json:
            err.print("no alerts" + (f" for topic {topic}" if topic else "") + (f" since {since}" if since else ""),
                      highlight=False)

    # ----------------------------------------------------------------- retry
    @alerts_app.command("retry")
    def alerts_retry(channel: Optional[str] = typer.Option(None, "--channel", help="Only deliveries to this channel."),
                     config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
        """Re-queue deliveries parked as failed (all, or one channel's); the notifier sends them next round."""
        from newswatch.alerts.state import NotifyState

        settings = settings_for(config, data)
        setup_logging("WARNING")
        cfg = _load(settings)
        if channel is not None and channel not in cfg.channel_urls():
            fail(f"unknown channel {channel!r}; alerts.yaml defines: {', '.join(sorted(cfg.channel_urls()))}")
        path = _state_path(settings, cfg)
        if not path.exists():
            fail(f"no notifier state at {path}: `newswatch notify` has not run with this --data directory")
        with NotifyState(path) as state:
            parked = state.parked(channel)
            n = state.requeue_parked(time.time(), channel)
        for _id, ch, reason in parked[:20]:
            err.print(f"  {ch}: {reason}", highlight=False, markup=False)
        out.print(f"re-queued {n} parked deliver{'y' if n == 1 else 'ies'}"
                  + (f" to {channel}" if channel else "")
                  + ("; `newswatch notify` delivers them" if n else ""), highlight=False)

    # ------------------------------------------------------------------ test
    @alerts_app.command("test")
    def alerts_test(channel: str = typer.Argument(..., help="A channel name from alerts.yaml (or 'console')."),
                    config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
        """Send a sample alert (the seed story) through one channel and report what it answered."""
        from newswatch.alerts.channels import DeliveryError, open_channel, redact
        from newswatch.alerts.render import Renderer, alert_view, sample_alert

        settings = settings_for(config, data)
        setup_logging("WARNING")
        cfg = _load(settings)
        urls = cfg.channel_urls()
        if channel not in urls:
            fail(f"unknown channel {channel!r}; alerts.yaml defines: {', '.join(sorted(urls))}")
        templates = cfg.templates
        if templates is not None and not templates.is_absolute():
            templates = Path(settings.config_dir) / templates
        renderer = Renderer(templates)
        message = renderer.alert(alert_view(sample_alert(), similar=11, severity="normal"), subscription="test")
        message = type(message)(kind="test", title="[TEST] " + message.title, body=message.body,
                                severity=message.severity, data=message.data)
        ch = open_channel(channel, urls[channel], data_dir=settings.data_dir, console_stream=sys.stdout)
        try:
            ch.send(message)
        except DeliveryError as exc:
            fail(f"channel {channel} ({redact(urls[channel])}) did not accept the sample: {exc}", code=1)
        finally:
            ch.close()
        err.print(f"sent a sample alert through {channel} ({redact(urls[channel])})", highlight=False)


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def _list_outbox(settings: Any, topic: Optional[str], when: Any, limit: int, as_json: bool,
                 err: Any, out: Any, fail: Any) -> None:
    """Before the notifier ever ran: the raw alerts of the outbox, one per (topic, cluster)."""
    from newswatch.alerts.log import format_alert

    if not settings.queue_path.exists():
        fail(f"no alerts under {settings.data_dir}: run `newswatch run` or `newswatch ingest` first (or pass --data)")
    from newswatch import backends

    err.print(f"(the notifier has not run on {settings.data_dir}; showing alerts from the outbox,"
              " grouped by story cluster)", highlight=False)
    alerts = backends.open_outbox(settings).list(topic=topic, since=when, limit=limit * 20)
    groups: dict[tuple[str, str], list] = {}
    for a in reversed(alerts):  # oldest first: the group's first alert is the cluster's first story
        groups.setdefault((a.topic_id, a.cluster_id or a.story_id), []).append(a)
    rows = sorted(groups.values(), key=lambda g: g[0].created_at, reverse=True)[:limit]
    for g in rows:
        if as_json:
            print(json.dumps({**json.loads(g[0].to_json()), "similar": len(g) - 1}, ensure_ascii=False))
        else:
            out.print(format_alert(g[0]) + (f"  +{len(g) - 1} similar" if len(g) > 1 else ""),
                      highlight=False, markup=False)
