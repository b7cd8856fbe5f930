"""``newswatch topics test`` (backtest a topic on the index) and ``newswatch topics list``.

Registered by :mod:`newswatch.cli` through :func:`register`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer


def register(app: typer.Typer, topics_app: typer.Typer) -> None:
    """Add the ``topics test`` and ``topics list`` commands."""
    from newswatch.cli import ConfigOpt, DataOpt

    @topics_app.command("test")
    def topics_test(
        topic: Optional[str] = typer.Argument(None, help="Topic id from topics.yaml (omit with --query for a draft)."),
        query: Optional[str] = typer.Option(None, "--query", "-q", help="Draft query (replaces the topic's own)."),
        exclude: Optional[str] = typer.Option(None, "--exclude", "-x", help="Draft exclude query."),
        min_score: Optional[float] = typer.Option(None, "--min-score", min=0.0,
                                                  help="Score threshold (default: the topic's own, else 0)."),
        since: Optional[str] = typer.Option(None, "--since", help="7d, 12h, 30m or an ISO date (default: all)."),
        until: Optional[str] = typer.Option(None, "--until", help="End (exclusive): 1d or an ISO date."),
        limit: int = typer.Option(20, "--limit", "-n", min=0, max=10_000, help="Hits to print."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object with hits and counts."),
        topics_file: Optional[Path] = typer.Option(None, "--topics", help="Topics file (default: CONFIG/topics.yaml)."),
        config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
    ) -> None:
        """Backtest a stored or draft topic on the index: its hits, counts per day and per source."""
        from newswatch import backends
        from newswatch.cli import fail, parse_since, settings_for, setup_logging
        from newswatch.config import TopicsFile, load_model
        from newswatch.topics.backtest import backtest, find_topic

        settings = settings_for(config, data)
        setup_logging("WARNING")
        if topic is None and query is None:
            raise typer.BadParameter("name a topic id, or give a draft query with --query '...'", param_hint="TOPIC")
        q, x, ms = query, exclude, min_score
        label = "draft query"
        if topic is not None:
            path = topics_file or settings.config_dir / "topics.yaml"
            specs = load_model(path, TopicsFile, missing_ok=False).topics
            spec = find_topic(specs, topic)
            if spec is None:
                known = ", ".join(t.id for t in specs) or "none"
                fail(f"no topic {topic!r} in {path} (topics: {known}); or test a draft with --query '...'")
                return
            label = f"topic {spec.id}" + (" (draft edit)" if query is not None or exclude is not None else "")
            q = query if query is not None else spec.query
            x = exclude if exclude is not None else spec.exclude
            ms = min_score if min_score is not None else spec.min_score
        if settings.index == "tantivy" and not settings.index_path.exists():
            fail(f"no index at {settings.index_path}: run `newswatch run`, `newswatch demo` or `newswatch ingest` "
                 "first (or pass --data DIR).")
        idx = backends.open_index(settings, readonly=True)
        res = backtest(idx, q or "", x, since=parse_since(since), until=parse_since(until),
                       limit=limit, min_score=ms or 0.0)
        if as_json:
            print(json.dumps({"label": label, "query": q, "exclude": x, "since": since, "until": until,
                              **res.to_dict()}, ensure_ascii=False))
            return
        _print_result(label, q or "", x, since, res)

    @topics_app.command("list")
    def topics_list(
        topics_file: Optional[Path] = typer.Option(None, "--topics", help="Topics file (default: CONFIG/topics.yaml)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per topic."),
        config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt,
    ) -> None:
        """List the topics: id, name, query, owner, channels."""
        from newswatch.cli import out, settings_for
        from newswatch.config import TopicsFile, load_model

        settings = settings_for(config, data)
        path = topics_file or settings.config_dir / "topics.yaml"
        specs = load_model(path, TopicsFile, missing_ok=False).topics
        if as_json:
            for t in specs:
                print(json.dumps({"id": t.id, "name": t.name, "query": t.query, "exclude": t.exclude,
                                  "min_score": t.min_score, "owner": t.owner, "channels": list(t.channels),
                                  "enabled": t.enabled}, ensure_ascii=False))
            return
        from rich.table import Table

        table = Table(title=f"{len(specs)} topic(s) in {path}", show_lines=True)
        for col in ("id", "name", "query", "owner", "channels"):
            table.add_column(col, overflow="fold")
        for t in specs:
            tid = t.id if t.enabled else f"{t.id} (disabled)"
            q = " ".join(t.query.split()) + (f"\nexclude: {' '.join(t.exclude.split())}" if t.exclude else "") \
                + (f"\nmin_score: {t.min_score:g}" if t.min_score else "")
            table.add_row(tid, t.name, q, t.owner or "", ", ".join(t.channels))
        out.print(table)


def _print_result(label: str, query: str, exclude: Optional[str], since: Optional[str], res: Any) -> None:
    from rich.markup import escape

    from newswatch.cli import out
    from newswatch.index.base import story_date

    span = f" since {since}" if since else ""
    out.print(f"[bold]{escape(label)}[/]: {res.total} matching stor{'y' if res.total == 1 else 'ies'}{span}",
              highlight=False)
    out.print(f"[dim]index query: {escape(' '.join(res.index_query.split()))}[/]", highlight=False)
    for note in res.notes:
        out.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if res.hits:
        out.print("")
        for h in res.hits:
            s = h.story
            when = story_date(s).strftime("%Y-%m-%d %H:%M")
            out.print(f"{when}  [cyan]{escape(s.source_id)}[/]  {escape(s.title or s.id)}", highlight=False)
        if res.total > len(res.hits):
            out.print(f"[dim]… {res.total - len(res.hits)} more (--limit)[/]", highlight=False)
    if res.per_day:
        out.print("\n[bold]per day[/]", highlight=False)
        top = max(n for _, n in res.per_day)
        for day, n in res.per_day:
            bar = "█" * max(1, round(30 * n / top))
            out.print(f"{day}  {n:>5}  {bar}", highlight=False)
    if res.per_source:
        out.print("\n[bold]per source[/]", highlight=False)
        for src, n in res.per_source:
            out.print(f"{n:>5}  {escape(src)}", highlight=False)
