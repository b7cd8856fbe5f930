"""``newswatch index ...``: set up, check and inspect the story index.

* ``index setup [--check] [--kibana URL]``: install the Elasticsearch index
  template, ILM policy (where supported) and write alias; ``--check`` changes
  nothing and exits 1 when anything differs; ``--kibana`` also imports the
  data view and dashboard of ``deploy/kibana/newswatch.ndjson``.
* ``index stats``: story count, and for Elasticsearch the indices behind the alias.
* ``index rollover``: roll the write alias over to a new dated index now.

Connection settings: ``NEWSWATCH_ES_URL``, ``NEWSWATCH_ES_API_KEY`` or
``NEWSWATCH_ES_USERNAME``/``NEWSWATCH_ES_PASSWORD``, ``NEWSWATCH_ES_CA_CERTS``
(see docs/elasticsearch.md). Secrets are never printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape


def _open_es(settings: Any) -> Any:
    from newswatch.cli import fail
    from newswatch.errors import ConfigError
    from newswatch.index.es_index import ElasticsearchIndex

    try:
        return ElasticsearchIndex(settings)
    except ConfigError as exc:
        fail(escape(str(exc)))


def register(app: typer.Typer, topics_app: typer.Typer) -> None:
    """Add the ``index`` command group to the CLI."""
    from newswatch.cli import ConfigOpt, DataOpt, err, fail, out, settings_for, setup_logging

    index_app = typer.Typer(no_args_is_help=True, help="Set up, check and inspect the story index.")
    app.add_typer(index_app, name="index")

    @index_app.command("setup")
    def setup_cmd(check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 if anything differs."),
                  kibana: Optional[str] = typer.Option(None, "--kibana", metavar="URL",
                                                       help="Also import the Kibana data view and dashboard."),
                  kibana_space: Optional[str] = typer.Option(None, "--kibana-space", help="Kibana space id."),
                  saved_objects: Optional[Path] = typer.Option(None, "--saved-objects",
                                                     help="NDJSON to import (default deploy/kibana/newswatch.ndjson)."),
                  config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
        """Install (or --check) the Elasticsearch index template, ILM policy and write alias. Idempotent."""
        from newswatch.index import es_setup
        from newswatch.index.base import IndexBackendError

        settings = settings_for(config, data)
        setup_logging(settings.log_level)
        ix = _open_es(settings)
        try:
            report = es_setup.setup(ix.client, ix.layout, check=check)
        except IndexBackendError as exc:
            fail(escape(str(exc)))
        except Exception as exc:  # connection refused, TLS, auth: one readable line
            fail(escape(f"cannot set up the index on {ix!r}: {type(exc).__name__}: {exc}"))
        for action in report.actions:
            out.print(f"[green]✓[/] {action}", highlight=False)
        for note in report.notes:
            err.print(f"note: {note}", highlight=False)
        if report.write_index:
            out.print(f"write alias {ix.alias} → {report.write_index} (indices: {', '.join(report.indices)})",
                      highlight=False)
        if check and not report.actions and report.ok:
            out.print("no drift: template, alias and write index match this version", highlight=False)
        if kibana and not check:
            path = saved_objects or es_setup.KIBANA_NDJSON
            key = settings.es_api_key or ix.es.api_key
            try:
                body = es_setup.import_kibana(kibana, es_setup.load_saved_objects(path, alias=ix.alias),
                                              api_key=key.get_secret_value() if key else None,
                                              basic_auth=ix.es.basic_auth(), space=kibana_space,
                                              verify=str(ix.es.ca_certs) if ix.es.ca_certs else ix.es.verify_certs)
            except (IndexBackendError, OSError) as exc:
                fail(escape(str(exc)))
            out.print(f"[green]✓[/] imported {body.get('successCount', 0)} Kibana saved object(s) into {kibana}",
                      highlight=False)
        if report.drift:
            for d in report.drift:
                err.print(f"drift: {d}", highlight=False)
            err.print("fix: run `newswatch index setup` (without --check); mapping drift of the write index "
                      "needs `newswatch index rollover`", highlight=False)
            raise typer.Exit(1)

    @index_app.command("stats")
    def stats_cmd(as_json: bool = typer.Option(False, "--json", help="One JSON object."),
                  config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
        """Story count and where the index lives (for Elasticsearch: alias, indices, docs per index)."""
        from newswatch import backends
        from newswatch.index.base import IndexBackendError

        settings = settings_for(config, data)
        setup_logging("WARNING")
        info: dict[str, Any] = {"backend": settings.index}
        try:
            if settings.index == "elasticsearch":
                ix = _open_es(settings)
                info.update(_es_stats(ix))
            else:
                if not settings.index_path.exists():
                    fail(escape(f"no index at {settings.index_path}: nothing indexed yet (or pass --data DIR)"))
                idx = backends.open_index(settings, readonly=True)
                info.update({"path": str(settings.index_path), "stories": idx.count()})
        except IndexBackendError as exc:
            fail(escape(str(exc)))
        if as_json:
            out.print_json(json.dumps(info))
            return
        for key, value in info.items():
            if key == "indices":
                for name, row in value.items():
                    flag = " (write)" if row["write"] else ""
                    out.print(f"  {name}{flag}: {row['docs']} docs, {row['bytes']} bytes", highlight=False)
            else:
                out.print(f"{key}: {value}", highlight=False)

    @index_app.command("rollover")
    def rollover_cmd(config: Optional[Path] = ConfigOpt, data: Optional[Path] = DataOpt) -> None:
        """Roll the Elasticsearch write alias over to a new dated index now (applies a changed template)."""
        from newswatch.index import es_setup
        from newswatch.index.base import IndexBackendError

        settings = settings_for(config, data)
        setup_logging(settings.log_level)
        ix = _open_es(settings)
        try:
            new = es_setup.rollover(ix.client, ix.layout)
        except IndexBackendError as exc:
            fail(escape(str(exc)))
        out.print(f"[green]✓[/] write alias {ix.alias} → {new}", highlight=False)


def _es_stats(ix: Any) -> dict[str, Any]:
    from newswatch.index.es_settings import redact_url
    from newswatch.index.es_setup import alias_indices

    indices = alias_indices(ix.client, ix.alias)
    if not indices:
        from newswatch.index.base import IndexMissingError
        raise IndexMissingError(f"no alias {ix.alias!r}: run `newswatch index setup` first")
    stats = ix.client.indices.stats(index=",".join(sorted(indices)), metric="docs,store")
    rows = {}
    for name in sorted(indices):
        prim = (stats.get("indices", {}).get(name) or {}).get("primaries", {})
        rows[name] = {"write": indices[name], "docs": int(prim.get("docs", {}).get("count", 0)),
                      "bytes": int(prim.get("store", {}).get("size_in_bytes", 0))}
    return {"url": redact_url(ix.url), "alias": ix.alias, "stories": ix.count(), "indices": rows}
