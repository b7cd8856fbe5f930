"""The YAML files operators and analysts edit, validated with errors that name
the file, the line, the key and the fix.

``feeds.yaml`` (sources), ``topics.yaml`` (watch topics), ``entities.yaml``
(canonical entities and their aliases) and ``alerts.yaml`` (where alerts go)
live in one config directory (``--config DIR``; default ``config/``). Every model
forbids unknown keys so a typo fails loudly instead of being ignored.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from newswatch.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- feeds.yaml
class FeedSpec(_Strict):
    """One RSS/Atom/RDF/JSON feed to poll."""

    id: str = Field(description="Stable source id, lower-case: becomes RawArticle.source_id.")
    url: str = Field(description="http(s) URL, file:// URL or local path of the feed.")
    interval: float | None = Field(None, gt=0, description="Seconds between polls (default: defaults.interval).")
    language: str | None = Field(None, description="Language hint when the feed does not say.")
    enabled: bool = True
    tags: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("ids are lower-case letters, digits, '.', '_' or '-'")
        return v


class WireSpec(_Strict):
    """A wire-service drop folder: NewsML-G2 ``newsItem`` XML or NDJSON files."""

    id: str
    path: Path = Field(description="Drop folder; relative paths are under the data directory.")
    enabled: bool = True
    language: str | None = None


class FeedDefaults(_Strict):
    interval: float = Field(300.0, gt=0)


class FeedsFile(_Strict):
    defaults: FeedDefaults = FeedDefaults()
    feeds: tuple[FeedSpec, ...] = ()
    wire: tuple[WireSpec, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> "FeedsFile":
        seen: set[str] = set()
        for spec in (*self.feeds, *self.wire):
            if spec.id in seen:
                raise ValueError(f"source id {spec.id!r} is used twice; ids must be unique")
            seen.add(spec.id)
        return self


# --------------------------------------------------------------- topics.yaml
class Throttle(_Strict):
    max_alerts: int = Field(gt=0)
    per_seconds: float = Field(3600.0, gt=0)


class TopicSpec(_Strict):
    """A watch topic as written by an analyst (query syntax checked by ``newswatch.topics``)."""

    id: str
    name: str = ""
    query: str
    exclude: str | None = None
    min_score: float = Field(0.0, ge=0)
    owner: str | None = None
    channels: tuple[str, ...] = ()
    throttle: Throttle | None = None
    enabled: bool = True
    description: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("topic ids are lower-case letters, digits, '.', '_' or '-'")
        return v


class TopicsFile(_Strict):
    topics: tuple[TopicSpec, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> "TopicsFile":
        ids = [t.id for t in self.topics]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"topic ids must be unique; repeated: {', '.join(sorted(dup))}")
        return self


# ------------------------------------------------------------- entities.yaml
class EntitySpec(_Strict):
    """A canonical entity: mentions of any alias are reported under ``canonical``."""

    canonical: str
    label: Literal["PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT", "PRODUCT"]
    aliases: tuple[str, ...] = ()
    implies: tuple[str, ...] = Field((), description="Other canonical entities a mention implies "
                                     "(a Russian minister implies Russia).")


class EntitiesFile(_Strict):
    entities: tuple[EntitySpec, ...] = ()
    ignore: tuple[str, ...] = Field((), description="Entity texts never reported (model errors).")

    @model_validator(mode="after")
    def _implies_known(self) -> "EntitiesFile":
        known = {e.canonical for e in self.entities}
        for e in self.entities:
            for name in e.implies:
                if name not in known:
                    raise ValueError(f"{e.canonical!r} implies {name!r}, which is not a canonical entity here")
        return self


# --------------------------------------------------------------- alerts.yaml
# Alert routing (log, console, channels, subscriptions, throttles) is defined
# with the alerting code and re-exported here so all four files load alike.
from newswatch.alerts.settings import AlertsFile  # noqa: E402


# ------------------------------------------------------------------- loading
FILES: dict[str, type[BaseModel]] = {
    "feeds.yaml": FeedsFile, "topics.yaml": TopicsFile,
    "entities.yaml": EntitiesFile, "alerts.yaml": AlertsFile,
}


def _node_at(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """Walk a composed YAML node tree along a pydantic error location."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == part:
                    nxt = v
                    break
            if nxt is None:
                return node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _key_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the key an error location points at, for extra keys too."""
    if not loc:
        return node.start_mark.line + 1 if node is not None else None
    parent = _node_at(node, loc[:-1])
    if isinstance(parent, yaml.MappingNode):
        for k, _v in parent.value:
            if k.value == loc[-1]:
                return k.start_mark.line + 1
    target = _node_at(node, loc)
    return target.start_mark.line + 1 if target is not None else None


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fix_for(err: dict[str, Any], model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        # suggest the closest allowed key
        sub: Any = model
        for part in loc[:-1]:
            if isinstance(part, int):
                continue
            field = getattr(sub, "model_fields", {}).get(part)
            if field is None:
                break
            ann = field.annotation
            args = getattr(ann, "__args__", ())
            cand = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
            sub = cand[0] if cand else None
            if sub is None:
                break
        allowed = list(getattr(sub, "model_fields", {}) or [])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            return f"did you mean '{close[0]}'? Allowed keys: {', '.join(allowed)}."
        return f"remove it; allowed keys: {', '.join(allowed)}." if allowed else "remove it."
    if kind == "missing":
        return f"add '{loc[-1]}:'."
    return None


def load_model(path: Path, model: type[M], *, missing_ok: bool = True) -> M:
    """Load and validate one YAML file into ``model``.

    Raises :class:`ConfigError` naming the file, line, key and fix. A missing
    file gives the model's defaults when ``missing_ok`` (an empty alerts.yaml is
    a valid choice), else an error.
    """
    path = Path(path)
    if not path.exists():
        if missing_ok:
            return model()
        raise ConfigError("file not found", path=str(path), fix=f"create it (see config/{path.name} in the repository).")
    text = path.read_text(encoding="utf-8")
    return parse_model(text, model, path=str(path))


def parse_model(text: str, model: type[M], *, path: str = "<string>") -> M:
    """Validate YAML text into ``model`` (see :func:`load_model`)."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", path=path,
                          line=mark.line + 1 if mark else None,
                          fix="check indentation and quoting; quote strings that contain ': ' or start with '*'.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", path=path, line=1,
                          fix=f"start with one of: {', '.join(model.model_fields)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        err = errors[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = _key_line(node, loc)
        msg = err["msg"]
        if len(errors) > 1:
            msg += f" (and {len(errors) - 1} more error(s))"
        raise ConfigError(msg, path=path, line=line, key=_loc_text(loc) or None,
                          fix=_fix_for(err, model, loc)) from None


def with_topic_throttles(alerts: AlertsFile, topics: TopicsFile) -> AlertsFile:
    """alerts.yaml's routing plus each topic's own ``throttle`` from topics.yaml.

    An analyst can throttle a topic where it is defined; an explicit entry for
    that topic in alerts.yaml's ``throttle`` wins over it (operators decide).
    """
    from newswatch.alerts.settings import TopicThrottle

    own = {t.id: TopicThrottle(max_alerts=t.throttle.max_alerts, per_seconds=t.throttle.per_seconds)
           for t in topics.topics if t.throttle is not None}
    if not own:
        return alerts
    return alerts.model_copy(update={"throttle": {**own, **alerts.throttle}})


class ConfigSet(BaseModel):
    """All four config files of one directory, validated together."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    dir: Path
    feeds: FeedsFile
    topics: TopicsFile
    entities: EntitiesFile
    alerts: AlertsFile

    @classmethod
    def load(cls, config_dir: Path, *, topics_file: Path | None = None) -> "ConfigSet":
        d = Path(config_dir)
        if not d.is_dir():
            raise ConfigError("config directory not found", path=str(d),
                              fix="pass --config DIR pointing at a directory with feeds.yaml and topics.yaml.")
        topics = load_model(topics_file or d / "topics.yaml", TopicsFile, missing_ok=topics_file is None)
        return cls(dir=d,
                   feeds=load_model(d / "feeds.yaml", FeedsFile),
                   topics=topics,
                   entities=load_model(d / "entities.yaml", EntitiesFile),
                   alerts=with_topic_throttles(load_model(d / "alerts.yaml", AlertsFile), topics))
