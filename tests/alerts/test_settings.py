"""config/alerts.yaml: the shipped file validates; mistakes name file, line, key and fix."""

from __future__ import annotations

import pytest

from newswatch.alerts.settings import AlertsFile, RetryPolicy
from newswatch.config import load_model, parse_model
from newswatch.errors import ConfigError

from tests.conftest import CONFIG

pytestmark = pytest.mark.alerts


def test_shipped_alerts_yaml_is_valid():
    cfg = load_model(CONFIG / "alerts.yaml", AlertsFile, missing_ok=False)
    assert str(cfg.log) == "alerts.ndjson" and cfg.console is True
    assert cfg.subscriptions and cfg.subscriptions[0].channels == ("console",)
    assert cfg.throttle_for("any-topic").max_alerts == 20


def test_empty_file_keeps_the_old_defaults():
    cfg = parse_model("", AlertsFile)
    assert cfg.channels == {} and cfg.subscriptions == () and cfg.channel_urls() == {"console": "console://"}


@pytest.mark.parametrize("text, line, key, words", [
    ("subscriptions:\n  - topics: [a]\n    channels: [slak]\n", 1, "subscriptions", "unknown channel 'slak'"),
    ("subscriptions:\n  - channels: [console]\n    mood: digest\n", 3, "subscriptions[0].mood", "did you mean 'mode'"),
    ("subscriptions:\n  - channels: [console]\n    mode: weekly\n", 3, "subscriptions[0].mode", "immediate"),
    ("channels:\n  x: notaurl\n", 1, "channels", "not a URL"),
    ("subscriptions:\n  - channels: [console]\n    digest_at: 8am\n", 3, "subscriptions[0].digest_at", "HH:MM"),
    ("throttle:\n  t: {max_alerts: 0}\n", 2, "throttle.t.max_alerts", "greater than 0"),
    ("subscriptions:\n  - channels: [console]\n  - channels: [console]\n", 1, "subscriptions", "distinct 'name:'"),
])
def test_mistakes_are_reported_with_line_and_key(text, line, key, words):
    with pytest.raises(ConfigError) as exc:
        parse_model(text, AlertsFile, path="config/alerts.yaml")
    e = exc.value
    assert e.path == "config/alerts.yaml" and e.line == line and e.key == key
    assert words in str(e)


def test_routing_helpers():
    cfg = parse_model("channels: {hook: 'json://127.0.0.1:9/x'}\n"
                      "subscriptions:\n  - {topics: ['russia-*'], channels: [hook]}\n"
                      "  - {name: all, topics: ['*'], channels: [console], mode: digest}\n", AlertsFile)
    assert [s.key for s in cfg.subscriptions_for("russia-taliban")] == ["russia-*>hook:immediate", "all"]
    assert [s.key for s in cfg.subscriptions_for("bounties")] == ["all"]
    assert cfg.uses_channel("console") and not cfg.uses_channel("email")


def test_backoff_is_exponential_and_capped():
    p = RetryPolicy(backoff_s=2, backoff_max_s=30)
    assert [p.delay(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
