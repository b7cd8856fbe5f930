"""WireDropSource: pick up complete files, move them only on ack, keep failures with a reason."""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.wire import WireDropSource
from newswatch.config import WireSpec
from newswatch.records import utcnow

from ._data import NEWSML, require_shared

TEXT_SAMPLES = ["LISTING_2_NewsML-G2_Text_Document.xml", "LISTING_27_Company_Financial_Information.xml"]
CONCEPT_SAMPLE = "LISTING_10_Abstract_Concept_conveyed_in_a_NewsML-G2_Concept_Item.xml"


def age(path: Path, seconds: float = 10) -> None:
    """Make a file look finished (written ``seconds`` ago)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def drop(tmp_path, settings):
    src = WireDropSource(WireSpec(id="acme-wire", path=Path("wire/acme"), language="en"),
                         data_dir=tmp_path, settings=settings)
    src.setup()
    return src


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_relative_path_is_under_data_dir(drop, tmp_path) -> None:
    assert drop.path == tmp_path / "wire" / "acme"
    assert drop.processed_dir.is_dir() and drop.failed_dir.is_dir()


def test_poll_then_ack_moves_files(drop) -> None:
    folder = require_shared(NEWSML)
    for name in [*TEXT_SAMPLES, CONCEPT_SAMPLE]:
        shutil.copy(folder / name, drop.path / name)
    (drop.path / "lines.ndjson").write_text('{"title": "From NDJSON", "url": "https://e.com/n1"}\nnot json\n')
    (drop.path / "garbage.xml").write_bytes(b"\x00\x01 this is not xml at all")
    (drop.path / ".hidden.xml").write_bytes(b"<x/>")
    (drop.path / "upload.xml.tmp").write_bytes(b"<x/>")
    (drop.path / "upload.part").write_bytes(b"<x/>")
    (drop.path / "readme.txt").write_text("ignored: not a wire suffix")
    for p in drop.path.iterdir():
        if p.is_file():
            age(p)
    before = names(drop.path)

    result = drop.poll()
    assert result.status == "ok" and result.needs_ack
    titles = sorted(a.title for a in result.articles)
    assert titles == ["Acme Widgets announces annual results", "Fed to halt QE to avert \"bubble\"", "From NDJSON"]
    assert all(a.source_id == "acme-wire" for a in result.articles)
    reasons = [d.reason for d in result.dead_letters]
    assert any("conceptItem" in r for r in reasons)
    assert any(r.startswith("lines.ndjson:2: not valid JSON") for r in reasons)
    assert any(r.startswith("garbage.xml:") for r in reasons)
    # nothing moves before ack, and a second poll does not pick the same files again
    assert names(drop.path) == before
    assert drop.poll().articles == []

    drop.ack(result)
    assert names(drop.processed_dir) == sorted([*TEXT_SAMPLES, "lines.ndjson"])
    failed = names(drop.failed_dir)
    assert failed == sorted([CONCEPT_SAMPLE, f"{CONCEPT_SAMPLE}.reason.txt", "garbage.xml", "garbage.xml.reason.txt"])
    assert "carries no story text" in (drop.failed_dir / f"{CONCEPT_SAMPLE}.reason.txt").read_text()
    assert "garbage.xml" in (drop.failed_dir / "garbage.xml.reason.txt").read_text()
    assert names(drop.path) == sorted([".hidden.xml", "readme.txt", "upload.part", "upload.xml.tmp"])
    drop.ack(result)                                    # idempotent


def test_crash_before_ack_rereads_the_files(tmp_path, settings) -> None:
    spec = WireSpec(id="w", path=tmp_path / "drop")
    first = WireDropSource(spec, data_dir=tmp_path, settings=settings)
    first.setup()
    (first.path / "a.ndjson").write_text('{"title": "kept"}\n')
    age(first.path / "a.ndjson")
    assert [a.title for a in first.poll().articles] == ["kept"]
    restarted = WireDropSource(spec, data_dir=tmp_path, settings=settings)   # no ack: process died
    again = restarted.poll()
    assert [a.title for a in again.articles] == ["kept"]
    restarted.ack(again)
    assert names(restarted.processed_dir) == ["a.ndjson"]


def test_files_still_being_written_are_left_alone(drop) -> None:
    path = drop.path / "fresh.ndjson"
    path.write_text('{"title": "half"}\n')
    now = utcnow()
    assert drop.poll(now).articles == []                 # modified less than a second ago
    assert [a.title for a in drop.poll(now + timedelta(seconds=2)).articles] == ["half"]


def test_name_collisions_get_a_suffix(drop) -> None:
    for round_ in range(3):
        (drop.path / "same.ndjson").write_text(f'{{"title": "round {round_}"}}\n')
        age(drop.path / "same.ndjson")
        drop.ack(drop.poll())
    assert names(drop.processed_dir) == ["same-1.ndjson", "same-2.ndjson", "same.ndjson"]
    for _ in range(2):
        (drop.path / "bad.xml").write_text("<oops>")
        age(drop.path / "bad.xml")
        drop.ack(drop.poll())
    assert names(drop.failed_dir) == ["bad-1.xml", "bad-1.xml.reason.txt", "bad.xml", "bad.xml.reason.txt"]


def test_file_changed_after_poll_is_not_moved(drop) -> None:
    path = drop.path / "grow.ndjson"
    path.write_text('{"title": "one"}\n')
    age(path, 20)
    result = drop.poll()
    path.write_text('{"title": "one"}\n{"title": "two"}\n')
    age(path, 5)
    drop.ack(result)
    assert path.exists()                                 # read again next poll, never lost
    assert [a.title for a in drop.poll().articles] == ["one", "two"]


def test_empty_file_fails_with_reason(drop) -> None:
    (drop.path / "empty.ndjson").write_bytes(b"")
    age(drop.path / "empty.ndjson")
    drop.ack(drop.poll())
    assert "empty document" in (drop.failed_dir / "empty.ndjson.reason.txt").read_text()


def test_missing_drop_folder_is_an_error_not_a_crash(tmp_path, settings) -> None:
    src = WireDropSource(WireSpec(id="w", path=tmp_path / "nowhere"), data_dir=tmp_path, settings=settings)
    result = src.poll()
    assert result.status == "error" and "does not exist" in result.error


def test_next_due_follows_scan_interval(drop) -> None:
    now = utcnow()
    assert drop.next_due(now) == now
    drop.poll(now)
    assert drop.next_due(now) == now + timedelta(seconds=2)
