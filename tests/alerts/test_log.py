from __future__ import annotations

import logging
import subprocess
import sys
from datetime import timedelta

from newswatch.alerts.log import AlertLog, format_alert
from newswatch.records import MatchedTerm, utcnow

from tests.bus.factories import make_alert


def lines(path):
    return path.read_bytes().splitlines()


def test_append_writes_each_id_once(tmp_path):
    path = tmp_path / "alerts.ndjson"
    a, b, c = (make_alert("t", f"s{i}") for i in range(3))
    with AlertLog(path) as log:
        assert log.append([a, b, a]) == [a, b]
        assert log.append([b, c]) == [c]
        assert log.append([]) == []
        assert a.id in log and len(log) == 3
    with AlertLog(path) as log:  # reopen: ids come from the file
        assert log.append([a, b, c]) == []
        assert list(log.read()) == [a, b, c]
    assert len(lines(path)) == 3


def test_torn_last_line_is_truncated_and_rewritten(tmp_path, caplog):
    path = tmp_path / "alerts.ndjson"
    a, b = make_alert("t", "s1"), make_alert("t", "s2")
    with AlertLog(path) as log:
        log.append([a])
    full = b.to_json().encode()
    with open(path, "ab") as fh:  # a crash mid-write of b
        fh.write(full[: len(full) // 2])
    with caplog.at_level(logging.WARNING, logger="newswatch.alerts.log"):
        log = AlertLog(path)
    assert "torn" in caplog.text
    assert path.read_bytes().endswith(b"\n") and len(lines(path)) == 1
    assert b.id not in log
    assert log.append([a, b]) == [b]  # b was never acknowledged: written now, once
    log.close()
    assert [x.id for x in AlertLog(path).read()] == [a.id, b.id]


def test_torn_tail_that_is_complete_json_without_newline(tmp_path):
    path = tmp_path / "alerts.ndjson"
    a = make_alert("t", "s1")
    path.write_bytes(a.to_json().encode())  # no newline: the write was not finished
    with AlertLog(path) as log:
        assert a.id not in log
        assert log.append([a]) == [a]
    assert len(lines(path)) == 1


def test_unreadable_middle_line_is_skipped_not_fatal(tmp_path):
    path = tmp_path / "alerts.ndjson"
    a, b = make_alert("t", "s1"), make_alert("t", "s2")
    path.write_bytes(a.to_json().encode() + b"\n{garbage\n" + b.to_json().encode() + b"\n")
    with AlertLog(path) as log:
        assert len(log) == 2
        assert [x.id for x in log.read()] == [a.id, b.id]


def test_two_handles_on_one_file_do_not_duplicate(tmp_path):
    path = tmp_path / "alerts.ndjson"
    a, b = make_alert("t", "s1"), make_alert("t", "s2")
    one, two = AlertLog(path), AlertLog(path)
    try:
        assert one.append([a]) == [a]
        assert two.append([a, b]) == [b]  # two catches up on what one wrote
        assert one.append([b]) == []
    finally:
        one.close()
        two.close()
    assert len(lines(path)) == 2


def test_concurrent_processes_append_each_id_once(tmp_path):
    path = tmp_path / "alerts.ndjson"
    script = (
        "import sys\n"
        "from newswatch.alerts.log import AlertLog\n"
        "from tests.bus.factories import make_alert\n"
        "log = AlertLog(sys.argv[1])\n"
        "for i in range(200):\n"
        "    log.append([make_alert('t', f's{i}'), make_alert('t', f's{i + 1}')])\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=str(_repo_root()))
             for _ in range(3)]
    for p in procs:
        assert p.wait(25) == 0
    ids = [line for line in lines(path)]
    assert len(ids) == len(set(ids)) == 201


def _repo_root():
    from pathlib import Path
    return Path(__file__).resolve().parents[2]


def test_read_filters(tmp_path):
    old = make_alert("a", "s1", created_at=utcnow() - timedelta(days=2))
    new = make_alert("b", "s2")
    with AlertLog(tmp_path / "l.ndjson") as log:
        log.append([old, new])
        assert list(log.read(topic="a")) == [old]
        assert list(log.read(since=utcnow() - timedelta(days=1))) == [new]


def test_read_missing_file_is_empty(tmp_path):
    log = AlertLog(tmp_path / "x.ndjson")
    (tmp_path / "x.ndjson").unlink()
    assert list(log.read()) == []
    log.close()


def test_format_alert_one_readable_line():
    alert = make_alert(
        "russia-taliban", "s1", title="Russia denies\narming the   Taliban",
        source_id="reuters",
        why=(MatchedTerm(term="russia", field="text"), MatchedTerm(term="Taliban", field="title"),
             MatchedTerm(term="taliban", field="text"), MatchedTerm(term="kremlin", field="entity")))
    line = format_alert(alert)
    assert "\n" not in line
    assert "[russia-taliban] Russia denies arming the Taliban — reuters" in line
    assert line.endswith("(why: russia, Taliban, kremlin)")
    assert line[:4].isdigit() and "Z" in line[:21]
