"""Quality of watch topics on a labelled set: precision, recall and F1 per topic.

Pure functions over plain data: the caller runs items through whatever
predictor it measures (the real pipeline stages, :func:`baseline_predict`) and
hands this module ``item id → predicted topic ids`` and ``item id → labelled
topic ids``. :func:`load_labelled` reads the project's labelled YAML
(``samples/labelled/topics-labelled.yaml``) with file:line errors.

Conventions: precision is 1.0 when a topic predicted nothing (it made no
mistake), recall is 1.0 when no item carries the label; F1 is their harmonic
mean (0.0 when both are 0).

(Named ``quality`` rather than ``evaluate``: a submodule ``newswatch.topics.evaluate``
would replace the package's :func:`newswatch.topics.evaluate` function as soon as
it is imported.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newswatch.config import parse_model
from newswatch.errors import ConfigError


# ------------------------------------------------------------------ labelled set
class LabelledItem(BaseModel):
    """One labelled news item: what an analyst wants each default topic to do with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    title: str
    summary: str
    labels: tuple[str, ...] = ()
    note: str = ""

    @field_validator("title", "summary")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v


class LabelledFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 1
    items: tuple[LabelledItem, ...] = Field(default=())


def load_labelled(path: str | Path, *, topics: Iterable[str] | None = None) -> list[LabelledItem]:
    """The items of a labelled YAML file.

    Raises :class:`~newswatch.errors.ConfigError` naming the file, line and key
    for a shape error, a repeated id, or (when ``topics`` is given) a label that
    is not one of those topic ids.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError("file not found", path=str(path),
                          fix="pass the labelled set, e.g. samples/labelled/topics-labelled.yaml.")
    text = path.read_text(encoding="utf-8")
    model = parse_model(text, LabelledFile, path=str(path))
    seen: set[str] = set()
    known = set(topics) if topics is not None else None
    for i, item in enumerate(model.items):
        if item.id in seen:
            raise ConfigError(f"item id {item.id!r} is repeated", path=str(path), key=f"items[{i}].id",
                              fix="give every item its own id.")
        seen.add(item.id)
        if known is not None:
            unknown = sorted(set(item.labels) - known)
            if unknown:
                raise ConfigError(f"unknown topic id(s) {', '.join(unknown)}", path=str(path),
                                  key=f"items[{i}].labels", fix=f"use topic ids of topics.yaml: {', '.join(sorted(known))}.")
    return list(model.items)


# ------------------------------------------------------------------ scoring
@dataclass(frozen=True)
class TopicScores:
    """Counts and scores of one topic on a labelled set."""

    topic: str
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Error:
    """One misclassification: ``kind`` is ``"fp"`` (flagged, not labelled) or ``"fn"`` (labelled, missed)."""

    item: str
    topic: str
    kind: str


def score(predictions: Mapping[str, Iterable[str]], labels: Mapping[str, Iterable[str]],
          topics: Sequence[str]) -> dict[str, TopicScores]:
    """Per-topic scores of ``predictions`` against ``labels`` (both keyed by item id).

    Every labelled item counts; an item missing from ``predictions`` predicted
    nothing. Predictions for items without a label entry are an error (a typo'd id
    would otherwise vanish from the counts).
    """
    extra = set(predictions) - set(labels)
    if extra:
        raise ValueError(f"predictions for unlabelled items: {', '.join(sorted(extra)[:5])}")
    out = {}
    for topic in topics:
        tp = fp = fn = tn = 0
        for item, gold in labels.items():
            want = topic in set(gold)
            got = topic in set(predictions.get(item, ()))
            tp += want and got
            fp += got and not want
            fn += want and not got
            tn += not want and not got
        out[topic] = TopicScores(topic, tp, fp, fn, tn)
    return out


def errors(predictions: Mapping[str, Iterable[str]], labels: Mapping[str, Iterable[str]],
           topics: Sequence[str]) -> list[Error]:
    """Every false positive and false negative, by item then topic."""
    out = []
    for item, gold in labels.items():
        g, p = set(gold), set(predictions.get(item, ()))
        for topic in topics:
            if topic in p and topic not in g:
                out.append(Error(item, topic, "fp"))
            elif topic in g and topic not in p:
                out.append(Error(item, topic, "fn"))
    return out


# ------------------------------------------------------------------ baseline
_RUSSIA = re.compile(r"russia|moscow|kremlin", re.IGNORECASE)
_TALIBAN = re.compile(r"taliban", re.IGNORECASE)
_BOUNTY = re.compile(r"bount(?:y|ies)", re.IGNORECASE)


def baseline_predict(text: str) -> set[str]:
    """The naive keyword rules the default topics are compared with.

    ``russia-taliban``: the text contains ``russia``, ``moscow`` or ``kremlin``
    (substring, any case: "Russian" counts) and ``taliban``; ``bounties``: it
    contains ``bounty`` or ``bounties``.
    """
    out = set()
    if _RUSSIA.search(text) and _TALIBAN.search(text):
        out.add("russia-taliban")
    if _BOUNTY.search(text):
        out.add("bounties")
    return out


# ------------------------------------------------------------------ report
def format_table(results: Mapping[str, Mapping[str, TopicScores]]) -> str:
    """A plain-text table: one row per (predictor, topic) with P/R/F1 and counts."""
    rows = [f"{'predictor':<12} {'topic':<16} {'precision':>9} {'recall':>7} {'F1':>6}   {'tp':>3} {'fp':>3} {'fn':>3} {'tn':>3}"]
    for name, per_topic in results.items():
        for topic, s in per_topic.items():
            rows.append(f"{name:<12} {topic:<16} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}   "
                        f"{s.tp:>3} {s.fp:>3} {s.fn:>3} {s.tn:>3}")
    return "\n".join(rows)
