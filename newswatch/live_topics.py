"""The live topic set: topics.yaml, reloaded when it changes on disk.

Used by the pipeline's topic-matching DoFn on every worker (so a long-running
streaming pipeline picks up edits without a restart, on any runner that can
see the file) and by the monitor to report reloads. A broken edit is rejected
with its error and the previous topics stay live until the file is fixed.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from newswatch import metrics
from newswatch.config import TopicsFile, TopicSpec, load_model
from newswatch.errors import ConfigError, NewswatchError

log = logging.getLogger("newswatch.topics")


class TopicsWatcher:
    """Topics of one file; :meth:`check` reloads them when the file changed.

    ``current()`` is cheap and thread-safe. ``check()`` stats the file and, on a
    change, validates and compiles the new topics before swapping them in.
    """

    def __init__(self, path: Path, initial: TopicsFile | Sequence[TopicSpec]) -> None:
        self.path = Path(path)
        specs = initial.topics if isinstance(initial, TopicsFile) else initial
        self._topics: tuple[TopicSpec, ...] = tuple(specs)
        self._stamp = self._stat()
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.generation = 0

    def _stat(self) -> tuple[float, int, int] | None:
        try:
            st = self.path.stat()
            return (st.st_mtime, st.st_size, st.st_ino)
        except OSError:
            return None

    def current(self) -> tuple[TopicSpec, ...]:
        with self._lock:
            return self._topics

    def matcher(self) -> Any:
        """The compiled matcher of the current topics (cached per topic set)."""
        from newswatch.process import compiled_topics

        return compiled_topics(self.current())

    def check(self) -> bool:
        """Reload if the file changed; True when a new topic set went live."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            topics = load_model(self.path, TopicsFile, missing_ok=False)
            from newswatch.process import compiled_topics
            from newswatch.topics.check import locate_in_file
            from newswatch.topics.parse import TopicSyntaxError

            try:
                compiled_topics(topics.topics)  # raises on a bad query
            except TopicSyntaxError as exc:
                raise locate_in_file(exc, self.path) from None
        except (ConfigError, NewswatchError) as exc:
            self.last_error = str(exc)
            log.error("topics not reloaded, keeping the previous %d topic(s): %s", len(self.current()), exc)
            return False
        with self._lock:
            self._topics = tuple(topics.topics)
            self.generation += 1
        self.last_error = None
        metrics.TOPICS_LOADED.set(len(topics.topics))
        log.info("topics reloaded from %s: %d topic(s) live", self.path, len(topics.topics))
        return True


class LiveTopics:
    """A process-wide :class:`TopicsWatcher` per file, checked at most every ``reload_s``."""

    _lock = threading.Lock()
    _watchers: dict[str, TopicsWatcher] = {}
    _checked: dict[str, float] = {}

    @classmethod
    def watcher(cls, path: Path, initial: Sequence[TopicSpec]) -> TopicsWatcher:
        key = str(Path(path).resolve())
        with cls._lock:
            w = cls._watchers.get(key)
            if w is None:
                w = TopicsWatcher(Path(path), initial)
                cls._watchers[key] = w
                cls._checked[key] = time.monotonic()
            return w

    @classmethod
    def poll(cls, path: Path, initial: Sequence[TopicSpec], reload_s: float) -> TopicsWatcher:
        """The watcher for ``path``, after a reload check if ``reload_s`` has passed."""
        w = cls.watcher(path, initial)
        key = str(w.path.resolve())
        now = time.monotonic()
        if now - cls._checked.get(key, 0.0) >= reload_s:
            cls._checked[key] = now
            w.check()
        return w

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls._watchers.clear()
            cls._checked.clear()
