"""RSS, Atom, RDF and JSON Feed sources.

:func:`parse_feed` is the pure middle: bytes in, articles and dead letters out,
never an exception. :class:`RssSource` is the I/O edge: conditional GET, a body
hash that skips re-parsing an unchanged feed (feedparser needs 1–2 s for a 1 MB
feed), exponential backoff on failures that survives restarts, and a per-source
memory of recently seen articles so a re-polled feed emits only what is new or
changed.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import feedparser
import requests

from connectors.base import CursorStore, PollResult
from connectors.feed import ParsedFeed, entry_dead_letter, text_of, unparseable
from connectors.http import fetch
from connectors.jsonfeed import looks_like_json, parse_json_feed
from connectors.normalize import (
    from_struct_time,
    http_url,
    normalize_language,
    parse_date,
    sane_published,
    unique,
)
from connectors.sniff import head_text, root_element
from newswatch.config import FeedSpec
from newswatch.records import RawArticle, utcnow
from newswatch.settings import Settings
from newswatch.text import normalize_text

__all__ = ["ParsedFeed", "parse_feed", "entry_to_article", "RssSource", "backoff_delay"]

log = logging.getLogger("newswatch.connectors.rss")

#: How many article ids (→ content hash) a source remembers to suppress repeats.
SEEN_LIMIT = 2000
#: Response headers that matter to feedparser (charset, base URL, language).
_PARSE_HEADERS = ("content-type", "content-location", "content-language")


# ----------------------------------------------------------------- pure parsing
def _detail_type(entry: Mapping[str, Any], key: str) -> str:
    detail = entry.get(f"{key}_detail") or {}
    return detail.get("type") or "text/html"


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    details = [entry.get("title_detail"), entry.get("summary_detail"), *(entry.get("content") or [])]
    for detail in details:
        if isinstance(detail, Mapping):
            lang = normalize_language(detail.get("language"))
            if lang:
                return lang
    return None


def _published(entry: Mapping[str, Any]) -> datetime | None:
    # dict.get: bypass FeedParserDict's deprecated updated→published key aliasing
    raw = dict(entry) if isinstance(entry, dict) else {}
    for key in ("published", "updated", "created"):
        value = from_struct_time(raw.get(f"{key}_parsed"))
        if value is not None:
            return value
    for key in ("published", "updated", "created", "date"):
        value = parse_date(raw.get(key))
        if value is not None:
            return value
    return None


def _authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        if isinstance(author, Mapping):
            names.append(author.get("name") or "")
    if not any(names):
        detail = entry.get("author_detail")
        if isinstance(detail, Mapping) and detail.get("name"):
            names.append(detail["name"])
        elif entry.get("author"):
            names.append(str(entry["author"]))
    return unique(names, limit=20)


def _entry_link(entry: Mapping[str, Any], base: str | None) -> str | None:
    """The entry's web page: an ``alternate`` link with an href, else ``entry.link``.

    feedparser's ``link`` can be the text of a non-standard ``<link>`` (an image
    enclosure written as element text), so explicit alternates win.
    """
    alternates = [lk for lk in entry.get("links") or []
                  if isinstance(lk, Mapping) and lk.get("href") and (lk.get("rel") or "alternate") == "alternate"]
    alternates.sort(key=lambda lk: 0 if "html" in (lk.get("type") or "text/html") else 1)
    for link in alternates:
        url = http_url(link.get("href"), base)
        if url:
            return url
    return http_url(entry.get("link"), base)


def entry_to_article(entry: Mapping[str, Any], *, source_id: str, feed_url: str | None,
                     fetched_at: datetime, feed_language: str | None = None,
                     base_url: str | None = None, extra_tags: tuple[str, ...] = ()) -> RawArticle:
    """Map one feedparser entry to a :class:`RawArticle`.

    Text fields are converted to plain text; the article URL is the entry link
    made absolute (relative links resolved against ``base_url``), non-http
    links are dropped so the id falls back to the GUID. Raises ``ValueError``
    (pydantic's ``ValidationError`` included) when the entry has no text.
    """
    title = text_of(entry.get("title"), _detail_type(entry, "title"), multiline=False)
    summary = text_of(entry.get("summary"), _detail_type(entry, "summary"))
    contents = [c for c in entry.get("content") or [] if isinstance(c, Mapping) and c.get("value")]
    content = ""
    if contents:
        best = max(contents, key=lambda c: len(c.get("value") or ""))
        content = text_of(best.get("value"), best.get("type"))
    if content == summary:
        content = ""
    if not (title or summary or content):
        raise ValueError("entry has no title, summary or content")
    guid = normalize_text(entry.get("id")) or None
    link = _entry_link(entry, base_url or feed_url)
    tags = [t.get("term") or t.get("label") for t in entry.get("tags") or [] if isinstance(t, Mapping)]
    return RawArticle.create(
        source_id=source_id, feed_url=feed_url, fetched_at=fetched_at,
        title=title, summary=summary, content=content, url=link, guid=guid,
        published=sane_published(_published(entry), fetched_at),
        authors=_authors(entry),
        language=_entry_language(entry) or feed_language,
        tags=unique([*tags, *extra_tags], limit=50),
    )


def _bozo_text(parsed: Mapping[str, Any]) -> str:
    exc = parsed.get("bozo_exception")
    if exc is None:
        return "not well-formed"
    message = normalize_text(str(exc))[:300]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def parse_feed(body: bytes, *, source_id: str, feed_url: str | None, fetched_at: datetime,
               language_hint: str | None = None, response_headers: Mapping[str, str] | None = None,
               extra_tags: tuple[str, ...] = ()) -> ParsedFeed:
    """Parse an RSS 0.9x/1.0/2.0, Atom 0.3/1.0, CDF or JSON Feed document.

    Promise: never raises. Every entry becomes an article or a dead letter;
    a document that is not a feed (no entries, no recognisable format) becomes
    one dead letter (stage ``parse``, the body as text, cut at 1 MB); a feed
    with zero entries, or one that is not well-formed but recovered, is
    reported in ``problem``. ``response_headers`` (from HTTP) let feedparser
    honour the declared charset and resolve relative links.
    """
    language_hint = normalize_language(language_hint)
    if looks_like_json(body):
        return parse_json_feed(body, source_id=source_id, feed_url=feed_url, fetched_at=fetched_at,
                               language_hint=language_hint, extra_tags=extra_tags)
    headers: dict[str, str] | None = None
    if response_headers:
        # only what describes the (already decoded) body: feedparser must not
        # act on Content-Encoding or Content-Length of the transfer
        given = {k.lower(): v for k, v in response_headers.items()}
        headers = {k: given[k] for k in _PARSE_HEADERS if k in given}
        if feed_url and http_url(feed_url):
            headers.setdefault("content-location", feed_url)
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True,
                                  resolve_relative_uris=True)
    except Exception as exc:  # noqa: BLE001 - feedparser bugs must not crash a connector
        return ParsedFeed(dead_letters=[unparseable(
            body, f"feed parser failed: {type(exc).__name__}: {exc}", source_id=source_id)],
            problem=f"feed parser failed: {type(exc).__name__}")
    feed = parsed.get("feed") or {}
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    base = http_url(feed_url) or http_url(feed.get("link"))
    out = ParsedFeed(title=normalize_text(feed.get("title")), link=http_url(feed.get("link"), feed_url),
                     language=normalize_language(feed.get("language")) or language_hint,
                     version=version, encoding=parsed.get("encoding"), entries=len(entries))
    if not entries:
        root = root_element(head_text(body))
        is_html = bool(root) and root[0].lower() == "html"
        if not version and (parsed.get("bozo") or not feed or is_html):
            if not body.strip():
                reason = "not a feed: empty document"
            elif is_html:
                reason = "not a feed: an HTML page (wrong URL, or an error/login page served with 200)"
            elif parsed.get("bozo"):
                reason = "not a feed: " + _bozo_text(parsed)
            else:
                reason = "not a feed: no RSS, Atom, RDF or CDF structure found"
            out.dead_letters.append(unparseable(body, reason, source_id=source_id))
            out.problem = reason
        else:
            out.problem = "feed has no entries"
            if parsed.get("bozo"):
                out.problem += f" (and is not well-formed: {_bozo_text(parsed)})"
        return out
    if parsed.get("bozo"):
        out.problem = f"not well-formed, recovered {len(entries)} entries: {_bozo_text(parsed)}"
    for index, entry in enumerate(entries):
        try:
            out.articles.append(entry_to_article(
                entry, source_id=source_id, feed_url=feed_url, fetched_at=fetched_at,
                feed_language=out.language, base_url=base, extra_tags=extra_tags))
        except Exception as exc:  # noqa: BLE001 - one bad entry must not lose the feed; kept as a dead letter
            reason = str(exc) if isinstance(exc, ValueError) and "no title" in str(exc) else \
                f"{type(exc).__name__}: {exc}"
            # name the entry by its guid/link so the same bad entry gives the same
            # dead letter (same id) on every poll, wherever it sits in the feed
            ident = entry.get("id") or entry.get("link") or f"#{index}"
            out.dead_letters.append(entry_dead_letter(
                entry, f"feed entry {ident}: {reason}", source_id=source_id))
    return out


# ------------------------------------------------------------------ the source
def backoff_delay(failures: int, settings: Settings, rng: random.Random | None = None,
                  retry_after_s: float | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive failures.

    ``backoff_base_s * 2**(failures-1)`` capped at ``backoff_max_s``, at least
    the server's ``Retry-After`` (also capped), plus up to 10 % jitter so many
    feeds on one failing host do not retry in lock-step.
    """
    exponent = min(max(failures, 1) - 1, 30)
    delay = min(settings.backoff_base_s * (2 ** exponent), settings.backoff_max_s)
    if retry_after_s:
        delay = max(delay, min(retry_after_s, settings.backoff_max_s))
    return delay + (rng or random).uniform(0, 0.1 * delay)


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return parse_date(value)


class RssSource:
    """Polls one RSS/Atom/RDF/JSON feed (a :class:`connectors.base.Source`).

    Cursor (JSON, in ``cursors`` under ``spec.id``): ``etag``, ``last_modified``,
    ``body_hash`` and ``seen`` (article id → content hash, the last
    :data:`SEEN_LIMIT`) advance only in :meth:`ack`; ``failures``, ``next_due``
    and ``last_*`` status are stored by :meth:`poll` itself.

    Delivery: at least once (see :mod:`connectors.base`). Until a result is
    acked, the next poll uses the last acknowledged validators, hash and seen
    map, so it returns the same articles again.
    """

    def __init__(self, spec: FeedSpec, *, cursors: CursorStore, settings: Settings,
                 default_interval: float = 300.0, rng: random.Random | None = None,
                 session: requests.Session | None = None) -> None:
        self.id = spec.id
        self.spec = spec
        self.cursors = cursors
        self.settings = settings
        self.interval = float(spec.interval or default_interval)
        self._rng = rng or random.Random()
        self._session = session
        self._owns_session = False
        self._next_due: datetime | None = None

    # lifecycle ------------------------------------------------------------
    def setup(self) -> None:
        """Open a keep-alive HTTP session (optional: ``poll`` works without)."""
        if self._session is None:
            self._session = requests.Session()
            self._owns_session = True

    def close(self) -> None:
        if self._owns_session and self._session is not None:
            self._session.close()
        self._session = None
        self._owns_session = False

    def next_due(self, now: datetime | None = None) -> datetime:
        """When to poll next: after ``interval`` on success, after backoff on failure.

        Read from the cursor after a restart, so a failing feed keeps backing off.
        """
        now = now or utcnow()
        if self._next_due is None:
            self._next_due = _parse_iso(self.cursors.get(self.id).get("next_due"))
        return self._next_due or now

    # polling --------------------------------------------------------------
    def _store(self, updates: dict[str, Any]) -> None:
        cursor = self.cursors.get(self.id)
        cursor.update(updates)
        self.cursors.put(self.id, cursor)

    def poll(self, now: datetime | None = None) -> PollResult:
        """Fetch and parse the feed once. Never raises; see the class docstring."""
        now = now or utcnow()
        started = time.monotonic()
        cursor = self.cursors.get(self.id)
        try:
            result = self._poll(now, cursor, started)
        except Exception as exc:  # noqa: BLE001 - a connector bug must not stop the poll loop
            log.exception("poll %s crashed", self.id)
            result = self._failed(now, cursor, f"internal error: {type(exc).__name__}: {exc}",
                                  None, None, 0, started)
        log.log(logging.DEBUG,
                "poll %s status=%s http=%s new=%d dead=%d bytes=%d %.2fs next=%s%s%s",
                self.id, result.status, result.http_status, len(result.articles), len(result.dead_letters),
                result.bytes, result.duration_s,
                result.next_due.isoformat(timespec="seconds") if result.next_due else "-",
                f" error={result.error}" if result.error else "",
                f" problem={result.problem}" if result.problem else "")
        return result

    def _failed(self, now: datetime, cursor: dict[str, Any], error: str, http_status: int | None,
                retry_after_s: float | None, size: int, started: float) -> PollResult:
        failures = int(cursor.get("failures") or 0) + 1
        due = now + timedelta(seconds=backoff_delay(failures, self.settings, self._rng, retry_after_s))
        self._next_due = due
        self._store({"failures": failures, "next_due": due.isoformat(), "last_status": "error",
                     "last_error": error, "last_poll": now.isoformat(), "last_http_status": http_status})
        return PollResult(source_id=self.id, status="error", error=error, http_status=http_status,
                          bytes=size, duration_s=time.monotonic() - started, polled_at=now, next_due=due)

    def _poll(self, now: datetime, cursor: dict[str, Any], started: float) -> PollResult:
        s = self.settings
        fetched = fetch(self.spec.url, etag=cursor.get("etag"), last_modified=cursor.get("last_modified"),
                        timeout_s=s.http_timeout_s, max_bytes=s.http_max_bytes, user_agent=s.user_agent,
                        session=self._session)
        if fetched.status == "error":
            return self._failed(now, cursor, fetched.error or "fetch failed", fetched.http_status,
                                fetched.retry_after_s, len(fetched.body), started)
        due = now + timedelta(seconds=self.interval)
        self._next_due = due
        schedule = {"failures": 0, "next_due": due.isoformat(), "last_error": None,
                    "last_poll": now.isoformat(), "last_http_status": fetched.http_status}
        common = dict(source_id=self.id, http_status=fetched.http_status, polled_at=now, next_due=due)
        if fetched.status == "not-modified":
            self._store({**schedule, "last_status": "not-modified"})
            return PollResult(status="not-modified", duration_s=time.monotonic() - started, **common)
        body_hash = hashlib.sha256(fetched.body).hexdigest()
        validators = {"etag": fetched.etag, "last_modified": fetched.last_modified}
        if body_hash == cursor.get("body_hash"):
            self._store({**schedule, **validators, "last_status": "unchanged"})
            return PollResult(status="unchanged", bytes=len(fetched.body),
                              duration_s=time.monotonic() - started, **common)
        parsed = parse_feed(fetched.body, source_id=self.id, feed_url=fetched.final_url or self.spec.url,
                            fetched_at=now, language_hint=self.spec.language,
                            response_headers=fetched.headers if fetched.http_status else None,
                            extra_tags=self.spec.tags)
        seen: dict[str, str] = dict(cursor.get("seen") or {})
        fresh: list[RawArticle] = []
        for article in parsed.articles:
            digest = article.content_hash()
            changed = seen.get(article.id) != digest
            seen.pop(article.id, None)          # re-insert: most recently seen last
            seen[article.id] = digest
            if changed:
                fresh.append(article)
        limit = max(SEEN_LIMIT, 2 * len(parsed.articles))
        if len(seen) > limit:
            seen = dict(list(seen.items())[-limit:])
        seen_dead = list(cursor.get("seen_dead") or [])
        dead = [d for d in parsed.dead_letters if d.id not in seen_dead]
        seen_dead = (seen_dead + [d.id for d in dead])[-500:]
        delivery = {**validators, "body_hash": body_hash, "seen": seen, "seen_dead": seen_dead}
        result = PollResult(status="ok", articles=fresh, dead_letters=dead, problem=parsed.problem,
                            bytes=len(fetched.body), duration_s=time.monotonic() - started, **common)
        self._store({**schedule, "last_status": "ok", "last_problem": parsed.problem})
        if fresh or dead:
            result.pending = delivery
        else:
            self._store(delivery)
        return result

    def ack(self, result: PollResult) -> None:
        """Advance the cursor past ``result`` (call after its articles are durably enqueued)."""
        if result.pending is None:
            return
        if result.source_id != self.id:
            raise ValueError(f"result of source {result.source_id!r} acked on source {self.id!r}")
        self._store(dict(result.pending))
        result.pending = None
