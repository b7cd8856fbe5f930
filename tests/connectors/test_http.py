"""fetch(): conditional GET, size cap, timeouts, redirects, local files — errors returned, never raised."""

from __future__ import annotations

import gzip
import os
import time

from connectors.http import fetch, local_path

from .conftest import Route

BODY = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def test_fetch_ok_then_not_modified_with_etag(feed_server) -> None:
    feed_server.routes["/f"] = Route(body=BODY, etag='"v1"', last_modified="Tue, 17 Feb 2026 20:00:00 GMT")
    first = fetch(feed_server.url("/f"), user_agent="newswatch-test/1")
    assert first.status == "ok" and first.body == BODY and first.http_status == 200
    assert first.etag == '"v1"' and first.last_modified == "Tue, 17 Feb 2026 20:00:00 GMT"
    assert first.content_type.startswith("application/rss+xml")
    second = fetch(feed_server.url("/f"), etag=first.etag, last_modified=first.last_modified)
    assert second.status == "not-modified" and second.body == b"" and second.http_status == 304
    path, headers = feed_server.requests[-1]
    assert headers["if-none-match"] == '"v1"'
    assert feed_server.requests[0][1]["user-agent"] == "newswatch-test/1"


def test_fetch_if_modified_since_only(feed_server) -> None:
    feed_server.routes["/lm"] = Route(body=BODY, last_modified="Tue, 17 Feb 2026 20:00:00 GMT")
    again = fetch(feed_server.url("/lm"), last_modified="Tue, 17 Feb 2026 20:00:00 GMT")
    assert again.status == "not-modified"


def test_fetch_decodes_gzip_and_caps_the_decoded_size(feed_server) -> None:
    feed_server.routes["/gz"] = Route(body=gzip.compress(BODY), headers={"Content-Encoding": "gzip"})
    result = fetch(feed_server.url("/gz"))
    assert result.status == "ok" and result.body == BODY
    bomb = gzip.compress(b"<" * 2_000_000)             # ~2 kB on the wire, 2 MB decoded
    feed_server.routes["/bomb"] = Route(body=bomb, headers={"Content-Encoding": "gzip"})
    refused = fetch(feed_server.url("/bomb"), max_bytes=100_000)
    assert refused.status == "error" and "exceeded the limit" in refused.error


def test_fetch_follows_redirects(feed_server) -> None:
    feed_server.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    feed_server.routes["/new"] = Route(body=BODY)
    result = fetch(feed_server.url("/old"))
    assert result.status == "ok" and result.final_url == feed_server.url("/new")


def test_fetch_http_error_is_returned(feed_server) -> None:
    feed_server.routes["/busy"] = Route(status=503, headers={"Retry-After": "120"})
    result = fetch(feed_server.url("/busy"))
    assert result.status == "error" and result.http_status == 503
    assert "HTTP 503" in result.error and result.retry_after_s == 120
    assert fetch(feed_server.url("/missing")).error.startswith("HTTP 404")


def test_fetch_refuses_oversized_bodies(feed_server) -> None:
    feed_server.routes["/big"] = Route(body=b"x" * 5000)
    result = fetch(feed_server.url("/big"), max_bytes=1000)
    assert result.status == "error" and "more than the limit of 1000" in result.error
    feed_server.routes["/stream"] = Route(body=b"x" * 5000, send_length=False)
    result = fetch(feed_server.url("/stream"), max_bytes=1000)
    assert result.status == "error" and "exceeded the limit of 1000 bytes" in result.error


def test_fetch_times_out_on_a_slow_server(feed_server) -> None:
    feed_server.routes["/slow"] = Route(body=BODY, delay_s=2.0)
    started = time.monotonic()
    result = fetch(feed_server.url("/slow"), timeout_s=0.3)
    assert result.status == "error" and "timed out" in result.error
    assert time.monotonic() - started < 1.5


def test_fetch_connection_refused_and_bad_scheme() -> None:
    result = fetch("http://127.0.0.1:9/feed", timeout_s=1)
    assert result.status == "error" and result.error
    assert fetch("ftp://example.com/feed").error.startswith("unsupported URL scheme")


def test_fetch_local_file_path_and_file_url(tmp_path) -> None:
    path = tmp_path / "feed é.xml"
    path.write_bytes(BODY)
    by_path = fetch(str(path))
    assert by_path.status == "ok" and by_path.body == BODY and by_path.last_modified
    by_url = fetch(path.as_uri())
    assert by_url.status == "ok" and by_url.body == BODY
    same = fetch(str(path), etag=by_path.etag)
    assert same.status == "not-modified"
    same_lm = fetch(str(path), last_modified=by_path.last_modified)
    assert same_lm.status == "not-modified"
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert fetch(str(path), etag=by_path.etag).status == "ok"


def test_fetch_local_errors(tmp_path) -> None:
    assert "file not found" in fetch(str(tmp_path / "nope.xml")).error
    assert "is not a file" in fetch(str(tmp_path)).error
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2000)
    assert "more than the limit of 1000" in fetch(str(big), max_bytes=1000).error


def test_local_path() -> None:
    assert str(local_path("file:///tmp/a%20b.xml")) == "/tmp/a b.xml"
    assert str(local_path("feeds/x.xml")) == "feeds/x.xml"
    assert local_path("https://example.com/") is None
    assert local_path("file://otherhost/x") is None
