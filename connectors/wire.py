"""A wire-service drop folder: NewsML-G2 XML and NDJSON files delivered as files.

Producers (an FTP/SFTP receiver, a vendor agent, a script) drop files into
``spec.path`` (relative paths are under the data directory). A poll picks up
complete files — ``*.xml``, ``*.ndjson``, ``*.jsonl`` that are not hidden, not
``*.tmp``/``*.part``, and whose modification time is at least ``settle_s``
(1 s) old — parses them, and returns their articles and dead letters.

Delivery promise (at least once): files are moved only by :meth:`WireDropSource.ack`,
which the caller invokes after the articles and dead letters are durably
enqueued. A crash between ``poll`` and ``ack`` leaves the files in the drop
folder, so they are read again after restart; nothing is lost. After ``ack``:

* ``processed/NAME``: the file yielded at least one article (dead letters for
  individual bad items travel with the result);
* ``failed/NAME`` plus ``failed/NAME.reason.txt``: nothing in the file could
  become an article (not well-formed, a concept/planning item, garbage).

A name already taken in ``processed/`` or ``failed/`` gets a numeric suffix
(``NAME-1.xml``), so a re-sent file never overwrites an earlier one. Producers
should write to a temporary name and rename when done; the age check only
protects writers that pause less than ``settle_s``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from connectors.base import PollResult
from connectors.document import parse_document
from newswatch.fsutil import fsync_dir
from newswatch.config import WireSpec
from newswatch.records import DeadLetter, RawArticle, utcnow
from newswatch.settings import Settings

__all__ = ["WireDropSource", "WireFile", "WIRE_SUFFIXES"]

log = logging.getLogger("newswatch.connectors.wire")

WIRE_SUFFIXES = frozenset({".xml", ".ndjson", ".jsonl"})
IGNORED_SUFFIXES = frozenset({".tmp", ".part", ".partial", ".swp"})
PROCESSED, FAILED = "processed", "failed"


@dataclass(frozen=True)
class WireFile:
    """One picked-up file and where :meth:`WireDropSource.ack` will move it."""

    path: Path
    size: int
    mtime_ns: int
    outcome: str                # "processed" | "failed"
    articles: int = 0
    dead_letters: int = 0
    reason: str | None = None


def _unique_target(folder: Path, name: str) -> Path:
    target = folder / name
    if not target.exists() and not Path(f"{target}.reason.txt").exists():
        return target
    stem, dot, suffix = name.partition(".")
    n = 1
    while True:
        candidate = folder / (f"{stem}-{n}{dot}{suffix}" if dot else f"{name}-{n}")
        if not candidate.exists():
            return candidate
        n += 1


class WireDropSource:
    """Polls a drop folder (a :class:`connectors.base.Source`); see the module docstring."""

    def __init__(self, spec: WireSpec, *, data_dir: str | Path, settings: Settings,
                 settle_s: float = 1.0) -> None:
        self.id = spec.id
        self.spec = spec
        self.settings = settings
        self.settle_s = settle_s
        path = Path(spec.path).expanduser()
        self.path = path if path.is_absolute() else Path(data_dir) / path
        self.processed_dir = self.path / PROCESSED
        self.failed_dir = self.path / FAILED
        self._in_flight: set[Path] = set()
        self._last_poll: datetime | None = None

    # lifecycle ------------------------------------------------------------
    def setup(self) -> None:
        """Create the drop folder and its ``processed/`` and ``failed/`` subfolders."""
        for folder in (self.path, self.processed_dir, self.failed_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self._in_flight.clear()

    def next_due(self, now: datetime | None = None) -> datetime:
        now = now or utcnow()
        if self._last_poll is None:
            return now
        return self._last_poll + timedelta(seconds=self.settings.wire_scan_s)

    # polling --------------------------------------------------------------
    def ready_files(self, now: datetime | None = None) -> list[Path]:
        """Complete, not yet picked-up files in the drop folder, oldest first."""
        now_ts = (now or utcnow()).timestamp()
        found: list[tuple[int, str, Path]] = []
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            return []
        for entry in entries:
            name = entry.name
            path = Path(entry.path)
            suffix = os.path.splitext(name)[1].lower()
            if (name.startswith(".") or suffix in IGNORED_SUFFIXES or suffix not in WIRE_SUFFIXES
                    or name.endswith(".reason.txt") or path in self._in_flight):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if now_ts - st.st_mtime < self.settle_s:
                continue                # still being written
            found.append((st.st_mtime_ns, name, path))
        return [p for _, _, p in sorted(found)]

    def poll(self, now: datetime | None = None) -> PollResult:
        """Read every ready file once. Never raises; files stay in place until :meth:`ack`."""
        now = now or utcnow()
        started = time.monotonic()
        self._last_poll = now
        result = PollResult(source_id=self.id, status="ok", polled_at=now,
                            next_due=now + timedelta(seconds=self.settings.wire_scan_s))
        if not self.path.is_dir():
            result.status = "error"
            result.error = f"drop folder {self.path} does not exist; create it or fix wire[{self.id}].path"
            log.warning("poll %s status=error error=%s", self.id, result.error)
            return result
        picked: list[WireFile] = []
        for path in self.ready_files(now):
            try:
                wire_file, articles, dead = self._read(path, now)
            except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the folder; file kept
                log.exception("wire %s: reading %s failed; it stays in the drop folder", self.id, path)
                result.problem = f"{path.name}: internal error {type(exc).__name__}: {exc}"
                continue
            if wire_file is None:
                continue
            picked.append(wire_file)
            self._in_flight.add(path)
            result.articles.extend(articles)
            result.dead_letters.extend(dead)
            result.bytes += wire_file.size
        result.pending = picked or None
        result.duration_s = time.monotonic() - started
        log.debug("poll %s status=ok files=%d new=%d dead=%d bytes=%d %.2fs", self.id, len(picked),
                 len(result.articles), len(result.dead_letters), result.bytes, result.duration_s)
        return result

    def _read(self, path: Path, now: datetime) -> tuple[WireFile | None, list[RawArticle], list[DeadLetter]]:
        try:
            st = path.stat()
            if st.st_size > self.settings.http_max_bytes:
                reason = (f"file is {st.st_size} bytes, more than the limit of {self.settings.http_max_bytes}; "
                          "raise NEWSWATCH_HTTP_MAX_BYTES if such files are expected")
                return WireFile(path, st.st_size, st.st_mtime_ns, FAILED, reason=reason), [], []
            body = path.read_bytes()
        except FileNotFoundError:
            return None, [], []         # moved away by someone else between scan and read
        except OSError as exc:
            log.warning("wire %s: cannot read %s: %s", self.id, path, exc)
            return None, [], []         # permission problem: retried next poll, never moved
        doc = parse_document(body, source_id=self.id, fetched_at=now, origin=path.name,
                             language_hint=self.spec.language)
        dead: list[DeadLetter] = list(doc.dead_letters)
        if doc.articles:
            outcome, reason = PROCESSED, None
        else:
            outcome = FAILED
            reasons = [d.reason for d in dead] or [doc.problem or "no articles"]
            reason = f"{len(reasons)} problem(s), no article:\n" + "\n".join(reasons[:50])
        return (WireFile(path, st.st_size, st.st_mtime_ns, outcome, len(doc.articles), len(dead), reason),
                doc.articles, dead)

    def ack(self, result: PollResult) -> None:
        """Move the files of ``result`` to ``processed/`` or ``failed/``.

        Call only after ``result.articles`` and ``result.dead_letters`` are
        durably enqueued. Idempotent: a second call does nothing.
        """
        files: list[WireFile] = result.pending or []
        if not files:
            return
        if result.source_id != self.id:
            raise ValueError(f"result of source {result.source_id!r} acked on source {self.id!r}")
        self.processed_dir.mkdir(parents=True, exist_ok=True)
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        for wire_file in files:
            self._in_flight.discard(wire_file.path)
            folder = self.processed_dir if wire_file.outcome == PROCESSED else self.failed_dir
            target = _unique_target(folder, wire_file.path.name)
            try:
                st = wire_file.path.stat()
                if (st.st_size, st.st_mtime_ns) != (wire_file.size, wire_file.mtime_ns):
                    log.warning("wire %s: %s changed after it was read; leaving it to be read again",
                                self.id, wire_file.path)
                    continue
                if wire_file.outcome == FAILED:
                    reason_path = Path(f"{target}.reason.txt")
                    tmp = reason_path.with_name("." + reason_path.name + ".tmp")
                    tmp.write_text((wire_file.reason or "failed") + "\n", encoding="utf-8")
                    os.replace(tmp, reason_path)
                os.replace(wire_file.path, target)
            except FileNotFoundError:
                log.warning("wire %s: %s vanished before it could be moved", self.id, wire_file.path)
                continue
            except OSError as exc:
                log.error("wire %s: cannot move %s to %s: %s (it will be read again)",
                          self.id, wire_file.path, target, exc)
                continue
            log.info("wire %s: %s -> %s", self.id, wire_file.path.name, target.relative_to(self.path))
        fsync_dir(self.path)
        fsync_dir(self.processed_dir)
        fsync_dir(self.failed_dir)
        result.pending = None
