"""Channel registry, URL handling and failure reasons (real servers; no mocks)."""

from __future__ import annotations

import pytest

from newswatch import registry
from newswatch.alerts.channels import (AppriseChannel, ConsoleChannel, DeliveryError, FileChannel, Message,
                                       channel_kind, expand_env, open_channel, redact)
from newswatch.errors import ConfigError

from tests.alerts.conftest import free_port

pytestmark = pytest.mark.alerts


def test_one_registry_of_channel_kinds(tmp_path):
    assert {"apprise", "console", "ndjson"} <= set(registry.names("channel"))
    assert channel_kind("console://") == "console"
    assert channel_kind("ndjson://x.ndjson") == channel_kind("file:///tmp/x") == "ndjson"
    assert channel_kind("mailtos://u:p@smtp.example.org") == channel_kind("slack://a/b/c") == "apprise"
    assert isinstance(open_channel("c", "console://"), ConsoleChannel)
    f = open_channel("f", "ndjson://sub/out.ndjson", data_dir=tmp_path)
    assert isinstance(f, FileChannel) and f.path == tmp_path / "sub" / "out.ndjson"
    assert isinstance(open_channel("h", "json://127.0.0.1:9/hook"), AppriseChannel)


def test_bad_apprise_url_is_a_config_error():
    with pytest.raises(ConfigError) as exc:
        open_channel("slack", "slack://only-one-token")
    assert exc.value.key == "channels.slack" and "Apprise does not accept" in str(exc.value)


def test_env_expansion_and_redaction():
    assert expand_env("json://${HOST}/x", "hook", {"HOST": "127.0.0.1:9"}) == "json://127.0.0.1:9/x"
    with pytest.raises(ConfigError, match=r"export SMTP_PASSWORD"):
        expand_env("mailtos://u:${SMTP_PASSWORD}@smtp.example.org", "email", {})
    assert redact("mailtos://user:secret@smtp.example.org?to=a@b") == "mailtos://***@smtp.example.org?to=a@b"


def test_refused_connection_reason_comes_from_apprise():
    ch = open_channel("hook", f"json://127.0.0.1:{free_port()}/hook?cto=2")
    with pytest.raises(DeliveryError) as exc:
        ch.send(Message(kind="test", title="t", body="b"))
    assert "JSON" in str(exc.value) or "onnect" in str(exc.value)


def test_webhook_gets_severity_as_notification_type(webhook):
    ch = open_channel("hook", webhook.url())
    ch.send(Message(kind="alert", title="T", body="B", severity="critical"))
    assert webhook.answered == [{"version": "1.0", "title": "T", "message": "B", "attachments": [],
                                 "type": "failure", "_path": "/hook"}]


def test_file_channel_reports_unwritable_path(tmp_path):
    (tmp_path / "blocker").write_text("a file where a directory should be")
    ch = FileChannel("f", path=tmp_path / "blocker" / "out.ndjson")
    with pytest.raises(DeliveryError, match="blocker"):
        ch.send(Message(kind="alert", title="t", body="b"))
