"""Cursor stores: JSON dicts per source, durable in SQLite, safe across threads."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from connectors.base import MemoryCursorStore, PollResult, Source, SqliteCursorStore
from connectors.rss import RssSource
from connectors.wire import WireDropSource


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryCursorStore()
    else:
        s = SqliteCursorStore(tmp_path / "state" / "cursors.sqlite3")
        yield s
        s.close()


def test_get_unknown_is_empty_and_put_replaces(store) -> None:
    assert store.get("bbc") == {}
    store.put("bbc", {"etag": '"a"', "seen": {"x": "1"}})
    store.put("bbc", {"etag": '"b"'})
    assert store.get("bbc") == {"etag": '"b"'}


def test_get_returns_a_copy(store) -> None:
    store.put("s", {"seen": {"a": "1"}})
    got = store.get("s")
    got["seen"]["b"] = "2"
    assert store.get("s") == {"seen": {"a": "1"}}


def test_concurrent_puts_from_threads(store) -> None:
    def work(n: int) -> None:
        for i in range(50):
            store.put(f"src-{n}", {"i": i, "text": "é" * n})
            assert store.get(f"src-{n}")["i"] == i

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [store.get(f"src-{n}")["i"] for n in range(8)] == [49] * 8


def test_sqlite_store_survives_reopen_and_uses_wal(tmp_path) -> None:
    path = tmp_path / "cursors.sqlite3"
    with SqliteCursorStore(path) as s:
        s.put("dw", {"etag": "W/1", "next_due": "2026-01-01T00:00:00+00:00"})
    with SqliteCursorStore(path) as s:
        assert s.get("dw")["etag"] == "W/1"
        assert s.ids() == ["dw"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = [r[1] for r in conn.execute("PRAGMA table_info(cursors)")]
    assert cols == ["source_id", "cursor", "updated_at"]
    conn.close()


def test_sqlite_store_reads_corrupt_cursor_as_empty(tmp_path) -> None:
    path = tmp_path / "c.sqlite3"
    with SqliteCursorStore(path) as s:
        s.put("x", {"a": 1})
    conn = sqlite3.connect(path)
    conn.execute("UPDATE cursors SET cursor = '{broken' WHERE source_id = 'x'")
    conn.commit()
    conn.close()
    with SqliteCursorStore(path) as s:
        assert s.get("x") == {}


def test_sources_implement_the_protocol(settings, tmp_path) -> None:
    from newswatch.config import FeedSpec, WireSpec
    rss = RssSource(FeedSpec(id="a", url="file:///nonexistent"), cursors=MemoryCursorStore(), settings=settings)
    wire = WireDropSource(WireSpec(id="w", path=tmp_path), data_dir=tmp_path, settings=settings)
    assert isinstance(rss, Source) and isinstance(wire, Source)


def test_poll_result_flags() -> None:
    r = PollResult(source_id="s", status="error", error="boom")
    assert not r.ok and not r.needs_ack
    assert PollResult(source_id="s", status="ok", pending={"x": 1}).needs_ack
