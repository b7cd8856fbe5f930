"""Validate a topics.yaml and report every problem with its line (``newswatch topics check``).

Unlike loading (which stops at the first error), :func:`check_topics` collects
all problems: the file's YAML/shape error (via :func:`newswatch.config.parse_model`),
then every topic's ``query`` and ``exclude`` parsed on its own, each reported at
the line of its ``query:``/``exclude:`` key. Disabled topics are checked too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from newswatch.config import TopicsFile, parse_model
from newswatch.errors import ConfigError
from newswatch.topics.parse import TopicSyntaxError, parse_query

_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class TopicProblem:
    """One problem in a topics file.

    ``line`` is 1-based in the file; ``column`` is 1-based within the query
    string; ``key`` is ``query``/``exclude`` for query problems, else the
    config key path (``topics[2].min_score``).
    """

    file: str
    line: int | None
    topic: str | None
    key: str | None
    token: str | None
    column: int | None
    message: str
    suggestion: str | None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = " ".join(p for p in (f"topic {self.topic!r}" if self.topic else "", self.key or "") if p)
        text = f"{where}: {what + ': ' if what else ''}{self.message}"
        if self.suggestion:
            text += f" Fix: {self.suggestion}"
        return text


def _mapping_get(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None


def _topic_nodes(root: yaml.Node | None) -> list[yaml.Node]:
    found = _mapping_get(root, "topics") if root is not None else None
    if found is None or not isinstance(found[1], yaml.SequenceNode):
        return []
    return list(found[1].value)


def _topic_id(item: yaml.Node, index: int) -> str | None:
    found = _mapping_get(item, "id")
    if found and isinstance(found[1], yaml.ScalarNode):
        return found[1].value
    return None


def locate_query(text: str, topic_id: str, key: str) -> tuple[int | None, str | None]:
    """Line (1-based) of topic ``topic_id``'s ``key:`` in YAML ``text``, and its key path."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return None, None
    for i, item in enumerate(_topic_nodes(root)):
        if _topic_id(item, i) == topic_id:
            found = _mapping_get(item, key)
            if found:
                return found[0].start_mark.line + 1, f"topics[{i}].{key}"
            return item.start_mark.line + 1, f"topics[{i}]"
    return None, None


def locate_in_file(exc: TopicSyntaxError, path: str | Path, text: str | None = None) -> TopicSyntaxError:
    """``exc`` (keyed ``<topic id>.query``/``.exclude`` by :func:`~newswatch.topics.compile_topic`)
    placed at its file and line, so a reload error reads ``topics.yaml:12 topics[1].query: ...``."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return exc.located(path=str(path), key=exc.key)
    topic_id, _, key = (exc.key or "").rpartition(".")
    line, key_path = locate_query(text, topic_id, key)
    return exc.located(path=str(path), line=line, key=key_path or exc.key)


def check_topics_text(text: str, path: str = "<string>") -> list[TopicProblem]:
    """All problems of topics.yaml ``text`` (see :func:`check_topics`)."""
    problems: list[TopicProblem] = []
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    try:
        parse_model(text, TopicsFile, path=path)
    except ConfigError as exc:
        topic = None
        key = exc.key
        if key and key.startswith("topics[") and root is not None:
            try:
                idx = int(key[len("topics["):key.index("]")])
                items = _topic_nodes(root)
                topic = _topic_id(items[idx], idx) if idx < len(items) else None
            except ValueError:
                topic = None
        problems.append(TopicProblem(file=path, line=exc.line, topic=topic, key=key, token=None, column=None,
                                     message=exc.detail, suggestion=exc.fix))
    if root is None:
        return problems
    for i, item in enumerate(_topic_nodes(root)):
        topic = _topic_id(item, i)
        for key in ("query", "exclude"):
            found = _mapping_get(item, key)
            if found is None:
                continue
            knode, vnode = found
            if not isinstance(vnode, yaml.ScalarNode) or vnode.tag != _STR_TAG:
                continue  # a wrong type is a shape error, reported above
            if key == "exclude" and not vnode.value.strip():
                continue
            try:
                parse_query(vnode.value)
            except TopicSyntaxError as exc:
                problems.append(TopicProblem(file=path, line=knode.start_mark.line + 1, topic=topic, key=key,
                                             token=exc.token, column=exc.column, message=exc.message,
                                             suggestion=exc.suggestion))
    problems.sort(key=lambda p: (p.line or 0))
    return problems


def check_topics(path: str | Path) -> list[TopicProblem]:
    """Every problem of the topics file at ``path``: YAML/shape, then each query and exclude.

    An empty list means the file loads and every query compiles.
    """
    path = Path(path)
    if not path.exists():
        return [TopicProblem(file=str(path), line=None, topic=None, key=None, token=None, column=None,
                             message="file not found",
                             suggestion="create it (see config/topics.yaml in the repository).")]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [TopicProblem(file=str(path), line=None, topic=None, key=None, token=None, column=None,
                             message=f"cannot read the file: {exc}", suggestion="save it as UTF-8 text.")]
    return check_topics_text(text, str(path))
