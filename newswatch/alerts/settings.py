"""The model of ``config/alerts.yaml``: where alerts go, for whom, how often.

Validated through :func:`newswatch.config.parse_model` like every config
file (errors name file, line, key and fix; unknown keys are refused).

* ``log`` / ``console``: the NDJSON alert log of every alert fired and the
  console echo of the embedded monitor (:class:`~newswatch.alerts.AlertDispatcher`).
* ``channels``: name → URL. Any Apprise URL (``slack://…``, ``msteams://…``,
  ``tgram://…``, ``discord://…``, ``mailtos://…``, ``json://…`` webhooks …),
  ``ndjson://PATH`` (a file, relative paths under the data directory) or
  ``console://``. ``${VAR}`` is replaced from the environment when the
  notifier opens the channel, so secrets stay out of the file. The name
  ``console`` is always defined.
* ``subscriptions``: which topics go to which channels, with severity and mode
  (``immediate`` or ``digest`` with an ``hourly``/``daily`` schedule).
* ``throttle``: per topic (``"*"`` for every other topic), at most
  ``max_alerts`` immediate alerts per ``per_seconds``; overflow goes into the
  subscription's next digest.
* ``retry``: delivery attempts and exponential backoff before a delivery is
  parked as failed.
* ``templates``: a directory whose ``*.j2`` files override the built-in
  message templates (relative paths are under the config directory).
* ``state``: the notifier's SQLite state (dedup, deliveries, digests),
  relative paths under the data directory; finished entries older than
  ``retention_days`` are pruned.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Severity = Literal["low", "normal", "high", "critical"]
Mode = Literal["immediate", "digest"]
Schedule = Literal["hourly", "daily"]

#: Channel names that exist without being defined under ``channels:``.
BUILTIN_CHANNELS: dict[str, str] = {"console": "console://"}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Subscription(_Strict):
    """Topics → channels. ``topics`` are topic ids or shell globs (``"*"``, ``"russia-*"``)."""

    name: str | None = Field(None, description="Stable name (default: derived from topics, channels, mode).")
    topics: tuple[str, ...] = Field(("*",), min_length=1)
    channels: tuple[str, ...] = Field(min_length=1, description="Channel names from `channels:` (or 'console').")
    severity: Severity = "normal"
    mode: Mode = "immediate"
    digest: Schedule = Field("hourly", description="Schedule of digest mode, and of throttle overflow.")
    digest_at: str = Field("08:00", description="Daily digests: time of day, HH:MM UTC.")

    @field_validator("digest_at")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("use HH:MM in UTC, e.g. '08:00'")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError("names are letters, digits, '.', '_' or '-'")
        return v

    @property
    def key(self) -> str:
        """The name under which digests and deliveries of this subscription are stored."""
        return self.name or f"{'+'.join(self.topics)}>{'+'.join(self.channels)}:{self.mode}"


class TopicThrottle(_Strict):
    """At most ``max_alerts`` immediate alerts of a topic per ``per_seconds``."""

    max_alerts: int = Field(gt=0)
    per_seconds: float = Field(3600.0, gt=0)


class RetryPolicy(_Strict):
    """Delivery retries: delay ``backoff_s × 2^(attempt-1)`` capped at ``backoff_max_s``;
    after ``max_attempts`` failed attempts the delivery is parked with the last reason."""

    max_attempts: int = Field(8, ge=1)
    backoff_s: float = Field(5.0, gt=0)
    backoff_max_s: float = Field(900.0, gt=0)

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempts - 1))


class AlertsFile(_Strict):
    """Where alerts go (``config/alerts.yaml``); see the module docstring."""

    log: Path = Field(Path("alerts.ndjson"), description="Alert log; relative paths are under the data directory.")
    console: bool = True
    channels: dict[str, str] = Field(default_factory=dict, description="name → Apprise URL, ndjson://PATH or console://")
    subscriptions: tuple[Subscription, ...] = ()
    throttle: dict[str, TopicThrottle] = Field(default_factory=dict, description="topic id (or '*') → throttle")
    retry: RetryPolicy = RetryPolicy()
    templates: Path | None = Field(None, description="Directory of *.j2 overrides; relative to the config directory.")
    state: Path = Field(Path("notify.sqlite3"), description="Notifier state; relative paths under the data directory.")
    retention_days: float = Field(30.0, gt=0, description="Finished notices older than this are forgotten "
                                  "(keep it above the cluster horizon, NEWSWATCH_CLUSTER_HORIZON_DAYS).")

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: dict[str, str]) -> dict[str, str]:
        for name, url in v.items():
            if not _NAME.match(name):
                raise ValueError(f"channel name {name!r}: use letters, digits, '.', '_' or '-'")
            if not isinstance(url, str) or not _URL.match(url.strip()):
                raise ValueError(f"channel {name!r}: {url!r} is not a URL; use an Apprise URL such as "
                                 "'slack://TokenA/TokenB/TokenC', 'ndjson://alerts-out.ndjson' or 'console://'")
        return v

    @field_validator("subscriptions")
    @classmethod
    def _known_channels(cls, v: tuple[Subscription, ...], info: ValidationInfo) -> tuple[Subscription, ...]:
        known = {**BUILTIN_CHANNELS, **(info.data.get("channels") or {})}
        keys: dict[str, int] = {}
        for i, sub in enumerate(v):
            for ch in sub.channels:
                if ch not in known:
                    raise ValueError(f"subscriptions[{i}].channels: unknown channel {ch!r}; define it under "
                                     f"'channels:' (known: {', '.join(sorted(known))})")
            if sub.key in keys:
                raise ValueError(f"subscriptions[{i}] has the same name as subscriptions[{keys[sub.key]}]"
                                 f" ({sub.key!r}); give one of them a distinct 'name:'")
            keys[sub.key] = i
        return v

    @model_validator(mode="after")
    def _throttle_keys(self) -> "AlertsFile":
        for topic in self.throttle:
            if not topic or topic != topic.strip():
                raise ValueError(f"throttle key {topic!r}: use a topic id or '*'")
        return self

    # ------------------------------------------------------------- helpers
    def channel_urls(self) -> dict[str, str]:
        """Every channel name → URL, built-ins included (a defined name wins)."""
        return {**BUILTIN_CHANNELS, **self.channels}

    def throttle_for(self, topic_id: str) -> TopicThrottle | None:
        """The throttle of a topic: its own entry, else ``"*"``, else none."""
        return self.throttle.get(topic_id) or self.throttle.get("*")

    def subscriptions_for(self, topic_id: str) -> list[Subscription]:
        """Subscriptions whose ``topics`` match ``topic_id`` (ids or globs), in file order."""
        from fnmatch import fnmatchcase

        return [s for s in self.subscriptions if any(fnmatchcase(topic_id, p) for p in s.topics)]

    def uses_channel(self, name: str) -> bool:
        """Whether any subscription delivers to channel ``name``."""
        return any(name in s.channels for s in self.subscriptions)
