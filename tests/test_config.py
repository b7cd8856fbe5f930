from pathlib import Path

import pytest

from newswatch.config import ConfigSet, EntitiesFile, FeedsFile, TopicsFile, load_model, parse_model
from newswatch.errors import ConfigError

from .conftest import CONFIG


def test_default_config_loads():
    cfg = ConfigSet.load(CONFIG)
    assert {t.id for t in cfg.topics.topics} >= {"russia-taliban", "bounties"}
    assert cfg.feeds.feeds and cfg.feeds.wire
    assert any(e.canonical == "Russia" for e in cfg.entities.entities)


def test_unknown_key_names_file_line_key_and_suggests():
    text = "topics:\n  - id: a\n    query: x\n  - id: b\n    qeury: y\n"
    with pytest.raises(ConfigError) as e:
        parse_model(text, TopicsFile, path="topics.yaml")
    msg = str(e.value)
    assert msg.startswith("topics.yaml:5 topics[1].qeury:")
    assert "did you mean 'query'" in msg


def test_bad_value_names_line():
    with pytest.raises(ConfigError) as e:
        parse_model("defaults:\n  interval: 300\nfeeds:\n  - id: BBC\n    url: x\n", FeedsFile, path="feeds.yaml")
    assert "feeds.yaml:4 feeds[0].id" in str(e.value)


def test_yaml_syntax_error_has_line_and_fix():
    with pytest.raises(ConfigError) as e:
        parse_model("topics:\n  - id: a\n    query: 'unclosed\n", TopicsFile, path="t.yaml")
    assert str(e.value).startswith("t.yaml:") and "Fix:" in str(e.value)


def test_duplicate_ids_rejected():
    with pytest.raises(ConfigError, match="used twice"):
        parse_model("feeds:\n  - {id: a, url: x}\n  - {id: a, url: y}\n", FeedsFile)


def test_implies_must_name_a_known_entity():
    with pytest.raises(ConfigError, match="not a canonical entity"):
        parse_model("entities:\n  - {canonical: A, label: PERSON, implies: [Nowhere]}\n", EntitiesFile)


def test_missing_file(tmp_path: Path):
    assert load_model(tmp_path / "alerts.yaml", TopicsFile) == TopicsFile()
    with pytest.raises(ConfigError, match="file not found"):
        load_model(tmp_path / "topics.yaml", TopicsFile, missing_ok=False)
    with pytest.raises(ConfigError, match="config directory not found"):
        ConfigSet.load(tmp_path / "nope")


def test_topic_throttles_merge_into_alert_routing():
    from newswatch.alerts.settings import AlertsFile
    from newswatch.config import with_topic_throttles

    topics = parse_model("topics:\n  - {id: a, query: x, throttle: {max_alerts: 2, per_seconds: 60}}\n"
                         "  - {id: b, query: y, throttle: {max_alerts: 5}}\n", TopicsFile)
    alerts = parse_model("throttle:\n  b: {max_alerts: 1, per_seconds: 10}\n", AlertsFile)
    merged = with_topic_throttles(alerts, topics)
    assert (merged.throttle_for("a").max_alerts, merged.throttle_for("a").per_seconds) == (2, 60)
    assert merged.throttle_for("b").max_alerts == 1  # alerts.yaml wins for the same topic
    assert with_topic_throttles(alerts, parse_model("topics: []", TopicsFile)) is alerts
