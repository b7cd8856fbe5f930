"""The alert log: an append-only NDJSON file with every alert ever fired, once.

One :class:`Alert` JSON per line. It is the analyst-facing record ("what fired,
when, why") and what ``newswatch alerts`` reads. Promises:

* **Exactly once per alert id**, also across crashes and across processes
  appending to the same file: ids already in the file are never written again.
  On open the file is scanned for ids; each append takes an exclusive
  ``flock`` and first reads whatever other processes appended since.
* **Durable per batch**: :meth:`AlertLog.append` writes the batch, flushes and
  fsyncs before returning.
* **Crash-safe**: a crash mid-write can leave a torn last line (no newline).
  On open (and before each append) a torn tail is truncated away and logged;
  since the write was never acknowledged (no fsync returned), the alert is
  still pending in the outbox and is written again by the dispatcher.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from pydantic import ValidationError

from newswatch.fsutil import fsync_dir
from newswatch.records import Alert

log = logging.getLogger(__name__)


class AlertLog:
    """Append-only NDJSON alert log at ``path`` (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._ids: set[str] = set()
        self._pos = 0  # bytes of the file already scanned for ids
        created = not self.path.exists()
        self._fh = open(self.path, "a+b")  # noqa: SIM115 - kept open for the log's lifetime
        if created:
            fsync_dir(self.path.parent)
        with self._lock, _flock(self._fh):
            self._catch_up()

    # ----------------------------------------------------------------- state
    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def _catch_up(self) -> None:
        """Read ids appended since ``_pos`` (by us or another process); truncate a torn tail.

        Caller holds ``_lock`` and the file lock.
        """
        size = os.fstat(self._fh.fileno()).st_size
        if size < self._pos:  # replaced or truncated behind our back: rescan
            log.warning("alert log %s shrank (%d < %d bytes); rescanning", self.path, size, self._pos)
            self._ids.clear()
            self._pos = 0
        if size == self._pos:
            return
        self._fh.seek(self._pos)
        offset = self._pos  # streamed line by line: a large log is not read into memory
        while offset < size:
            line = self._fh.readline()
            if not line:
                break
            if not line.endswith(b"\n"):
                log.warning("alert log %s: truncating a torn last line from an interrupted write"
                            " (%d bytes at byte %d: %r)", self.path, len(line), offset, line[:120])
                self._fh.truncate(offset)
                self._fh.flush()
                os.fsync(self._fh.fileno())
                break
            at, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                alert_id = json.loads(line)["id"]
            except (ValueError, KeyError, TypeError):
                log.warning("alert log %s: skipping unreadable line at byte %d", self.path, at)
                continue
            self._ids.add(alert_id)
        self._pos = offset

    # ---------------------------------------------------------------- writing
    def append(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Append the alerts whose ids are not in the log yet (one batch, fsync'd);
        return the ones written, in order."""
        with self._lock, _flock(self._fh):
            self._catch_up()
            fresh: list[Alert] = []
            batch: set[str] = set()
            for alert in alerts:
                if alert.id in self._ids or alert.id in batch:
                    continue
                batch.add(alert.id)
                fresh.append(alert)
            if not fresh:
                return []
            data = b"".join(a.to_json().encode("utf-8") + b"\n" for a in fresh)
            self._fh.seek(0, os.SEEK_END)
            self._fh.write(data)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._pos += len(data)
            self._ids.update(batch)
            return fresh

    # ---------------------------------------------------------------- reading
    def read(self, topic: str | None = None, since: datetime | None = None) -> Iterator[Alert]:
        """Iterate logged alerts in file order, optionally of one topic and
        created at/after ``since`` (tz-aware). Unreadable lines and a torn tail
        are skipped."""
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be a tz-aware datetime")
        try:
            fh = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                if not line.endswith(b"\n") or not line.strip():
                    continue
                try:
                    alert = Alert.from_json(line)
                except ValidationError:
                    continue
                if topic is not None and alert.topic_id != topic:
                    continue
                if since is not None and alert.created_at < since:
                    continue
                yield alert

    # -------------------------------------------------------------- lifecycle
    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()

    def __enter__(self) -> "AlertLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _flock:
    """An exclusive advisory lock on an open file, across processes."""

    def __init__(self, fh) -> None:  # noqa: ANN001
        self.fh = fh

    def __enter__(self) -> None:
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)


# ---------------------------------------------------------------- console
_WS = re.compile(r"\s+")


def _one_line(text: str, limit: int) -> str:
    text = _WS.sub(" ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def why_terms(alert: Alert, n: int = 5) -> list[str]:
    """The distinct terms that fired, in match order, at most ``n``."""
    seen: dict[str, None] = {}
    for m in alert.why:
        term = _one_line(m.term, 40)
        if term and term.lower() not in {t.lower() for t in seen}:
            seen[term] = None
        if len(seen) >= n:
            break
    return list(seen)


def format_alert(alert: Alert) -> str:
    """One readable console line: time, topic, title, source, why.

    ``2020-06-29 14:03:12Z  [russia-taliban] Russia denies arming the Taliban — reuters
    (why: russia, taliban, kremlin)`` (shown wrapped here; it is one line)
    """
    stamp = alert.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    topic = alert.topic_id
    title = _one_line(alert.title, 120) or alert.url or alert.story_id
    source = _one_line(alert.source_id, 40)
    line = f"{stamp}  [{topic}] {title}"
    if source:
        line += f" — {source}"
    terms = why_terms(alert)
    if terms:
        line += f"  (why: {', '.join(terms)})"
    return line
