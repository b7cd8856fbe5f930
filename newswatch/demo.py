"""The offline demo: the project's own sample news, served as RSS by a local server.

``make demo`` / ``newswatch demo`` start a :class:`DemoFeedServer` over the items
in ``samples/demo-items.yaml`` (plus the seed story, ``samples/seed-story.txt``)
and point the normal monitor at it through a generated ``feeds.yaml``
(:func:`write_demo_config`). The server publishes one RSS 2.0 feed per invented
outlet and releases the items progressively — a few at once, the rest evenly
over ``duration_s`` — so a newcomer watches stories being indexed and alerts
firing within seconds, with no network access.

The server behaves like a polite publisher so that the connector's conditional
GET is exercised too: every feed has a strong ``ETag`` (a hash of the items it
shows) and a ``Last-Modified``; ``If-None-Match`` / ``If-Modified-Since`` get a
``304 Not Modified`` while nothing new was released.

Run it alone with ``python -m newswatch.demo --port 8765``.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import logging
import math
import re
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from newswatch.config import FeedsFile, parse_model
from newswatch.errors import ConfigError

__all__ = [
    "DEFAULT_SAMPLES_DIR", "DemoItem", "DemoFile", "DemoFeedServer", "load_demo_items",
    "outlet_name", "outlets_of", "parse_story_file", "description_html", "render_rss", "write_demo_config",
]

log = logging.getLogger("newswatch.demo")

#: ``samples/`` of the source checkout (the package is installed editable).
DEFAULT_SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
ITEMS_FILE = "demo-items.yaml"
#: Source id of the seed story when its item does not say.
SEED_SOURCE = "meridian-wire"

Category = Literal["seed", "topic", "near-miss", "general", "syndicated", "broken"]
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, surrogates, U+FFFE/F).
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# ------------------------------------------------------------------ the data
class DemoItem(BaseModel):
    """One sample news item, as written in ``samples/demo-items.yaml``.

    ``expect`` lists the default topic ids (``config/topics.yaml``) the item
    must fire — empty for near misses and ordinary news — so tests can check the
    demo end to end. ``published_offset_min`` is relative to the demo start.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Stable id; the RSS guid is derived from it.")
    source: str = Field(description="Outlet id; one feed per outlet.")
    category: Category = "general"
    title: str = ""
    summary: str = Field("", description="Plain text; paragraphs separated by a blank line.")
    url: str
    published_offset_min: float = Field(0.0, le=0, description="Minutes relative to the demo start.")
    language: str = "en"
    expect: tuple[str, ...] = ()
    duplicate_of: str | None = Field(None, description="Syndicated copies: the id of the original.")
    author: str | None = None
    tags: tuple[str, ...] = ()
    from_file: str | None = Field(None, description="Title, body and tags come from this text file "
                                  "(headline, paragraphs, tags line, photo caption).")

    @field_validator("id", "source")
    @classmethod
    def _ids(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("ids are lower-case letters, digits, '.', '_' or '-'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "DemoItem":
        parts = urlsplit(self.url)
        if parts.scheme != "https" or parts.hostname != f"{self.source}.example" or len(parts.path) < 2:
            raise ValueError(f"url must be https://{self.source}.example/<path> (the item's outlet), "
                             f"got {self.url!r}")
        has_text = bool(self.title.strip() or self.summary.strip())
        if self.category == "broken":
            if has_text:
                raise ValueError("a 'broken' item has an empty title and summary (it demonstrates dead letters)")
        elif not self.from_file and not (self.title.strip() and self.summary.strip()):
            raise ValueError("needs a title and a summary (or from_file)")
        if self.category == "syndicated" and not self.duplicate_of:
            raise ValueError("a 'syndicated' item names its original in duplicate_of")
        return self

    @property
    def paragraphs(self) -> list[str]:
        """The summary split into paragraphs (blank-line separated), whitespace folded."""
        return [" ".join(p.split()) for p in re.split(r"\n\s*\n", self.summary) if p.strip()]

    @property
    def guid(self) -> str:
        """The RSS guid: stable per item, not a URL (``isPermaLink="false"``)."""
        return f"tag:{self.source}.example,demo:{self.id}"

    def published(self, anchor: datetime) -> datetime:
        """Publication time given the demo start ``anchor``."""
        return anchor + timedelta(minutes=self.published_offset_min)


class DemoFile(BaseModel):
    """``samples/demo-items.yaml``: the items, in release order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    items: tuple[DemoItem, ...] = ()

    @model_validator(mode="after")
    def _refs(self) -> "DemoFile":
        ids = [i.id for i in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"item ids must be unique; repeated: {', '.join(dup)}")
        urls = [i.url for i in self.items]
        dup = sorted({u for u in urls if urls.count(u) > 1})
        if dup:
            raise ValueError(f"item urls must be unique; repeated: {', '.join(dup)}")
        known = set(ids)
        for item in self.items:
            if item.duplicate_of and item.duplicate_of not in known:
                raise ValueError(f"item {item.id!r}: duplicate_of {item.duplicate_of!r} is not an item id")
        return self


def parse_story_file(text: str) -> tuple[str, list[str], tuple[str, ...], str]:
    """Split a story file into (headline, body paragraphs, tags, photo caption).

    The layout of ``seed-story.txt``: the first line is the headline, then
    blank-line separated paragraphs; the last two lines are a comma-separated
    tags line and a photo caption.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 4:
        raise ValueError("a story file needs a headline, body paragraphs, a tags line and a caption")
    headline, tags_line, caption = lines[0].strip(), lines[-2], lines[-1].strip()
    body = "\n".join(lines[1:-2])
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]
    tags = tuple(t.strip() for t in tags_line.split(",") if t.strip())
    return headline, paragraphs, tags, caption


def load_demo_items(samples_dir: Path | str = DEFAULT_SAMPLES_DIR) -> list[DemoItem]:
    """The demo items of ``samples_dir``, in release order.

    Reads ``demo-items.yaml``; an entry with ``from_file`` (the seed story)
    takes its title (first line), summary (the body paragraphs) and tags from
    that file, and its source defaults to ``meridian-wire``. Raises
    :class:`ConfigError` naming the file, line and key on invalid data.
    """
    d = Path(samples_dir)
    path = d / ITEMS_FILE
    if not path.is_file():
        raise ConfigError("demo items not found", path=str(path),
                          fix="run from the repository root or pass the samples directory (--samples DIR).")
    data = parse_model(path.read_text(encoding="utf-8"), DemoFile, path=str(path))
    items: list[DemoItem] = []
    for item in data.items:
        if item.from_file:
            story_path = d / item.from_file
            try:
                headline, paragraphs, tags, _caption = parse_story_file(story_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"item {item.id!r}: cannot read from_file: {exc}", path=str(story_path),
                                  fix="copy ../shared/data/seed-story.txt to samples/seed-story.txt.") from None
            fields = item.model_dump()
            fields.update(title=item.title or headline, summary=item.summary or "\n\n".join(paragraphs),
                          tags=item.tags or tags)
            item = DemoItem.model_validate(fields)
        items.append(item)
    return items


def outlet_name(source_id: str) -> str:
    """A display name for an outlet id: ``harbor-herald`` → ``Harbor Herald``."""
    return " ".join(w.capitalize() for w in re.split(r"[-_.]+", source_id) if w)


def outlets_of(items: Iterable[DemoItem]) -> list[str]:
    """Outlet ids in order of first appearance."""
    return list(dict.fromkeys(i.source for i in items))


# ---------------------------------------------------------------------- RSS
def _x(text: str | None) -> str:
    """Text safe for XML 1.0 (ElementTree escapes markup but not invalid characters)."""
    return _XML_INVALID.sub("", text or "")


def _rfc822(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("tz-aware datetimes only")
    return format_datetime(dt.astimezone(timezone.utc), usegmt=True)


def description_html(item: DemoItem) -> str:
    """The item's summary as light HTML: one escaped ``<p>`` per paragraph."""
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in item.paragraphs)


def render_rss(channel_title: str, link: str, items: Sequence[DemoItem], now: datetime, *,
               description: str | None = None, self_url: str | None = None, language: str | None = None) -> bytes:
    """One RSS 2.0 document (UTF-8 bytes) for ``items``, newest first.

    ``now`` is the demo's reference time: each item's ``pubDate`` is ``now``
    plus its ``published_offset_min``, and ``lastBuildDate`` is ``now`` — so the
    same items and ``now`` always render the same bytes. Dates are RFC 822
    (GMT); guids are stable, non-permalink; descriptions carry escaped light
    HTML (``<p>``); tags become ``<category>``. Text is escaped by the XML
    serializer, never by string concatenation.
    """
    if now.tzinfo is None:
        raise ValueError("now must be tz-aware")
    ET.register_namespace("atom", "http://www.w3.org/2005/Atom")
    ET.register_namespace("dc", "http://purl.org/dc/elements/1.1/")
    atom = "{http://www.w3.org/2005/Atom}"
    dc = "{http://purl.org/dc/elements/1.1/}"
    rss = ET.Element("rss", {"version": "2.0"})
    ch = ET.SubElement(rss, "channel")
    ET.SubElement(ch, "title").text = _x(channel_title)
    ET.SubElement(ch, "link").text = _x(link)
    ET.SubElement(ch, "description").text = _x(
        description or f"{channel_title}: sample news written for the newswatch demo (not real news).")
    langs = {i.language for i in items}
    lang = language or (langs.pop() if len(langs) == 1 else None)
    if lang:
        ET.SubElement(ch, "language").text = _x(lang)
    if self_url:
        ET.SubElement(ch, f"{atom}link", {"href": _x(self_url), "rel": "self", "type": "application/rss+xml"})
    ET.SubElement(ch, "lastBuildDate").text = _rfc822(now)
    ET.SubElement(ch, "generator").text = "newswatch demo"
    ET.SubElement(ch, "ttl").text = "1"
    for item in sorted(items, key=lambda i: i.published_offset_min, reverse=True):
        el = ET.SubElement(ch, "item")
        ET.SubElement(el, "title").text = _x(item.title)
        ET.SubElement(el, "link").text = _x(item.url)
        ET.SubElement(el, "description").text = _x(description_html(item))
        if item.author:
            ET.SubElement(el, f"{dc}creator").text = _x(item.author)
        for tag in item.tags:
            ET.SubElement(el, "category").text = _x(tag)
        ET.SubElement(el, "guid", {"isPermaLink": "false"}).text = _x(item.guid)
        ET.SubElement(el, "pubDate").text = _rfc822(item.published(now))
    ET.indent(rss, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(rss, encoding="unicode").encode("utf-8") + b"\n"


# ------------------------------------------------------------------- server
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _whole_seconds(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


class _FeedState:
    """What one outlet's feed shows at one moment: items, ETag, Last-Modified."""

    __slots__ = ("outlet", "items", "etag", "modified")

    def __init__(self, outlet: str, items: list[DemoItem], etag: str, modified: datetime) -> None:
        self.outlet, self.items, self.etag, self.modified = outlet, items, etag, modified


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    demo: "DemoFeedServer"

    def service_actions(self) -> None:
        # Called by serve_forever between requests: announce releases as they happen.
        self.demo.released_count()


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "newswatch-demo/1"
    protocol_version = "HTTP/1.1"
    timeout = 30  # close idle keep-alive connections

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("demo http: %s - %s", self.address_string(), format % args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return _rfc822(self.server.demo.clock())

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve(head=False)

    def _send(self, status: int, body: bytes, content_type: str, *, head: bool,
              headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not head and status != HTTPStatus.NOT_MODIFIED:
            self.wfile.write(body)

    def _serve(self, *, head: bool) -> None:
        demo = self.server.demo
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(200, demo.index_html().encode("utf-8"), "text/html; charset=utf-8", head=head)
            return
        if path == "/status.json":
            body = json.dumps(demo.status(), indent=2).encode("utf-8")
            self._send(200, body, "application/json", head=head)
            return
        m = re.fullmatch(r"/feeds/([a-z0-9][a-z0-9._-]*)\.xml", path)
        state = demo.feed_state(m.group(1)) if m else None
        if state is None:
            self._send(404, b"not found; the feeds are listed at /\n", "text/plain; charset=utf-8", head=head)
            return
        validators = {"ETag": state.etag}
        if demo.clock() >= state.modified + timedelta(seconds=1):
            # Only a Last-Modified whose second is over: a later release in the same
            # second would otherwise carry the same date and be missed by If-Modified-Since.
            validators["Last-Modified"] = _rfc822(state.modified)
        if _not_modified(self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"), state):
            self._send(304, b"", "", head=head, headers=validators)
            return
        body = demo.feed_body(state)
        self._send(200, body, "application/rss+xml; charset=utf-8", head=head, headers=validators)


def _not_modified(if_none_match: str | None, if_modified_since: str | None, state: _FeedState) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or any(t.removeprefix("W/") == state.etag for t in tags)
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since is None or since.tzinfo is None:
            return False
        return _whole_seconds(state.modified) <= since
    return False


class DemoFeedServer:
    """Serves the demo items as RSS from a local HTTP server, released over time.

    ``start_count`` items are visible from :meth:`start`; the rest appear in list
    order, evenly spread so the last one arrives ``duration_s`` seconds after
    the start. Endpoints: ``/`` (an index of the feeds), ``/feeds/<outlet>.xml``
    (RSS 2.0, one per outlet, with ETag/Last-Modified and 304 answers) and
    ``/status.json``. ``clock`` (tz-aware UTC ``datetime``; default the system
    clock) drives both the release schedule and the dates, so tests can step
    time. The port is bound on construction (``port=0``: a free one), so
    :attr:`url` and :meth:`feed_urls` work before :meth:`start`.

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, items: Sequence[DemoItem], *, host: str = "127.0.0.1", port: int = 0,
                 duration_s: float = 30.0, start_count: int = 3, clock: Clock | None = None) -> None:
        if not items:
            raise ValueError("DemoFeedServer needs at least one item")
        if duration_s < 0:
            raise ValueError("duration_s must be >= 0")
        self.items: tuple[DemoItem, ...] = tuple(items)
        self.outlets: list[str] = outlets_of(self.items)
        self.duration_s = float(duration_s)
        self.start_count = max(0, min(int(start_count), len(self.items)))
        self.clock: Clock = clock or _utcnow
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.demo = self
        self._thread: threading.Thread | None = None
        self._started_at: datetime | None = None
        self._anchor: datetime | None = None
        self._lock = threading.Lock()
        self._announced = -1
        self._bodies: dict[tuple[str, str], bytes] = {}

    # -- addresses
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        host, port = self._httpd.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def feed_url(self, outlet: str) -> str:
        return f"{self.url}/feeds/{outlet}.xml"

    def feed_urls(self) -> dict[str, str]:
        """Outlet id → feed URL, for every outlet (also before its first item is out)."""
        return {o: self.feed_url(o) for o in self.outlets}

    # -- lifecycle
    def start(self) -> "DemoFeedServer":
        """Start serving in a background thread; the release clock starts now. Idempotent."""
        if self._thread is not None:
            return self
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("clock() must return tz-aware datetimes")
        self._started_at = now
        self._anchor = _whole_seconds(now)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="newswatch-demo-feeds", daemon=True)
        self._thread.start()
        log.info("demo: serving %d items from %d feeds at %s over %.0fs",
                 len(self.items), len(self.outlets), self.url, self.duration_s)
        self.released_count()
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "DemoFeedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- release schedule
    def release_offset_s(self, index: int) -> float:
        """Seconds after the start at which item ``index`` becomes visible."""
        rest = len(self.items) - self.start_count
        if index < self.start_count or rest <= 0:
            return 0.0
        return (index - self.start_count + 1) * self.duration_s / rest

    def elapsed_s(self) -> float:
        if self._started_at is None:
            return 0.0
        return max(0.0, (self.clock() - self._started_at).total_seconds())

    def released_count(self) -> int:
        """How many items are visible now (0 before :meth:`start`); logs new releases."""
        if self._started_at is None:
            return 0
        n, rest = len(self.items), len(self.items) - self.start_count
        elapsed = self.elapsed_s()
        if rest <= 0 or elapsed >= self.duration_s:
            count = n
        else:
            count = self.start_count + min(rest, math.floor(elapsed * rest / self.duration_s + 1e-9))
        with self._lock:
            if count > self._announced:
                prev, self._announced = max(self._announced, 0), count
                log.info("demo: released %d/%d items", count, n)
                for item in self.items[prev:count]:
                    log.debug("demo: + %s: %s", item.source, item.title or "(empty item)")
        return count

    def all_released(self) -> bool:
        """True once every item is visible."""
        return self.released_count() >= len(self.items)

    def visible_items(self) -> list[DemoItem]:
        return list(self.items[: self.released_count()])

    # -- feeds
    def feed_state(self, outlet: str) -> _FeedState | None:
        """What ``outlet``'s feed shows now, or ``None`` for an unknown outlet."""
        if outlet not in self.outlets:
            return None
        count = self.released_count()
        indexed = [(i, it) for i, it in enumerate(self.items[:count]) if it.source == outlet]
        anchor = self._anchor or _whole_seconds(self.clock())
        started = self._started_at or anchor
        h = hashlib.sha256(f"{anchor.isoformat()}|{outlet}".encode())
        for _i, it in indexed:
            h.update(b"\x1f" + it.id.encode() + b"\x1e" + it.model_dump_json().encode())
        etag = f'"{h.hexdigest()[:24]}"'
        last = indexed[-1][0] if indexed else None
        modified = started + timedelta(seconds=self.release_offset_s(last)) if last is not None else started
        return _FeedState(outlet, [it for _i, it in indexed], etag, modified)

    def feed_body(self, state: _FeedState) -> bytes:
        """The RSS bytes for ``state`` (cached by ETag: the same items give the same bytes)."""
        key = (state.outlet, state.etag)
        body = self._bodies.get(key)
        if body is None:
            anchor = self._anchor or _whole_seconds(self.clock())
            body = render_rss(outlet_name(state.outlet), f"https://{state.outlet}.example/", state.items,
                              anchor, self_url=self.feed_url(state.outlet))
            self._bodies[key] = body
        return body

    def status(self) -> dict[str, Any]:
        count = self.released_count()
        return {"released": count, "total": len(self.items), "all_released": count >= len(self.items),
                "elapsed_s": round(self.elapsed_s(), 3), "duration_s": self.duration_s,
                "feeds": self.feed_urls()}

    def index_html(self) -> str:
        count = self.released_count()
        rows = []
        for outlet, url in self.feed_urls().items():
            shown = sum(1 for it in self.items[:count] if it.source == outlet)
            total = sum(1 for it in self.items if it.source == outlet)
            rows.append(f'<li><a href="{html.escape(url)}">{html.escape(outlet_name(outlet))}</a> '
                        f"<code>{html.escape(url)}</code> — {shown}/{total} items</li>")
        return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<title>newswatch demo feeds</title></head><body>\n"
                "<h1>newswatch demo feeds</h1>\n"
                "<p>Sample news written for the newswatch demo — not real news.</p>\n"
                f"<p>Released {count}/{len(self.items)} items.</p>\n<ul>\n" + "\n".join(rows) +
                "\n</ul>\n</body></html>\n")


# ------------------------------------------------------------------- config
COPIED_CONFIG = ("topics.yaml", "entities.yaml", "alerts.yaml")


def write_demo_config(config_src: Path | str, dest: Path | str,
                      feed_urls: Mapping[str, str] | Iterable[str], interval_s: float = 2) -> Path:
    """Write a config directory that runs the normal monitor against the demo server.

    Copies ``topics.yaml``, ``entities.yaml`` and ``alerts.yaml`` from
    ``config_src`` (those present) into ``dest`` and writes a ``feeds.yaml``
    with one feed per demo outlet, polled every ``interval_s`` seconds, and no
    wire folders. ``feed_urls`` maps source id → URL (``DemoFeedServer.feed_urls()``);
    a plain list of URLs takes the ids from the file names (``…/harbor-herald.xml``).
    Returns ``dest``.
    """
    src, out = Path(config_src), Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED_CONFIG:
        f = src / name
        if f.is_file() and f.resolve() != (out / name).resolve():
            shutil.copyfile(f, out / name)
    if isinstance(feed_urls, Mapping):
        pairs = list(feed_urls.items())
    else:
        pairs = [(Path(urlsplit(u).path).stem.lower(), u) for u in feed_urls]
    data = {"defaults": {"interval": interval_s},
            "feeds": [{"id": fid, "url": url, "language": "en"} for fid, url in pairs],
            "wire": []}
    text = ("# Written by `newswatch demo` (newswatch.demo.write_demo_config): the demo\n"
            "# server's sample feeds, polled often. Regenerated on every demo run.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    parse_model(text, FeedsFile, path=str(out / "feeds.yaml"))  # fail here, not in the monitor
    (out / "feeds.yaml").write_text(text, encoding="utf-8")
    return out


# --------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m newswatch.demo``: serve the demo feeds alone until Ctrl-C."""
    ap = argparse.ArgumentParser(prog="python -m newswatch.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES_DIR)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds over which items are released")
    ap.add_argument("--start-count", type=int, default=3)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    items = load_demo_items(args.samples)
    with DemoFeedServer(items, host=args.host, port=args.port, duration_s=args.duration,
                        start_count=args.start_count) as server:
        for fid, url in server.feed_urls().items():
            log.info("demo: feed %s %s", fid, url)
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
