"""Alerts: the durable outbox, the NDJSON alert log and the dispatcher between them.

The pipeline adds alerts to the :class:`AlertOutbox` (keyed by ``Alert.id``:
one alert per topic and story, forever); the :class:`AlertDispatcher` moves
them into the :class:`AlertLog` (exactly once per id) and the console; the
notifier delivers them to channels.
"""

from newswatch.alerts.dispatch import AlertDispatcher
from newswatch.alerts.log import AlertLog, format_alert
from newswatch.alerts.outbox import AlertOutbox

__all__ = ["AlertDispatcher", "AlertLog", "AlertOutbox", "format_alert"]
