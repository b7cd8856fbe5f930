"""Small pure helpers every parser shares: dates, languages, links, names, slugs.

Each function is total (never raises) so one odd field cannot lose an article.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from newswatch.text import normalize_text

__all__ = [
    "FUTURE_SLACK", "to_utc", "from_struct_time", "parse_date", "sane_published",
    "normalize_language", "http_url", "unique", "slugify", "truncate",
]

#: Dates later than fetch time plus this are feed errors (wrong year, bad timezone) and ignored.
FUTURE_SLACK = timedelta(days=1)
#: Payloads kept in dead letters are cut at this many characters.
MAX_PAYLOAD_CHARS = 1_000_000

try:  # python-dateutil is installed with apache-beam; it is only a fallback here
    from dateutil import parser as _dateutil_parser
except ImportError:  # pragma: no cover - optional
    _dateutil_parser = None


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def from_struct_time(value: Any) -> datetime | None:
    """A feedparser ``*_parsed`` value (UTC ``time.struct_time``) as an aware datetime."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def parse_date(value: Any) -> datetime | None:
    """Parse the date formats feeds and wires use into an aware UTC datetime.

    ISO 8601 (``2018-10-19T16:15:00Z``, date only), RFC 822 (``Tue, 17 Feb 2026
    20:19:37 -0500``), epoch seconds, and through dateutil whatever else it
    understands (``Sat, Dec 16 2023 02:02:33 PM``). Values without a timezone
    are taken as UTC. Returns ``None`` for anything unparseable.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, time.struct_time):
        return from_struct_time(value)
    if isinstance(value, (int, float)):
        seconds = float(value)
        if seconds > 1e11:              # milliseconds since the epoch
            seconds /= 1000.0
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, ValueError, OSError):
            return None
    text = normalize_text(value)
    if not text or len(text) > 100:
        return None
    try:
        return to_utc(datetime.fromisoformat(text.replace("z", "Z")))
    except ValueError:
        pass
    try:
        return to_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    if _dateutil_parser is not None:
        try:
            return to_utc(_dateutil_parser.parse(text))
        except (ValueError, OverflowError, TypeError, LookupError):
            return None
    return None


def sane_published(value: datetime | None, fetched_at: datetime) -> datetime | None:
    """``value`` unless it lies more than :data:`FUTURE_SLACK` after ``fetched_at``.

    Future dates (a feed stamping next year, a timezone off by a day) would sort
    a story above everything else for months; such a date is dropped, not clamped,
    because it is known to be wrong.
    """
    if value is None:
        return None
    try:
        if value > fetched_at + FUTURE_SLACK:
            return None
    except TypeError:                   # naive vs aware: normalise and retry once
        return sane_published(to_utc(value), to_utc(fetched_at))
    return value


_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")


def normalize_language(value: Any) -> str | None:
    """A BCP 47-ish language tag, lower-case with hyphens (``en_US`` → ``en-us``).

    Returns ``None`` for empty or nonsensical values (``*``, ``x``, numbers).
    """
    text = normalize_text(value).lower().replace("_", "-")
    if not text:
        return None
    text = text.split(",")[0].split(";")[0].strip()
    return text if _LANG.match(text) else None


def http_url(value: Any, base: str | None = None) -> str | None:
    """``value`` as an absolute http(s) URL (resolved against ``base``), else ``None``.

    Relative links are resolved only against an http(s) base; ``javascript:``,
    ``mailto:``, ``tag:`` and file paths are not article links.
    """
    text = normalize_text(value)
    if not text:
        return None
    try:
        if base and urlsplit(base).scheme.lower() in ("http", "https"):
            text = urljoin(base, text)
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


def unique(values: Iterable[Any], *, limit: int = 100) -> tuple[str, ...]:
    """Normalised, non-empty, de-duplicated (case-insensitively) strings, in order."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = normalize_text(value)
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            out.append(text)
            if len(out) >= limit:
                break
    return tuple(out)


def slugify(value: Any, *, default: str = "source") -> str:
    """A source id made from a file stem or host: ``BBC News (World)`` → ``bbc-news-world``."""
    text = normalize_text(value).lower()
    text = re.sub(r"[^a-z0-9._-]+", "-", text).strip("-._")
    text = re.sub(r"-{2,}", "-", text)[:64].strip("-._")
    return text or default


def truncate(text: str, limit: int = MAX_PAYLOAD_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n…[truncated, {len(text) - limit} more characters]"
