"""``newswatch status``: the health of one instance, read from its durable state.

Everything comes from files under the data directory (bus, index, alert log,
feed cursors) and the config directory, so it works whether or not ``run`` is
going, and survives restarts. Pure collection in :func:`collect_status`,
rendering in :func:`render_status`.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import Any

from newswatch.settings import Settings


def _feeds(settings: Settings) -> list[dict[str, Any]]:
    """Each configured source with its last poll status from the cursor store."""
    from newswatch.config import ConfigSet

    cfg = ConfigSet.load(settings.config_dir)
    cursors: dict[str, dict[str, Any]] = {}
    if settings.state_path.exists():
        con = sqlite3.connect(f"file:{settings.state_path}?mode=ro", uri=True, timeout=5)
        try:
            for sid, blob in con.execute("SELECT source_id, cursor FROM cursors"):
                try:
                    cursors[sid] = json.loads(blob)
                except ValueError:
                    cursors[sid] = {}
        except sqlite3.Error:
            pass
        finally:
            con.close()
    rows = []
    for f in cfg.feeds.feeds:
        c = cursors.get(f.id, {})
        rows.append({"id": f.id, "kind": "feed", "enabled": f.enabled, "url": f.url,
                     "last_poll": c.get("last_poll"), "last_status": c.get("last_status"),
                     "failures": c.get("failures", 0), "next_due": c.get("next_due"),
                     "last_error": c.get("last_error")})
    for w in cfg.feeds.wire:
        path = w.path if w.path.is_absolute() else settings.data_dir / w.path
        waiting = len([p for p in path.glob("*") if p.is_file() and not p.name.startswith(".")]) if path.is_dir() else 0
        failed = len(list((path / "failed").glob("*"))) if (path / "failed").is_dir() else 0
        rows.append({"id": w.id, "kind": "wire", "enabled": w.enabled, "url": str(path),
                     "waiting_files": waiting, "failed_files": failed})
    return rows


def collect_status(settings: Settings) -> dict[str, Any]:
    """A JSON-able snapshot: bus, dead letters, index, alerts, topics and sources."""
    from newswatch import backends
    from newswatch.config import ConfigSet

    st: dict[str, Any] = {"now": datetime.now(timezone.utc).isoformat(), "data_dir": str(settings.data_dir),
                          "config_dir": str(settings.config_dir), "bus": settings.bus, "index": settings.index}
    problems: list[str] = []
    if settings.bus == "local" and not settings.queue_path.exists():
        st["queue"] = None
        problems.append(f"no queue at {settings.queue_path}: nothing has run with --data {settings.data_dir} yet")
    else:
        bus = backends.open_bus(settings)
        st["queue"] = bus.stats()
        st["recent_dead_letters"] = [{"stage": d.stage, "reason": d.reason, "source": d.source,
                                      "at": d.created_at.isoformat()} for d in bus.dead_letters(limit=5)]
        outbox = backends.open_outbox(settings)
        st["alerts"] = {"total": outbox.count(), "undelivered": outbox.count_pending()}
    try:
        idx = backends.open_index(settings, readonly=True)
        st["stories"] = idx.count()
    except Exception as exc:  # a missing index is a state to report, not a crash
        st["stories"] = None
        problems.append(str(exc))
    try:
        cfg = ConfigSet.load(settings.config_dir)
        st["topics"] = [t.id for t in cfg.topics.topics if t.enabled]
        st["sources"] = _feeds(settings)
    except Exception as exc:
        problems.append(str(exc))
    st["problems"] = problems
    return st


def render_status(st: dict[str, Any], console: Any) -> None:
    """Human-readable tables of a :func:`collect_status` snapshot."""
    from rich.table import Table

    q = st.get("queue") or {}
    console.print(f"[bold]newswatch[/] data {st['data_dir']} · config {st['config_dir']} · bus {st['bus']} · "
                  f"index {st['index']}", highlight=False)
    console.print(f"stories indexed: {st.get('stories')}   queue: {q.get('pending', '—')} pending, "
                  f"{q.get('leased', '—')} in flight, {q.get('delayed', 0)} delayed, "
                  f"oldest {q.get('oldest_pending_age_s') or 0:.0f}s   dead letters: {q.get('dead_letters', '—')}   "
                  f"alerts: {(st.get('alerts') or {}).get('total', '—')} "
                  f"({(st.get('alerts') or {}).get('undelivered', '—')} undelivered)", highlight=False)
    console.print(f"topics live: {', '.join(st.get('topics') or []) or '—'}", highlight=False)
    sources = st.get("sources") or []
    if sources:
        t = Table("source", "kind", "last poll", "status", "failures", "next due", "error")
        for s in sources:
            if s["kind"] == "wire":
                t.add_row(s["id"], "wire", "", f"{s['waiting_files']} waiting, {s['failed_files']} failed", "", "", "")
            else:
                t.add_row(s["id"], "feed", (s.get("last_poll") or "never")[:19], s.get("last_status") or "",
                          str(s.get("failures") or 0), (s.get("next_due") or "")[:19], (s.get("last_error") or "")[:60])
        console.print(t)
    for d in st.get("recent_dead_letters") or []:
        console.print(f"[yellow]dead letter[/] {d['at'][:19]} {d['stage']}: {d['reason'][:120]}", highlight=False)
    for p in st.get("problems") or []:
        console.print(f"[red]problem:[/] {p}", highlight=False)
