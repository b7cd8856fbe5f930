"""RssSource against a real local HTTP server: conditional GET, body hash, dedup, backoff, limits."""

from __future__ import annotations

import gzip
import logging
import random
from datetime import datetime, timedelta, timezone

import pytest

from connectors.base import MemoryCursorStore, SqliteCursorStore
from connectors.rss import RssSource, backoff_delay
from newswatch.config import FeedSpec

from .conftest import Route

T0 = datetime(2026, 2, 18, 12, 0, tzinfo=timezone.utc)


def make_feed(items: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<item><title>{title}</title><link>https://example.com/{slug}</link>"
                   f"<description>About {title}.</description></item>" for slug, title in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Test</title>'
            f"{body}</channel></rss>").encode()


ITEMS = [("a", "Alpha"), ("b", "Bravo"), ("c", "Charlie")]


@pytest.fixture
def served(feed_server):
    feed_server.routes["/feed.xml"] = Route(body=make_feed(ITEMS), etag='"v1"',
                                            last_modified="Tue, 17 Feb 2026 20:00:00 GMT")
    return feed_server


def source(server, settings, cursors=None, **kw) -> RssSource:
    spec = FeedSpec(id="test-feed", url=server.url("/feed.xml"), interval=60, language="en", tags=("wire",))
    src = RssSource(spec, cursors=cursors or MemoryCursorStore(), settings=settings, rng=random.Random(1), **kw)
    src.setup()
    return src


def test_first_poll_then_not_modified(served, settings) -> None:
    src = source(served, settings)
    assert src.next_due(T0) == T0                        # never polled: due now
    first = src.poll(T0)
    assert first.status == "ok" and first.http_status == 200
    assert [a.title for a in first.articles] == ["Alpha", "Bravo", "Charlie"]
    assert all(a.language == "en" and "wire" in a.tags for a in first.articles)
    assert first.next_due == T0 + timedelta(seconds=60) == src.next_due(T0)
    assert first.needs_ack
    src.ack(first)
    assert not first.needs_ack
    second = src.poll(T0 + timedelta(seconds=60))
    assert second.status == "not-modified" and second.articles == [] and second.http_status == 304
    assert served.requests[-1][1]["if-none-match"] == '"v1"'
    src.close()


def test_changed_feed_emits_only_new_or_changed_items(served, settings) -> None:
    src = source(served, settings)
    src.ack(src.poll(T0))
    route = served.routes["/feed.xml"]
    route.body, route.etag = make_feed([("d", "Delta"), *ITEMS]), '"v2"'
    new = src.poll(T0 + timedelta(minutes=1))
    assert [a.title for a in new.articles] == ["Delta"]
    src.ack(new)
    route.body, route.etag = make_feed([("d", "Delta"), ("a", "Alpha (updated)"), *ITEMS[1:]]), '"v3"'
    changed = src.poll(T0 + timedelta(minutes=2))
    assert [a.title for a in changed.articles] == ["Alpha (updated)"]


def test_same_body_without_validators_is_unchanged(feed_server, settings) -> None:
    feed_server.routes["/feed.xml"] = Route(body=make_feed(ITEMS))      # no ETag, no Last-Modified
    src = source(feed_server, settings)
    src.ack(src.poll(T0))
    again = src.poll(T0 + timedelta(minutes=1))
    assert again.status == "unchanged" and again.articles == [] and again.bytes > 0


def test_unacked_poll_is_delivered_again(served, settings) -> None:
    cursors = MemoryCursorStore()
    src = source(served, settings, cursors)
    first = src.poll(T0)
    assert len(first.articles) == 3
    # crash before ack: a new source over the same cursor store polls again
    restarted = source(served, settings, cursors)
    again = restarted.poll(T0 + timedelta(seconds=1))
    assert again.status == "ok" and [a.id for a in again.articles] == [a.id for a in first.articles]
    assert "if-none-match" not in served.requests[-1][1]


def test_server_error_backs_off_exponentially_and_survives_restart(served, settings, tmp_path) -> None:
    cursors = SqliteCursorStore(tmp_path / "cursors.sqlite3")
    src = source(served, settings, cursors)
    served.routes["/feed.xml"].status = 500
    delays = []
    now = T0
    for _ in range(6):
        result = src.poll(now)
        assert result.status == "error" and result.http_status == 500 and "HTTP 500" in result.error
        assert result.articles == [] and not result.needs_ack
        delays.append((result.next_due - now).total_seconds())
        now = result.next_due
    # base 10 s, doubling, capped at 100 s, plus up to 10 % jitter
    for delay, base in zip(delays, [10, 20, 40, 80, 100, 100]):
        assert base <= delay <= base * 1.1
    assert delays[0] < delays[1] < delays[2] < delays[3]
    cursor = cursors.get("test-feed")
    assert cursor["failures"] == 6 and cursor["last_status"] == "error"
    # a restart keeps the backoff
    restarted = source(served, settings, cursors)
    assert restarted.next_due(now) == now
    # recovery resets failures
    served.routes["/feed.xml"].status = 200
    ok = restarted.poll(now)
    assert ok.status == "ok" and len(ok.articles) == 3
    assert cursors.get("test-feed")["failures"] == 0
    cursors.close()


def test_retry_after_is_honoured(served, settings) -> None:
    served.routes["/feed.xml"] = Route(status=429, headers={"Retry-After": "90"})
    result = source(served, settings).poll(T0)
    assert 90 <= (result.next_due - T0).total_seconds() <= 99


def test_oversized_feed_is_refused(served, settings) -> None:
    served.routes["/feed.xml"].body = make_feed([(str(i), "x" * 100) for i in range(3000)])
    result = source(served, settings).poll(T0)
    assert result.status == "error" and "limit of 200000" in result.error and result.articles == []


def test_slow_server_times_out(served, settings) -> None:
    served.routes["/feed.xml"].delay_s = 3.0
    result = source(served, settings).poll(T0)      # settings.http_timeout_s == 1.0
    assert result.status == "error" and "timed out" in result.error
    assert result.duration_s < 2.5


def test_unparseable_body_is_a_dead_letter_not_a_crash(served, settings) -> None:
    served.routes["/feed.xml"] = Route(body=b"<html><body>Service temporarily unavailable</body></html>",
                                       content_type="text/html")
    src = source(served, settings)
    result = src.poll(T0)
    assert result.status == "ok" and result.articles == []
    (dead,) = result.dead_letters
    assert "HTML page" in dead.reason and dead.source == "test-feed"
    src.ack(result)
    again = src.poll(T0 + timedelta(minutes=1))          # same bytes: not parsed or reported again
    assert again.status == "unchanged" and again.dead_letters == []


def test_gzip_feed_parses(served, settings) -> None:
    route = served.routes["/feed.xml"]
    route.body, route.headers = gzip.compress(route.body), {"Content-Encoding": "gzip"}
    result = source(served, settings).poll(T0)
    assert result.status == "ok" and len(result.articles) == 3 and result.problem is None


def test_one_log_line_per_poll(served, settings, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="newswatch.connectors.rss")
    src = source(served, settings)
    src.ack(src.poll(T0))
    src.poll(T0 + timedelta(minutes=1))
    lines = [r.getMessage() for r in caplog.records if r.name == "newswatch.connectors.rss"]
    assert len(lines) == 2
    assert "status=ok" in lines[0] and "new=3" in lines[0] and "status=not-modified" in lines[1]


def test_local_file_feed(tmp_path, settings) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(make_feed(ITEMS))
    src = RssSource(FeedSpec(id="local", url=str(path)), cursors=MemoryCursorStore(), settings=settings)
    first = src.poll(T0)
    assert len(first.articles) == 3
    src.ack(first)
    assert src.poll(T0).status == "not-modified"


def test_backoff_delay_caps(settings) -> None:
    rng = random.Random(0)
    assert 10 <= backoff_delay(1, settings, rng) <= 11
    assert 100 <= backoff_delay(50, settings, rng) <= 110
    assert 100 <= backoff_delay(1, settings, rng, retry_after_s=10_000) <= 110
