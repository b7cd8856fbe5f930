"""Alert channels: where a rendered message is delivered.

One registry of channel kinds (:mod:`newswatch.registry`, kind ``"channel"``),
chosen by the URL's scheme:

* ``console://`` → :class:`ConsoleChannel` (stdout, or the stream given);
* ``ndjson://PATH`` / ``file://PATH`` → :class:`FileChannel` (one JSON object
  per line; relative paths under the data directory);
* anything else → :class:`AppriseChannel`: any Apprise URL — Slack, Teams,
  Telegram, Discord, ``mailto://``/``mailtos://``, ``json://``/``jsons://``
  webhooks and the other ~130 services Apprise knows. No integration is
  hand-written here.

Contract of :meth:`Channel.send`: it returns only when the channel accepted
the message (HTTP 2xx, SMTP 250, the line written and fsync'd) and raises
:class:`DeliveryError` with a readable reason otherwise. It never retries on
its own: retries, backoff and parking are the notifier's (it keeps the
delivery state durably).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, TextIO

from newswatch import registry
from newswatch.errors import ConfigError, NewswatchError
from newswatch.records import utcnow

log = logging.getLogger(__name__)

#: Apprise notification type by severity (changes colour/icon where a service has one).
NOTIFY_TYPE = {"low": "info", "normal": "info", "high": "warning", "critical": "failure"}


class DeliveryError(NewswatchError):
    """A channel did not accept a message; ``str()`` is the reason (kept with the delivery)."""


@dataclass(frozen=True)
class Message:
    """A rendered notification: what a channel sends.

    ``kind`` is ``alert``, ``digest`` or ``test``; ``data`` holds the
    structured fields (written as-is by the file channel).
    """

    kind: str
    title: str
    body: str
    severity: str = "normal"
    data: Mapping[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """A delivery target (see the module docstring for the contract)."""

    name: str

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------ console
class ConsoleChannel:
    """Print messages (title line, then the body) to a stream, stdout by default."""

    def __init__(self, name: str = "console", *, stream: TextIO | None = None, **_: Any) -> None:
        self.name = name
        self.stream = stream

    def send(self, message: Message) -> None:
        stream = self.stream or sys.stdout
        try:
            stream.write(f"{message.title}\n{message.body.rstrip()}\n\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"console: {exc}") from None

    def close(self) -> None:
        pass


# --------------------------------------------------------------------- file
class FileChannel:
    """Append each message as one JSON line to a file (flock'd, fsync'd)."""

    def __init__(self, name: str, *, path: Path, **_: Any) -> None:
        self.name = name
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        line = json.dumps({"kind": message.kind, "title": message.title, "body": message.body,
                           "severity": message.severity, "sent_at": utcnow().isoformat(),
                           **dict(message.data)}, ensure_ascii=False, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open(self.path, "ab") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    fh.write(line.encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        except OSError as exc:
            raise DeliveryError(f"{self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ apprise
class AppriseChannel:
    """Any Apprise URL. Failure reasons come from Apprise's own per-service log."""

    def __init__(self, name: str, *, url: str, **_: Any) -> None:
        import apprise

        self.name = name
        self._apprise = apprise
        # in-memory persistent store: Apprise writes no cache files of its own
        asset = apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)
        self._ap = apprise.Apprise(asset=asset)
        if not self._ap.add(url):
            raise ConfigError(f"channel {name!r}: Apprise does not accept this URL ({redact(url)})",
                              key=f"channels.{name}",
                              fix="check the scheme and required parts against the Apprise wiki "
                                  "(https://github.com/caronc/apprise/wiki), e.g. "
                                  "'mailtos://user:pass@smtp.example.org?to=desk@example.org'.")
        self._lock = threading.Lock()
        # Apprise reports why a delivery failed through its logger at WARNING; a
        # process that raised the level globally (or on the root logger) would
        # leave us with "failed" and no reason.
        ap_log = logging.getLogger("apprise")
        if ap_log.getEffectiveLevel() > logging.WARNING:
            ap_log.setLevel(logging.WARNING)

    def send(self, message: Message) -> None:
        with self._lock:  # one Apprise object, one call at a time
            result = self._ap.notify(title=message.title, body=message.body,
                                     notify_type=NOTIFY_TYPE.get(message.severity, "info"))
        if result:
            return
        reasons: list[str] = []
        for res in getattr(result, "results", ()):
            for entry in res.logs():
                if entry.level in ("WARNING", "ERROR", "CRITICAL") and entry.message not in reasons:
                    reasons.append(entry.message)
        raise DeliveryError("; ".join(reasons)[:1000] or f"{self.name}: Apprise reported a failure")

    def close(self) -> None:
        pass


# ----------------------------------------------------------------- registry
registry.register("channel", "console", "newswatch.alerts.channels:ConsoleChannel")
registry.register("channel", "ndjson", "newswatch.alerts.channels:FileChannel")
registry.register("channel", "apprise", "newswatch.alerts.channels:AppriseChannel", "apprise")

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET = re.compile(r"(://)([^/@]+)@")


def redact(url: str) -> str:
    """``url`` with any ``user:password@`` replaced (for messages and logs)."""
    return _SECRET.sub(r"\1***@", url)


def expand_env(url: str, name: str, env: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` from the environment; a missing variable is a config error."""
    env = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        var = m.group(1)
        if var not in env:
            raise ConfigError(f"channel {name!r} uses ${{{var}}}, which is not set in the environment",
                              key=f"channels.{name}", fix=f"export {var}=… before starting the notifier.")
        return env[var]

    return _ENV.sub(sub, url)


def channel_kind(url: str) -> str:
    """The registered channel kind for a URL (by scheme)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "console":
        return "console"
    if scheme in ("ndjson", "file"):
        return "ndjson"
    return "apprise"


def open_channel(name: str, url: str, *, data_dir: Path | None = None,
                 console_stream: TextIO | None = None) -> Channel:
    """Instantiate channel ``name`` from its URL (``${VAR}`` expanded)."""
    url = expand_env(url.strip(), name)
    kind = channel_kind(url)
    kwargs: dict[str, Any] = {}
    if kind == "console":
        kwargs["stream"] = console_stream
    elif kind == "ndjson":
        raw = url.split("://", 1)[1]
        if not raw:
            raise ConfigError(f"channel {name!r}: {url!r} names no file", key=f"channels.{name}",
                              fix="use ndjson://notifications.ndjson or ndjson:///absolute/path.ndjson")
        path = Path(raw)
        if not path.is_absolute() and data_dir is not None:
            path = Path(data_dir) / path
        kwargs["path"] = path
    else:
        kwargs["url"] = url
    return registry.create("channel", kind, name=name, **kwargs)


def open_channels(urls: Mapping[str, str], *, data_dir: Path | None = None,
                  console_stream: TextIO | None = None) -> dict[str, Channel]:
    """All channels of a config (``AlertsFile.channel_urls()``), by name."""
    return {name: open_channel(name, url, data_dir=data_dir, console_stream=console_stream)
            for name, url in urls.items()}
