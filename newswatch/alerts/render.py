"""Render alert and digest messages with Jinja templates.

Built-in templates live in ``newswatch/alerts/templates/``:
``alert_title.j2``, ``alert_body.j2`` (one immediate alert) and
``digest_title.j2``, ``digest_body.j2`` (a digest). A ``templates:``
directory in ``alerts.yaml`` overrides any of them by file name. Undefined
variables are errors (``StrictUndefined``), and :meth:`Renderer.check`
renders a sample at start-up, so a broken override fails when the notifier
starts, naming the template file and line, not at 3 a.m. on a real alert.

Pure functions in the middle: :func:`alert_view` turns an :class:`Alert` and
its similar-story count into the dict templates see.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import jinja2

from newswatch.alerts.channels import Message
from newswatch.errors import ConfigError
from newswatch.fields import ENTITY_FIELDS
from newswatch.records import Alert, MatchedTerm

BUILTIN_TEMPLATES = Path(__file__).with_name("templates")
TEMPLATE_NAMES = ("alert_title.j2", "alert_body.j2", "digest_title.j2", "digest_body.j2")
_WS = re.compile(r"\s+")


def fmt_time(when: datetime | None) -> str:
    """``2020-07-02 14:03 UTC`` (empty for None)."""
    if when is None:
        return ""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def why_parts(why: Iterable[MatchedTerm]) -> tuple[list[str], list[str]]:
    """(terms, entities) that fired, distinct in order; entities as ``Russia (gpe)``."""
    terms: dict[str, None] = {}
    ents: dict[str, None] = {}
    for m in why:
        term = _WS.sub(" ", m.term).strip()
        if not term:
            continue
        if m.field in ENTITY_FIELDS or m.field == "entity":
            ents.setdefault(f"{term} ({m.field})", None)
        else:
            terms.setdefault(term, None)
    return list(terms), list(ents)


def alert_view(alert: Alert, *, similar: int = 0, severity: str = "normal", reason: str = "") -> dict[str, Any]:
    """The template variables of one alert (``a`` in the templates)."""
    terms, ents = why_parts(alert.why)
    return {
        "id": alert.id, "topic_id": alert.topic_id, "topic_name": alert.topic_name,
        "title": _WS.sub(" ", alert.title).strip() or alert.url or alert.story_id,
        "source": alert.source_id, "link": alert.url or "",
        "time": fmt_time(alert.published or alert.created_at),
        "published": alert.published.isoformat() if alert.published else None,
        "created_at": alert.created_at.isoformat(),
        "story_id": alert.story_id, "cluster_id": alert.cluster_id or alert.story_id,
        "score": alert.score, "terms": terms, "entities": ents,
        "similar": int(similar), "severity": severity, "reason": reason,
    }


class Renderer:
    """Jinja environment over the built-in templates plus an optional override directory."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir is not None:
            if not Path(templates_dir).is_dir():
                raise ConfigError("templates directory not found", path=str(templates_dir), key="templates",
                                  fix="create it, or remove 'templates:' from alerts.yaml to use the built-ins.")
            loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES)))
        self.templates_dir = templates_dir
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                                      autoescape=False, trim_blocks=True, lstrip_blocks=True,
                                      keep_trailing_newline=False)

    def _render(self, name: str, ctx: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(**ctx)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template error: {exc.message}", path=exc.filename or name, line=exc.lineno,
                              fix="fix the Jinja syntax (see docs/alerts.md for the variables).") from None
        except (jinja2.UndefinedError, TypeError, ValueError) as exc:
            raise ConfigError(f"template {name} failed: {exc}", path=self._where(name),
                              fix="use only the variables listed in docs/alerts.md.") from None

    def _where(self, name: str) -> str:
        if self.templates_dir is not None and (Path(self.templates_dir) / name).exists():
            return str(Path(self.templates_dir) / name)
        return str(BUILTIN_TEMPLATES / name)

    @staticmethod
    def _one_line(text: str) -> str:
        return _WS.sub(" ", text).strip()

    @staticmethod
    def _tidy(text: str) -> str:
        text = re.sub(r"[ \t]+\n", "\n", text)
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

    def alert(self, view: dict[str, Any], *, subscription: str = "") -> Message:
        """One immediate alert."""
        ctx = {"a": view, "subscription": subscription}
        return Message(kind="alert", title=self._one_line(self._render("alert_title.j2", ctx)),
                       body=self._tidy(self._render("alert_body.j2", ctx)), severity=view["severity"],
                       data={"alert": view, "subscription": subscription})

    def digest(self, views: Sequence[dict[str, Any]], *, subscription: str, period_end: datetime,
               severity: str = "normal") -> Message:
        """A digest of ``views`` (oldest first), grouped by topic in first-seen order."""
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for v in views:
            by_topic.setdefault(v["topic_id"], []).append(v)
        ctx = {"items": list(views), "by_topic": list(by_topic.items()), "topics": list(by_topic),
               "subscription": subscription, "period_end": fmt_time(period_end),
               "throttled": sum(1 for v in views if v.get("reason") == "throttle")}
        return Message(kind="digest", title=self._one_line(self._render("digest_title.j2", ctx)),
                       body=self._tidy(self._render("digest_body.j2", ctx)), severity=severity,
                       data={"digest": {"subscription": subscription, "period_end": period_end.isoformat(),
                                        "alerts": list(views)}})

    def check(self) -> None:
        """Render a sample alert and digest through every template (raises ConfigError)."""
        view = alert_view(sample_alert(), similar=3)
        self.alert(view, subscription="check")
        self.digest([view, {**view, "reason": "throttle"}], subscription="check",
                    period_end=datetime.now(timezone.utc))


def sample_alert() -> Alert:
    """A realistic sample (the seed story) for ``alerts test`` and template checks."""
    from newswatch.ids import alert_id

    return Alert(id=alert_id("russia-taliban", "sample-seed-story"), topic_id="russia-taliban",
                 topic_name="Russia and the Taliban", story_id="sample-seed-story", cluster_id="sample-seed-story",
                 title="Pompeo Never Complained About Russian Weapon Sales to Taliban, Moscow Says",
                 url="https://meridian-wire.example/world/pompeo-never-complained-about-russian-weapon-sales",
                 source_id="meridian-wire", published=datetime(2020, 7, 2, 14, 3, tzinfo=timezone.utc), score=2.0,
                 why=(MatchedTerm(term="russia", field="gpe"), MatchedTerm(term="taliban", field="org")))
