"""Open the backends the settings name, once per process.

The index, bus and alert outbox are chosen by name through
:mod:`newswatch.registry`. Handles are cached per process because the embedded
index allows a single writer per directory and the spaCy-heavy pipeline runs
many micro-batches in one process; DoFn ``setup()`` calls these.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from newswatch import registry
from newswatch.settings import Settings

_lock = threading.Lock()
_handles: dict[tuple[str, str, str], Any] = {}


def _cached(kind: str, name: str, where: str, factory: Any) -> Any:
    key = (kind, name, where)
    with _lock:
        h = _handles.get(key)
        if h is None:
            h = factory()
            _handles[key] = h
        return h


def open_index(settings: Settings, *, readonly: bool = False) -> Any:
    """The story index (``settings.index``): tantivy under data_dir, or Elasticsearch."""
    path = settings.index_path
    if settings.index == "tantivy":
        return _cached("index", f"tantivy:{readonly}", str(path.resolve()),
                       lambda: registry.create("index", "tantivy", path=path, readonly=readonly))
    return _cached("index", settings.index, settings.es_url or "",
                   lambda: registry.create("index", settings.index, settings=settings))


def open_bus(settings: Settings) -> Any:
    """The bus (``settings.bus``): the local durable queue under data_dir, or Kafka."""
    if settings.bus == "local":
        path = settings.queue_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return _cached("bus", "local", str(path.resolve()), lambda: registry.create("bus", "local", path=path))
    return _cached("bus", "kafka", settings.bus, lambda: registry.create("bus", "kafka", settings=settings))


def open_outbox(settings: Settings) -> Any:
    """The durable alert outbox (same SQLite file as the local bus)."""
    from newswatch.alerts.outbox import Outbox

    path = settings.queue_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return _cached("outbox", "local", str(path.resolve()), lambda: Outbox(path))


def close_all() -> None:
    """Close every cached handle (end of process, tests)."""
    with _lock:
        for h in _handles.values():
            close = getattr(h, "close", None)
            if close:
                close()
        _handles.clear()


def data_path(settings: Settings, p: Path) -> Path:
    """A config path relative to the data directory unless absolute."""
    return p if p.is_absolute() else settings.data_dir / p
