"""Alerts: the durable outbox, the NDJSON alert log and the dispatcher between them.

The pipeline adds alerts to the :class:`AlertOutbox` (keyed by ``Alert.id``:
one alert per topic and story, forever); the :class:`AlertDispatcher` moves
them into the :class:`AlertLog` (exactly once per id) and the console; the
notifier (:mod:`newswatch.alerts.notifier`, ``newswatch notify``) delivers them
to channels: :mod:`~newswatch.alerts.source` (where events come from),
:mod:`~newswatch.alerts.settings` (``alerts.yaml``), :mod:`~newswatch.alerts.state`
(dedup and delivery state), :mod:`~newswatch.alerts.schedule` (routing,
throttle, digests), :mod:`~newswatch.alerts.render` (Jinja templates) and
:mod:`~newswatch.alerts.channels` (Apprise, file, console). Those are imported
on use: importing this package does not load Apprise or Jinja.
"""

from newswatch.alerts.dispatch import AlertDispatcher
from newswatch.alerts.log import AlertLog, format_alert
from newswatch.alerts.outbox import AlertOutbox

__all__ = ["AlertDispatcher", "AlertLog", "AlertOutbox", "format_alert"]
