"""Install and check what the Elasticsearch story index needs: template, ILM policy, write alias.

:func:`setup` is idempotent: it puts the ILM policy (where the cluster has
ILM), the composable index template ``<alias>`` for ``<alias>-*`` and, when
the alias does not exist yet, the first dated index ``<alias>-000001`` with
``<alias>`` as its write alias. Run again, it changes nothing. With
``check=True`` it changes nothing at all and lists the drift instead
(:class:`SetupReport`); ``newswatch index setup --check`` exits 1 on drift.

Mapping (:func:`mappings`), by field of :func:`newswatch.index.base.story_fields`:

* ``title``, ``text``: ``text`` with the ``newswatch_text`` analyzer, built to
  make the tokens of :func:`newswatch.fields.tokenize` (tantivy's default
  tokenizer, which the in-stream matcher also uses): every run of letters and
  digits is a token, everything else separates, lower-cased, tokens of 40+
  bytes dropped (their position kept). No stemming, so ``bounty`` does not
  match ``bounties`` in-stream or here. Plus ``.english`` (``english``
  analyzer, stemmed) for relevance ranking in Kibana; ``title.raw`` is a
  keyword for display and sorting.
* ``id``, ``source``, ``lang``, ``topic``, ``cluster`` and one field per entity
  label (``person``, ``org``, ``gpe``...; ``entity`` = any label): ``keyword``
  with the normalised lower-cased values (canonical entity names).
* ``published`` (the story date: published, else fetched) and ``fetched_at``:
  ``date``, whole seconds UTC.
* ``doc``: the whole Story as JSON, kept in ``_source`` only (not indexed):
  what ``get`` and hits return, unchanged.
* ``url``: keyword, not indexed (Kibana links).

The analyzer is a ``pattern_replace`` char filter (``[^\\p{L}\\p{Mn}\\p{Mc}\\p{N}]`` →
space) + ``whitespace`` tokenizer + ``lowercase`` + ``length`` ≤ 39 (see
docs/elasticsearch.md for the two places where it differs from tantivy:
combining marks outside Unicode "Alphabetic", and 20–39-character tokens of
multi-byte letters).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from newswatch.fields import KEYWORD_FIELDS, MAX_TOKEN_BYTES, TEXT_FIELDS
from newswatch.index.base import ENTITY_FILTER_FIELDS, IndexBackendError

log = logging.getLogger(__name__)

#: Bumped when the mapping changes; stored in the template and index ``_meta``.
SCHEMA_VERSION = 1
TEXT_ANALYZER = "newswatch_text"
#: Separators: anything not a letter, combining letter mark or digit (Java and RE2 syntax alike).
SEPARATOR_PATTERN = r"[^\p{L}\p{Mn}\p{Mc}\p{N}]"
FIRST_INDEX_SUFFIX = "-000001"
KIBANA_NDJSON = Path(__file__).resolve().parents[2] / "deploy" / "kibana" / "newswatch.ndjson"


def analysis() -> dict[str, Any]:
    """Index analysis settings: the ``newswatch_text`` analyzer (see the module docstring)."""
    return {
        "char_filter": {"newswatch_separators": {"type": "pattern_replace", "pattern": SEPARATOR_PATTERN,
                                                 "replacement": " "}},
        "tokenizer": {"newswatch_whitespace": {"type": "whitespace", "max_token_length": 4096}},
        "filter": {"newswatch_max_length": {"type": "length", "min": 1, "max": MAX_TOKEN_BYTES - 1}},
        "analyzer": {TEXT_ANALYZER: {"type": "custom", "char_filter": ["newswatch_separators"],
                                     "tokenizer": "newswatch_whitespace",
                                     "filter": ["lowercase", "newswatch_max_length"]}},
    }


def mappings() -> dict[str, Any]:
    """The strict mapping of a story document (see the module docstring)."""
    keyword = {"type": "keyword"}
    props: dict[str, Any] = {"id": dict(keyword)}
    for name in TEXT_FIELDS:
        sub: dict[str, Any] = {"english": {"type": "text", "analyzer": "english"}}
        if name == "title":
            sub["raw"] = {"type": "keyword", "ignore_above": 512}
        props[name] = {"type": "text", "analyzer": TEXT_ANALYZER, "fields": sub}
    for name in (*KEYWORD_FIELDS, *ENTITY_FILTER_FIELDS):
        props[name] = dict(keyword)
    props["published"] = {"type": "date"}
    props["fetched_at"] = {"type": "date"}
    props["url"] = {"type": "keyword", "index": False, "doc_values": False}
    props["doc"] = {"type": "object", "enabled": False}
    return {"dynamic": "strict", "_meta": {"newswatch_schema": SCHEMA_VERSION}, "properties": props}


@dataclass(frozen=True, slots=True)
class IndexLayout:
    """Names and sizes of the index objects, from ElasticsearchSettings."""

    alias: str = "newswatch-stories"
    shards: int = 1
    replicas: int = 1
    rollover_max_age: str = "30d"
    rollover_max_primary_size: str = "50gb"
    retention: str | None = None

    @classmethod
    def from_settings(cls, es: Any) -> "IndexLayout":
        return cls(alias=es.index_alias, shards=es.shards, replicas=es.replicas,
                   rollover_max_age=es.rollover_max_age, rollover_max_primary_size=es.rollover_max_primary_size,
                   retention=es.retention)

    @property
    def template(self) -> str:
        return self.alias

    @property
    def policy(self) -> str:
        return self.alias

    @property
    def first_index(self) -> str:
        return self.alias + FIRST_INDEX_SUFFIX


def index_template(layout: IndexLayout, *, ilm: bool) -> dict[str, Any]:
    """The composable index template body for ``<alias>-*`` (with the ILM policy when ``ilm``)."""
    settings: dict[str, Any] = {"number_of_shards": layout.shards, "number_of_replicas": layout.replicas,
                                "analysis": analysis()}
    if ilm:
        settings["index.lifecycle.name"] = layout.policy
        settings["index.lifecycle.rollover_alias"] = layout.alias
    return {"index_patterns": [f"{layout.alias}-*"], "priority": 200,
            "template": {"settings": settings, "mappings": mappings()},
            "_meta": {"managed_by": "newswatch", "newswatch_schema": SCHEMA_VERSION}}


def ilm_policy(layout: IndexLayout) -> dict[str, Any]:
    """Hot phase rolls over by age or primary shard size; an optional delete phase."""
    phases: dict[str, Any] = {"hot": {"actions": {"rollover": {
        "max_age": layout.rollover_max_age, "max_primary_shard_size": layout.rollover_max_primary_size}}}}
    if layout.retention:
        phases["delete"] = {"min_age": layout.retention, "actions": {"delete": {}}}
    return {"phases": phases, "_meta": {"managed_by": "newswatch"}}


# ------------------------------------------------------------------ drift
def drift(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` lacks or contradicts ``expected`` (``actual`` may hold more keys).

    Scalars compare as strings, because the cluster returns settings as
    strings (``"1"`` for ``1``); settings keys may come back flattened or
    nested (``index.lifecycle.name``), so dotted keys are looked up both ways.
    """
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path or '/'}: expected an object, found {_short(actual)}"]
        out = []
        for key, value in expected.items():
            sub = f"{path}.{key}" if path else str(key)
            found, present = _lookup(actual, str(key))
            if not present:
                out.append(f"{sub}: missing (expected {_short(value)})")
            else:
                out.extend(drift(value, found, sub))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or [_scalar(x) for x in expected] != [_scalar(x) for x in actual]:
            return [f"{path}: expected {_short(expected)}, found {_short(actual)}"]
        return []
    if _scalar(expected) != _scalar(actual):
        return [f"{path}: expected {_short(expected)}, found {_short(actual)}"]
    return []


def _lookup(obj: Mapping[str, Any], key: str) -> tuple[Any, bool]:
    if key in obj:
        return obj[key], True
    if "." in key:  # "index.lifecycle.name" stored nested, or "number_of_shards" under "index"
        cur: Any = obj
        for part in key.split("."):
            if not isinstance(cur, Mapping) or part not in cur:
                break
            cur = cur[part]
        else:
            return cur, True
        if key.startswith("index.") and key[6:] in obj:
            return obj[key[6:]], True
    if "index" in obj and isinstance(obj["index"], Mapping) and key in obj["index"]:
        return obj["index"][key], True
    return None, False


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------------ setup
@dataclass(slots=True)
class SetupReport:
    """What :func:`setup` did (``actions``), what differs (``drift``) and notes (ILM unsupported...)."""

    actions: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ilm: bool = False
    write_index: str | None = None
    indices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drift


def _status(exc: Exception) -> int | None:
    meta = getattr(exc, "meta", None)
    return getattr(meta, "status", None) or getattr(exc, "status_code", None)


def ilm_supported(client: Any) -> bool:
    """True when the cluster answers ``GET _ilm/status`` (not serverless, not OpenSearch/osmem)."""
    from elasticsearch import ApiError

    try:
        client.ilm.get_status()
    except ApiError as exc:
        if _status(exc) in (400, 404, 405, 410):
            return False
        raise
    return True


def alias_indices(client: Any, alias: str) -> dict[str, bool]:
    """Concrete indices behind ``alias`` → is it the write index; empty when the alias is missing."""
    from elasticsearch import NotFoundError

    try:
        resp = client.indices.get_alias(name=alias)
    except NotFoundError:
        return {}
    out = {}
    for index, body in dict(resp).items():
        meta = (body.get("aliases") or {}).get(alias) or {}
        out[index] = bool(meta.get("is_write_index", False))
    if len(out) == 1:  # a single index is the write index even without the flag
        out = {k: True for k in out}
    return out


def setup(client: Any, layout: IndexLayout, *, check: bool = False) -> SetupReport:
    """Install (or with ``check``, only compare) the ILM policy, template and write alias.

    Raises :class:`~newswatch.index.base.IndexBackendError` when a concrete
    index is named like the alias (it must be deleted or reindexed first).
    """
    from elasticsearch import ApiError, NotFoundError

    report = SetupReport()
    report.ilm = ilm_supported(client)
    if report.ilm:
        want = ilm_policy(layout)
        try:
            have = client.ilm.get_lifecycle(name=layout.policy)[layout.policy]["policy"]
        except NotFoundError:
            have = None
        diffs = drift(want["phases"], (have or {}).get("phases")) if have else ["missing"]
        if diffs:
            if check:
                report.drift.extend(f"ILM policy {layout.policy}: {d}" for d in diffs)
            else:
                client.ilm.put_lifecycle(name=layout.policy, policy=want)
                report.actions.append(f"put ILM policy {layout.policy}")
    else:
        report.notes.append("this cluster has no ILM (serverless, OpenSearch or a test double): no lifecycle "
                            "policy installed; roll over with `newswatch index rollover` or your own tooling")

    want_t = index_template(layout, ilm=report.ilm)
    try:
        found = client.indices.get_index_template(name=layout.template)["index_templates"]
        have_t = found[0]["index_template"] if found else None
    except NotFoundError:
        have_t = None
    diffs = drift(want_t, have_t) if have_t else ["missing"]
    if diffs:
        if check:
            report.drift.extend(f"index template {layout.template}: {d}" for d in diffs)
        else:
            client.indices.put_index_template(name=layout.template, **want_t)
            report.actions.append(f"put index template {layout.template}")

    indices = alias_indices(client, layout.alias)
    if not indices:
        if client.indices.exists(index=layout.alias):
            raise IndexBackendError(
                f"{layout.alias!r} is a concrete index, not an alias: newswatch writes through an alias over "
                f"dated indices. Reindex it into {layout.first_index} and delete it, or choose another "
                "NEWSWATCH_ES_INDEX_ALIAS.")
        if check:
            report.drift.append(f"alias {layout.alias}: missing (no index {layout.first_index})")
        else:
            try:
                client.indices.create(index=layout.first_index,
                                      aliases={layout.alias: {"is_write_index": True}})
                report.actions.append(f"created index {layout.first_index} with write alias {layout.alias}")
            except ApiError as exc:
                if _status(exc) != 400 or "already_exists" not in str(exc):
                    raise
                client.indices.put_alias(index=layout.first_index, name=layout.alias,
                                         is_write_index=True)
                report.actions.append(f"added write alias {layout.alias} to {layout.first_index}")
            indices = alias_indices(client, layout.alias)
    report.indices = sorted(indices)
    writers = [i for i, w in indices.items() if w]
    if indices and len(writers) != 1:
        report.drift.append(f"alias {layout.alias}: {len(writers)} write indices among {sorted(indices)} "
                            "(expected exactly one)")
    report.write_index = writers[0] if len(writers) == 1 else None
    if report.write_index:
        report.drift.extend(_index_drift(client, report.write_index, layout))
    return report


def _index_drift(client: Any, index: str, layout: IndexLayout) -> list[str]:
    """Mapping/analysis differences of the live write index against the template."""
    out = []
    mapping = client.indices.get_mapping(index=index)[index]["mappings"]
    want = mappings()
    for d in drift(want["properties"], mapping.get("properties")):
        out.append(f"index {index} mapping: {d} (new indices get the template; roll over to apply it)")
    settings = client.indices.get_settings(index=index)[index]["settings"]
    idx = settings.get("index", settings)
    for d in drift(analysis(), idx.get("analysis")):
        out.append(f"index {index} analysis: {d} (roll over to apply the template)")
    return out


def rollover(client: Any, layout: IndexLayout) -> str:
    """Roll the write alias over to a new dated index now; returns the new index name."""
    from elasticsearch import ApiError

    try:
        resp = client.indices.rollover(alias=layout.alias)
    except ApiError as exc:
        if _status(exc) in (400, 404, 405) and "no handler" in str(exc):
            raise IndexBackendError(f"this server does not support rollover ({exc}); create "
                                    "the next dated index and move the write alias by hand") from exc
        raise
    return str(resp["new_index"])


# ------------------------------------------------------------------ Kibana
def load_saved_objects(path: Path = KIBANA_NDJSON, *, alias: str = "newswatch-stories") -> bytes:
    """The saved objects NDJSON, with the data view pointed at ``alias``; raises on an invalid line."""
    lines = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise IndexBackendError(f"{path}:{n}: not valid JSON ({exc})") from exc
        if obj.get("type") == "index-pattern":
            obj.setdefault("attributes", {})["title"] = alias
        lines.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode("utf-8")


def import_kibana(kibana_url: str, ndjson: bytes, *, api_key: str | None = None,
                  basic_auth: tuple[str, str] | None = None, space: str | None = None,
                  verify: bool | str = True, timeout_s: float = 30.0) -> dict[str, Any]:
    """``POST /api/saved_objects/_import?overwrite=true`` (multipart ``file``, header ``kbn-xsrf``).

    Returns Kibana's answer; raises :class:`IndexBackendError` unless it reports success.
    """
    import requests

    base = kibana_url.rstrip("/")
    if space:
        base += f"/s/{space}"
    headers = {"kbn-xsrf": "true"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    try:
        resp = requests.post(f"{base}/api/saved_objects/_import", params={"overwrite": "true"},
                             headers=headers, auth=basic_auth, verify=verify, timeout=timeout_s,
                             files={"file": ("newswatch.ndjson", ndjson, "application/ndjson")})
    except requests.RequestException as exc:
        raise IndexBackendError(f"cannot reach Kibana at {kibana_url}: {exc}") from exc
    try:
        body = resp.json()
    except ValueError:
        body = {"raw": resp.text[:500]}
    if resp.status_code != 200 or not body.get("success", False):
        errors = body.get("errors") or body.get("message") or body
        raise IndexBackendError(f"Kibana refused the saved objects (HTTP {resp.status_code}): {_short(errors)}")
    return body
