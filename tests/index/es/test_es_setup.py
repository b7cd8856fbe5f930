"""Index template, analyzer, idempotent setup with drift check, and the Kibana saved objects."""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from newswatch.fields import ENTITY_FIELDS, tokenize
from newswatch.index.base import IndexBackendError, story_fields
from newswatch.index.es_index import story_document
from newswatch.index.es_setup import (
    KIBANA_NDJSON,
    TEXT_ANALYZER,
    IndexLayout,
    drift,
    ilm_policy,
    import_kibana,
    index_template,
    load_saved_objects,
    mappings,
    setup,
)
from tests.conftest import run_cli
from tests.fixtures.osmem import es_client
from tests.index.factories import make_stories


# ---------------------------------------------------------------- unit
def test_mapping_covers_every_indexed_field_strictly():
    m = mappings()
    props = m["properties"]
    assert m["dynamic"] == "strict"
    for name in story_fields(make_stories(1)[0]):
        assert name in props, name
    for name in ("title", "text"):
        assert props[name]["type"] == "text" and props[name]["analyzer"] == TEXT_ANALYZER
        assert props[name]["fields"]["english"] == {"type": "text", "analyzer": "english"}
    assert props["title"]["fields"]["raw"]["type"] == "keyword"
    for name in (*ENTITY_FIELDS, "entity", "source", "lang", "topic", "cluster", "id"):
        assert props[name] == {"type": "keyword"}, name
    assert props["published"] == props["fetched_at"] == {"type": "date"}
    assert props["doc"] == {"type": "object", "enabled": False}
    # every document field we send is mapped (strict mapping would refuse it otherwise)
    for story in make_stories(30):
        assert set(story_document(story)) <= set(props)


def test_template_and_ilm_policy():
    layout = IndexLayout(alias="nw", shards=2, replicas=0, retention="90d")
    t = index_template(layout, ilm=True)
    assert t["index_patterns"] == ["nw-*"]
    s = t["template"]["settings"]
    assert s["number_of_shards"] == 2 and s["number_of_replicas"] == 0
    assert s["index.lifecycle.name"] == "nw" and s["index.lifecycle.rollover_alias"] == "nw"
    assert "index.lifecycle.name" not in index_template(layout, ilm=False)["template"]["settings"]
    p = ilm_policy(layout)["phases"]
    assert p["hot"]["actions"]["rollover"] == {"max_age": "30d", "max_primary_shard_size": "50gb"}
    assert p["delete"] == {"min_age": "90d", "actions": {"delete": {}}}
    assert "delete" not in ilm_policy(IndexLayout())["phases"]


def test_drift_compares_as_the_server_returns_values():
    want = {"settings": {"number_of_shards": 1, "index.lifecycle.name": "p", "analysis": {"x": [1, 2]}}}
    have = {"settings": {"index": {"number_of_shards": "1", "lifecycle": {"name": "p"}, "analysis": {"x": [1, 2]},
                                   "creation_date": "123"}}}
    assert drift(want, have) == []
    assert drift(want, {"settings": {"index": {"number_of_shards": "2", "analysis": {"x": [2, 1]}}}}) == [
        "settings.number_of_shards: expected 1, found '2'",
        "settings.index.lifecycle.name: missing (expected 'p')",
        "settings.analysis.x: expected [1, 2], found [2, 1]"]


# ---------------------------------------------------------------- analyzer
ANALYZER_SAMPLES = [
    "Russia's U.S.-backed e-mail foo_bar 3.5 x1y2 AT&T (Inc.) — “quoted” ‘single’",
    "Straße CAFÉ naïve Ωmega Москва Кремль 東京 مرحبا",
    "x\u00a0y\u2009z\u200bw tab\tnew\nline",
    "short " + "z" * 39 + " " + "w" * 40 + " " + "y" * 45 + " end",
    "emoji 🙂 and #hashtag @handle http://example.com/a?b=c",
]


@pytest.mark.elasticsearch
@pytest.mark.parametrize("text", ANALYZER_SAMPLES)
def test_text_analyzer_makes_our_tokens_and_positions(osmem_clone_url: str, text: str):
    client = es_client(osmem_clone_url)
    try:
        setup(client, IndexLayout())
        got = client.indices.analyze(index="newswatch-stories-000001", analyzer=TEXT_ANALYZER, text=text)
        tokens = [(t["token"], t["position"]) for t in got["tokens"]]
    finally:
        client.close()
    import re
    words = list(re.finditer(r"[^\W_]+", text))  # every run gets a position, even a dropped one (tantivy)
    ours = [t.text for t in tokenize(text)]
    pos_of = {m.start(): i for i, m in enumerate(words)}
    expected = [(t.text, pos_of[t.start]) for t in tokenize(text)]
    assert [t for t, _ in tokens] == ours
    assert tokens == expected


# ---------------------------------------------------------------- setup
@pytest.mark.elasticsearch
def test_setup_is_idempotent_and_check_reports_drift(osmem_clone_url: str):
    client = es_client(osmem_clone_url)
    layout = IndexLayout()
    try:
        before = setup(client, layout, check=True)
        assert not before.ok and any("missing" in d for d in before.drift) and before.actions == []
        first = setup(client, layout)
        assert first.ok and len(first.actions) == 2 and first.write_index == "newswatch-stories-000001"
        assert not first.ilm and first.notes  # osmem has no ILM: skipped with a note
        again = setup(client, layout)
        assert again.actions == [] and again.ok
        assert setup(client, layout, check=True).ok
        # someone edits the template by hand
        client.indices.put_index_template(name="newswatch-stories", index_patterns=["newswatch-stories-*"],
                                          template={"settings": {"number_of_shards": 3}})
        drifted = setup(client, layout, check=True)
        assert any("number_of_shards" in d for d in drifted.drift)
        assert setup(client, layout).actions == ["put index template newswatch-stories"]
        assert setup(client, layout, check=True).ok
    finally:
        client.close()


@pytest.mark.elasticsearch
def test_concrete_index_named_like_the_alias_is_refused(osmem_clone_url: str):
    client = es_client(osmem_clone_url)
    try:
        client.indices.create(index="newswatch-stories")
        with pytest.raises(IndexBackendError, match="concrete index"):
            setup(client, IndexLayout())
    finally:
        client.close()


@pytest.mark.elasticsearch
def test_cli_setup_check_stats(osmem_clone_url: str):
    env = {"NEWSWATCH_ES_URL": osmem_clone_url, "NEWSWATCH_ES_SERVER_MODE": "serverless",
           "NEWSWATCH_INDEX": "elasticsearch"}
    check = run_cli("index", "setup", "--check", check=False, **env)
    assert check.returncode == 1 and "drift: index template newswatch-stories: missing" in check.stderr
    run_cli("index", "setup", **env)
    ok = run_cli("index", "setup", "--check", **env)
    assert "no drift" in ok.stdout
    stats = run_cli("index", "stats", "--json", **env)
    info = json.loads(stats.stdout)
    assert info["stories"] == 0 and info["indices"]["newswatch-stories-000001"]["write"] is True
    search = run_cli("search", "russia", **env)
    assert search.returncode == 0


# ---------------------------------------------------------------- Kibana
def saved_objects() -> list[dict[str, Any]]:
    lines = [x for x in KIBANA_NDJSON.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [json.loads(x) for x in lines]


def test_saved_objects_are_consistent_with_each_other_and_the_mapping():
    objs = saved_objects()
    by_key = {(o["type"], o["id"]) for o in objs}
    types = {o["type"] for o in objs}
    assert {"index-pattern", "visualization", "search", "dashboard"} <= types
    assert len(by_key) == len(objs)
    fields = set(mappings()["properties"]) | {"title.raw", "title.english", "text.english"}
    dv = next(o for o in objs if o["type"] == "index-pattern")
    assert dv["attributes"]["timeFieldName"] == "published" and dv["attributes"]["title"] == "newswatch-stories"
    for o in objs:
        for ref in o.get("references", []):
            assert (ref["type"], ref["id"]) in by_key, (o["id"], ref)
        meta = o["attributes"].get("kibanaSavedObjectMeta", {})
        if meta:
            source = json.loads(meta["searchSourceJSON"])
            if "indexRefName" in source:
                assert source["indexRefName"] in {r["name"] for r in o["references"]}
        if o["type"] == "visualization":
            state = json.loads(o["attributes"]["visState"])
            for agg in state["aggs"]:
                if "field" in agg.get("params", {}):
                    assert agg["params"]["field"] in fields, (o["id"], agg)
        if o["type"] == "search":
            assert set(o["attributes"]["columns"]) <= fields
            assert all(col in fields for col, _ in o["attributes"]["sort"])
        if o["type"] == "dashboard":
            panels = json.loads(o["attributes"]["panelsJSON"])
            names = {r["name"]: r for r in o["references"]}
            assert len(panels) == len(names) >= 4
            for p in panels:
                ref = names[f"{p['panelIndex']}:{p['panelRefName']}"]
                assert ref["type"] == p["type"]


class Recorder:
    """A local HTTP server that records requests and answers like Kibana's import API."""

    def __init__(self, status: int = 200, answer: dict[str, Any] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rec.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                data = json.dumps(answer if answer is not None else {"success": True, "successCount": 7}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kibana() -> Iterator[Recorder]:
    rec = Recorder()
    try:
        yield rec
    finally:
        rec.stop()


def _file_part(req: dict[str, Any]) -> bytes:
    msg = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + req["headers"]["Content-Type"].encode() + b"\r\n\r\n" + req["body"])
    parts = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
    assert len(parts) == 1
    return parts[0].get_payload(decode=True)


def test_import_kibana_posts_multipart_with_xsrf(kibana: Recorder):
    payload = load_saved_objects(alias="news-prod")
    body = import_kibana(kibana.url, payload, api_key="a2V5", space="ops")
    assert body["successCount"] == 7
    req = kibana.requests[0]
    assert req["path"] == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["kbn-xsrf"] == "true"
    assert req["headers"]["Authorization"] == "ApiKey a2V5"
    assert req["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    sent = [json.loads(x) for x in _file_part(req).decode().splitlines()]
    assert len(sent) == len(saved_objects())
    assert next(o for o in sent if o["type"] == "index-pattern")["attributes"]["title"] == "news-prod"


def test_import_kibana_reports_refusal():
    rec = Recorder(answer={"success": False, "errors": [{"id": "x", "error": {"type": "missing_references"}}]})
    try:
        with pytest.raises(IndexBackendError, match="missing_references"):
            import_kibana(rec.url, b"{}\n")
    finally:
        rec.stop()


@pytest.mark.elasticsearch
def test_cli_setup_with_kibana(osmem_clone_url: str, kibana: Recorder):
    env = {"NEWSWATCH_ES_URL": osmem_clone_url, "NEWSWATCH_ES_SERVER_MODE": "serverless",
           "NEWSWATCH_ES_USERNAME": "analyst", "NEWSWATCH_ES_PASSWORD": "s3cret-pw"}
    proc = run_cli("index", "setup", "--kibana", kibana.url, **env)
    assert "imported 7 Kibana saved object(s)" in proc.stdout
    assert "s3cret-pw" not in proc.stdout + proc.stderr
    req = kibana.requests[0]
    assert req["path"] == "/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["Authorization"].startswith("Basic ")
