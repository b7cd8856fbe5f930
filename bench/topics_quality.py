"""Precision and recall of the default watch topics, and of a naive keyword baseline, in one run.

    .venv/bin/python bench/topics_quality.py [--labelled samples/labelled/topics-labelled.yaml]
                                             [--config config] [--json]

Every labelled item goes through the real pipeline stages
(:class:`newswatch.process.Processor`: clean text, language, spaCy NER with the
configured model, entity aliases from ``entities.yaml``, topics from
``topics.yaml``) and through :func:`newswatch.topics.quality.baseline_predict`
(``russia|moscow|kremlin`` + ``taliban``; ``bounty|bounties``). Prints a table of
precision/recall/F1 per topic for both, then every misclassified item.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newswatch.config import ConfigSet  # noqa: E402
from newswatch.records import RawArticle, Story  # noqa: E402
from newswatch.topics.quality import (Error, LabelledItem, TopicScores, baseline_predict, errors,  # noqa: E402
                                      format_table, load_labelled, score)

DEFAULT_LABELLED = ROOT / "samples" / "labelled" / "topics-labelled.yaml"
DEFAULT_TOPICS = ("russia-taliban", "bounties")
T0 = datetime(2020, 6, 29, 12, 0, tzinfo=timezone.utc)


@dataclass
class QualityRun:
    """Both predictors on one labelled set: scores, mistakes, and the stories (for explanations)."""

    items: list[LabelledItem]
    topics: tuple[str, ...]
    pipeline: dict[str, TopicScores]
    baseline: dict[str, TopicScores]
    pipeline_errors: list[Error]
    baseline_errors: list[Error]
    stories: dict[str, Story]


def article_for(item: LabelledItem) -> RawArticle:
    """The labelled item as the pipeline would receive it from a feed."""
    return RawArticle.create(source_id="labelled", title=item.title, summary=item.summary,
                             url=f"https://labelled.example/{item.id}", guid=item.id, published=T0,
                             language="en")


def run_quality(labelled: Path = DEFAULT_LABELLED, config_dir: Path = ROOT / "config",
                model: str | None = None, topics: tuple[str, ...] = DEFAULT_TOPICS) -> QualityRun:
    """Run the labelled set through the real pipeline stages and the baseline."""
    from newswatch.process import Processor
    from newswatch.settings import Settings

    cfg = ConfigSet.load(config_dir)
    items = load_labelled(labelled, topics=[t.id for t in cfg.topics.topics])
    proc = Processor(model=model or Settings().spacy_model, entities=cfg.entities, topics=cfg.topics.topics)
    articles = [article_for(i) for i in items]
    stories, bad = proc.process(articles)
    if bad:
        raise RuntimeError(f"the pipeline rejected labelled items: {[(a.guid, r) for a, r in bad]}")
    by_item = {s.guid: s for s in stories}
    labels = {i.id: i.labels for i in items}
    pred = {i.id: [t.id for t in by_item[i.id].topics] for i in items}
    base = {i.id: sorted(baseline_predict(f"{i.title}\n{i.summary}")) for i in items}
    return QualityRun(items=items, topics=topics, pipeline=score(pred, labels, topics),
                      baseline=score(base, labels, topics), pipeline_errors=errors(pred, labels, topics),
                      baseline_errors=errors(base, labels, topics), stories=by_item)


def report(run: QualityRun) -> str:
    lines = [f"{len(run.items)} labelled items; positives: "
             + ", ".join(f"{t} {sum(t in i.labels for i in run.items)}" for t in run.topics), ""]
    lines.append(format_table({"pipeline": run.pipeline, "baseline": run.baseline}))
    notes = {i.id: i for i in run.items}
    for name, errs in (("pipeline", run.pipeline_errors), ("baseline", run.baseline_errors)):
        lines.append("")
        lines.append(f"{name}: {len(errs)} misclassification(s)")
        for e in errs:
            item = notes[e.item]
            why = ""
            if name == "pipeline":
                story = run.stories[e.item]
                ents = sorted({f"{x.label.lower()}:{x.canonical}" for x in story.entities})
                fired = next((t for t in story.topics if t.id == e.topic), None)
                why = (f"  fired on: {', '.join(f'{m.field}:{m.term}' for m in fired.matched)}" if fired
                       else f"  entities: {', '.join(ents) or '-'}")
            lines.append(f"  {e.kind.upper()} {e.topic:<15} {item.id}: {item.title}"
                         + (f"  [{item.note}]" if item.note else ""))
            if why:
                lines.append("    " + why.strip())
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labelled", type=Path, default=DEFAULT_LABELLED)
    ap.add_argument("--config", type=Path, default=ROOT / "config")
    ap.add_argument("--model", default=None, help="spaCy model (default: the NEWSWATCH_SPACY_MODEL setting)")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON")
    args = ap.parse_args()
    run = run_quality(args.labelled, args.config, args.model)
    if args.json:
        def d(s: TopicScores) -> dict:
            return {"precision": s.precision, "recall": s.recall, "f1": s.f1, "tp": s.tp, "fp": s.fp, "fn": s.fn}
        print(json.dumps({"items": len(run.items),
                          "pipeline": {t: d(s) for t, s in run.pipeline.items()},
                          "baseline": {t: d(s) for t, s in run.baseline.items()},
                          "pipeline_errors": [e.__dict__ for e in run.pipeline_errors],
                          "baseline_errors": [e.__dict__ for e in run.baseline_errors]}, indent=2))
        return
    print(report(run))


if __name__ == "__main__":
    main()
