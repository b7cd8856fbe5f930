"""Hot reload of topics.yaml (``newswatch.monitor.TopicsWatcher``): edits go live, broken edits don't.

The end-to-end reload in a running ``newswatch run`` is tested with the monitor;
this checks the watcher's contract on a real file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from newswatch.config import TopicsFile, load_model
from newswatch.process import compiled_topics
from newswatch.topics import MatchDoc

monitor = pytest.importorskip("newswatch.monitor")

V1 = "topics:\n  - id: alpha\n    query: russia AND taliban\n"
V2 = ("topics:\n  - id: alpha\n    query: russia AND taliban\n"
      "  - id: beta\n    query: bounty AND troops\n")
BROKEN_QUERY = ("topics:\n  - id: alpha\n    query: russia AND taliban\n"
                "  - id: beta\n    query: bounty and troops\n")
BROKEN_YAML = "topics:\n  - id: alpha\n   query: [unclosed\n"
FIXED = ("topics:\n  - id: beta\n    query: bounty AND troops\n"
         "  - id: gamma\n    query: '\"paid to kill\"'\n")


def write(path: Path, text: str, tick: list[int]) -> None:
    """Write and move the mtime forward: the watcher compares (mtime, size), and two writes
    within the filesystem's timestamp granularity would otherwise look unchanged."""
    path.write_text(text, encoding="utf-8")
    tick[0] += 10
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + tick[0] * 1_000_000_000))


def live_ids(watcher) -> list[str]:
    return [t.id for t in watcher.current()]


def fires(watcher, text: str) -> list[str]:
    """What the live topic set flags on a text (compiled the way the pipeline compiles it)."""
    matcher = compiled_topics(watcher.current())
    return [m.id for m in matcher.match(MatchDoc(id="d", text=text))]


def test_edit_goes_live_broken_edit_is_rejected_fix_goes_live(tmp_path: Path):
    path = tmp_path / "topics.yaml"
    tick = [0]
    write(path, V1, tick)
    w = monitor.TopicsWatcher(path, load_model(path, TopicsFile))
    assert live_ids(w) == ["alpha"] and w.check() is False and w.last_error is None
    doc = "Russia and the Taliban; a bounty on troops; militants paid to kill"

    write(path, V2, tick)
    assert w.check() is True
    assert live_ids(w) == ["alpha", "beta"] and w.last_error is None
    assert fires(w, doc) == ["alpha", "beta"]

    # a broken query: rejected with the error (file, line, token), previous topics stay live
    write(path, BROKEN_QUERY, tick)
    assert w.check() is False
    assert live_ids(w) == ["alpha", "beta"]
    assert w.last_error and "topics.yaml:5 topics[1].query" in w.last_error and "'and'" in w.last_error
    assert fires(w, doc) == ["alpha", "beta"]
    assert w.check() is False and live_ids(w) == ["alpha", "beta"]      # no retry storm on an unchanged file

    # broken YAML: same
    write(path, BROKEN_YAML, tick)
    assert w.check() is False and live_ids(w) == ["alpha", "beta"]
    assert w.last_error and "not valid YAML" in w.last_error

    # the fix goes live and clears the error
    write(path, FIXED, tick)
    assert w.check() is True
    assert live_ids(w) == ["beta", "gamma"] and w.last_error is None
    assert fires(w, doc) == ["beta", "gamma"]


def test_deleted_file_keeps_the_live_topics(tmp_path: Path):
    path = tmp_path / "topics.yaml"
    tick = [0]
    write(path, V2, tick)
    w = monitor.TopicsWatcher(path, load_model(path, TopicsFile))
    path.unlink()
    assert w.check() is False
    assert live_ids(w) == ["alpha", "beta"] and w.last_error and "not found" in w.last_error
    write(path, V1, tick)
    assert w.check() is True and live_ids(w) == ["alpha"]


def test_reload_errors_can_be_placed_at_their_line(tmp_path: Path):
    """What the watcher needs to report ``topics.yaml:LINE`` for a bad query (see the report)."""
    from newswatch.topics import TopicSyntaxError
    from newswatch.topics.check import locate_in_file

    path = tmp_path / "topics.yaml"
    path.write_text(BROKEN_QUERY, encoding="utf-8")
    with pytest.raises(TopicSyntaxError) as info:
        compiled_topics(load_model(path, TopicsFile).topics)
    located = locate_in_file(info.value, path)
    assert str(located).startswith(f"{path}:5 topics[1].query: 'and' is searched as a word")
