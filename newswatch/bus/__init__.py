"""The bus between connectors and the pipeline.

:class:`Bus` is the interface with its delivery promises (at-least-once,
durable publish, no per-key ordering); :class:`LocalBus` is the embedded
durable SQLite queue. Backends are chosen by name through
:mod:`newswatch.registry` (``bus: local``).
"""

from newswatch.bus.base import Bus, Message
from newswatch.bus.local import LocalBus

__all__ = ["Bus", "LocalBus", "Message"]
