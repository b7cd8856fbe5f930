"""One registry for pluggable backends: index, bus and alert channel.

Settings name a backend (``index: tantivy``); :func:`create` imports it lazily so
an optional dependency is only needed when selected, and a missing one fails
with what to install instead of an ImportError deep in a stack trace.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from newswatch.errors import ConfigError, MissingDependencyError

#: kind → name → ("module:attr", pip package that provides the dependency)
_BACKENDS: dict[str, dict[str, tuple[str, str]]] = {
    "index": {
        "tantivy": ("newswatch.index.tantivy_index:TantivyIndex", "tantivy"),
        "elasticsearch": ("newswatch.index.es_index:ElasticsearchIndex", "elasticsearch"),
    },
    "bus": {
        "local": ("newswatch.bus.local:LocalBus", ""),
        "kafka": ("newswatch.bus.kafka:KafkaBus", "kafka-python"),
    },
}


def register(kind: str, name: str, target: str, package: str = "") -> None:
    """Add or replace a backend (``target`` is ``"module:attribute"``)."""
    _BACKENDS.setdefault(kind, {})[name] = (target, package)


def names(kind: str) -> list[str]:
    return sorted(_BACKENDS.get(kind, {}))


def resolve(kind: str, name: str) -> Callable[..., Any]:
    """The factory registered as ``name`` for ``kind``."""
    choices = _BACKENDS.get(kind, {})
    if name not in choices:
        raise ConfigError(f"unknown {kind} backend {name!r}", key=f"NEWSWATCH_{kind.upper()}",
                          fix=f"use one of: {', '.join(sorted(choices))}.")
    target, package = choices[name]
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if package and exc.name and exc.name.split(".")[0] != "newswatch":
            raise MissingDependencyError(
                f"the {kind} backend {name!r} needs the package {package!r}: pip install {package}") from exc
        raise
    return getattr(module, attr)


def create(kind: str, name: str, /, **kwargs: Any) -> Any:
    """Instantiate the backend ``name`` of ``kind`` with ``kwargs``."""
    return resolve(kind, name)(**kwargs)
