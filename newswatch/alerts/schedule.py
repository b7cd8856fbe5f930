"""Pure decisions of the notifier: routing, throttling, digest schedules.

No I/O here: :mod:`newswatch.alerts.state` stores what these functions decide.
Times are POSIX seconds (UTC); digest boundaries are on the UTC clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

from newswatch.alerts.settings import Subscription, TopicThrottle


@dataclass(frozen=True)
class Route:
    """Where one new (topic, cluster) notice goes for one subscription and channel.

    ``how`` is ``immediate`` (its own message now) or ``digest`` (an item of
    the subscription's next digest); ``reason`` says why a digest:
    ``digest`` (digest-mode subscription) or ``throttle`` (over the topic's limit).
    """

    subscription: str
    channel: str
    severity: str
    how: str
    reason: str = ""


def is_throttled(recent_immediate: int, throttle: TopicThrottle | None) -> bool:
    """Whether one more immediate alert would exceed the topic's limit, given how
    many immediate alerts of the topic went out in the last ``per_seconds``."""
    return throttle is not None and recent_immediate >= throttle.max_alerts


def plan_routes(subscriptions: Sequence[Subscription], *, throttled: bool) -> list[Route]:
    """Routes of a new notice through the subscriptions that match its topic.

    An immediate subscription sends at once unless the topic is throttled
    (then the notice joins its next digest); a digest subscription always
    queues it. A channel named by several immediate subscriptions gets one
    message (the first subscription's severity); digests are per subscription.
    """
    routes: list[Route] = []
    seen_immediate: set[str] = set()
    for sub in subscriptions:
        if sub.mode == "digest" or throttled:
            reason = "digest" if sub.mode == "digest" else "throttle"
            routes.append(Route(sub.key, "", sub.severity, "digest", reason))
            continue
        for ch in sub.channels:
            if ch in seen_immediate:
                continue
            seen_immediate.add(ch)
            routes.append(Route(sub.key, ch, sub.severity, "immediate"))
    return routes


def next_boundary(ts: float, schedule: str, digest_at: str = "08:00") -> float:
    """The first digest time strictly after ``ts``: the next full UTC hour
    (``hourly``) or the next ``digest_at`` UTC (``daily``)."""
    now = datetime.fromtimestamp(ts, timezone.utc)
    if schedule == "hourly":
        nxt = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return nxt.timestamp()
    if schedule == "daily":
        hh, mm = (int(x) for x in digest_at.split(":"))
        nxt = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if nxt <= now:
            nxt += timedelta(days=1)
        return nxt.timestamp()
    raise ValueError(f"unknown digest schedule {schedule!r}")
