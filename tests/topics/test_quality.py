"""Quality of the default topics on the project's labelled set (real spaCy model, real config).

The same run measures the naive keyword baseline, so the report always shows
what the topics buy over ``russia AND taliban`` / ``bounty``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from newswatch.errors import ConfigError
from newswatch.topics.quality import TopicScores, baseline_predict, errors, load_labelled, score
from tests.conftest import CONFIG, REPO

LABELLED = REPO / "samples" / "labelled" / "topics-labelled.yaml"
TOPICS = ("russia-taliban", "bounties")


def _bench():
    spec = importlib.util.spec_from_file_location("topics_quality_bench", REPO / "bench" / "topics_quality.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


# ------------------------------------------------------------------ pure parts
def test_scores_and_errors():
    labels = {"a": ["t"], "b": ["t"], "c": [], "d": []}
    pred = {"a": ["t"], "c": ["t"]}  # b missed, c wrong, d right
    s = score(pred, labels, ["t"])["t"]
    assert (s.tp, s.fp, s.fn, s.tn) == (1, 1, 1, 1)
    assert s.precision == 0.5 and s.recall == 0.5 and s.f1 == 0.5
    assert [(e.item, e.kind) for e in errors(pred, labels, ["t"])] == [("b", "fn"), ("c", "fp")]
    empty = TopicScores("t", 0, 0, 0, 3)
    assert empty.precision == 1.0 and empty.recall == 1.0
    with pytest.raises(ValueError, match="unlabelled"):
        score({"zz": ["t"]}, labels, ["t"])


def test_baseline_rules():
    assert baseline_predict("The Kremlin and the Taliban") == {"russia-taliban"}
    assert baseline_predict("Russian wheat") == set()
    assert baseline_predict("Bug bounties for hackers") == {"bounties"}
    assert baseline_predict("militants paid to kill troops") == set()


def test_labelled_file_is_valid_and_balanced():
    items = load_labelled(LABELLED, topics=TOPICS)
    assert len(items) >= 60
    head = LABELLED.read_text(encoding="utf-8")[:400]
    assert "PROJECT-WRITTEN SAMPLE DATA" in head
    for t in TOPICS:
        assert sum(t in i.labels for i in items) >= 15, t
    assert sum(not i.labels for i in items) >= 25          # near misses
    assert all(i.note for i in items if not i.labels)       # each near miss says what it is


def test_load_labelled_errors_name_file_and_key(tmp_path: Path):
    p = tmp_path / "l.yaml"
    p.write_text("items:\n  - id: a\n    title: T\n    summary: S\n    labels: [nope]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"l\.yaml.*items\[0\]\.labels.*nope"):
        load_labelled(p, topics=TOPICS)
    p.write_text("items:\n  - id: a\n    title: T\n    summry: S\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"l\.yaml:4"):
        load_labelled(p)


# ------------------------------------------------------------------ the real run
@pytest.mark.slow
def test_default_topics_meet_the_quality_goal_and_beat_the_baseline():
    from newswatch.errors import ModelNotFoundError

    bench = _bench()
    try:
        run = bench.run_quality(LABELLED, CONFIG)
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))
    report = bench.report(run)
    for t in TOPICS:
        s = run.pipeline[t]
        assert s.precision >= 0.95 and s.recall >= 0.95, report
        # the baseline was measured in the same run, on the same items
        b = run.baseline[t]
        assert b.tp + b.fp + b.fn + b.tn == len(run.items) == s.tp + s.fp + s.fn + s.tn
    assert run.pipeline["bounties"].f1 > run.baseline["bounties"].f1, report
    assert "baseline" in report and "pipeline" in report
