"""Settings of the Elasticsearch index backend, and the one place its client is built.

:class:`ElasticsearchSettings` reads ``NEWSWATCH_ES_*`` (frozen; secrets are
``SecretStr`` and never appear in ``repr``, logs or errors). The URL and API
key are the :class:`~newswatch.settings.Settings` fields ``es_url`` /
``es_api_key`` — the same ``NEWSWATCH_ES_URL`` / ``NEWSWATCH_ES_API_KEY``
variables, also readable here so the backend can be configured on its own.

:func:`make_client` builds an ``elasticsearch.Elasticsearch`` with the client's
own retries switched off: :mod:`newswatch.index.es_bulk` and
:mod:`newswatch.index.es_index` retry with their own bounded backoff, so how
long a write may block is one setting (``retry_max_time_s``), not a product of
two retry loops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newswatch.errors import ConfigError


class ElasticsearchSettings(BaseSettings):
    """Elasticsearch backend settings (env prefix ``NEWSWATCH_ES_``)."""

    model_config = SettingsConfigDict(env_prefix="NEWSWATCH_ES_", frozen=True, extra="forbid")

    url: str | None = Field(None, description="Cluster URL (https://host:9200); same variable as Settings.es_url.")
    api_key: SecretStr | None = Field(None, description="API key (base64 'id:key' as Kibana shows it).")
    username: SecretStr | None = Field(None, description="Basic-auth user (with password), if no API key.")
    password: SecretStr | None = None
    ca_certs: Path | None = Field(None, description="PEM file of the CA that signed the cluster's certificate.")
    verify_certs: bool = Field(True, description="Verify TLS certificates (only ever off against a test cluster).")
    index_alias: str = Field("newswatch-stories", pattern=r"^[a-z0-9][a-z0-9._-]*$",
                             description="Write/read alias; indices are ALIAS-000001, ALIAS-000002...")
    shards: int = Field(1, ge=1, le=1024, description="Primary shards per dated index.")
    replicas: int = Field(1, ge=0, le=16, description="Replicas per dated index.")
    rollover_max_age: str = Field("30d", description="ILM: roll over to a new dated index after this age.")
    rollover_max_primary_size: str = Field("50gb", description="ILM: ...or when a primary shard reaches this size.")
    retention: str | None = Field(None, description="ILM: delete indices this long after rollover (e.g. 365d); None keeps them.")
    bulk_max_docs: int = Field(500, ge=1, le=100_000, description="Most actions per bulk request.")
    bulk_max_bytes: int = Field(5_000_000, ge=1_000, description="Largest bulk request body (bytes).")
    buffer_max_docs: int = Field(2_000, ge=1, description="upsert() flushes (blocks) once this many actions are buffered.")
    buffer_max_bytes: int = Field(20_000_000, ge=1_000, description="...or once the buffer holds this many bytes.")
    retry_max_time_s: float = Field(120.0, ge=0, description="Longest a write keeps retrying 429/5xx/timeouts before failing.")
    retry_initial_s: float = Field(0.5, gt=0, description="First backoff delay (doubles each retry, with jitter).")
    retry_max_delay_s: float = Field(30.0, gt=0, description="Longest single backoff delay.")
    request_timeout_s: float = Field(30.0, gt=0, description="Timeout of one HTTP request.")
    refresh_on_commit: bool = Field(True, description="commit() refreshes the alias so writes are searchable on return.")
    server_mode: Literal["stack", "serverless"] = Field(
        "stack", description="'stack' for Elasticsearch 9 clusters; 'serverless' only for the osmem test double.")

    @model_validator(mode="after")
    def _auth_pair(self) -> "ElasticsearchSettings":
        if (self.username is None) != (self.password is None):
            raise ValueError("set both NEWSWATCH_ES_USERNAME and NEWSWATCH_ES_PASSWORD (or neither)")
        return self

    def basic_auth(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return (self.username.get_secret_value(), self.password.get_secret_value())


def make_client(url: str, *, api_key: SecretStr | str | None = None,
                basic_auth: tuple[str, str] | None = None, ca_certs: Path | str | None = None,
                verify_certs: bool = True, request_timeout_s: float = 30.0,
                server_mode: str = "stack") -> Any:
    """An ``elasticsearch.Elasticsearch`` client with its own retries off (we retry ourselves).

    ``server_mode="serverless"`` makes elasticsearch-py 9 send
    ``elastic-api-version`` instead of the ``compatible-with=9`` media type;
    it is only needed for the osmem test double (see docs/elasticsearch.md).
    """
    if not url:
        raise ConfigError("the Elasticsearch index needs a URL", key="NEWSWATCH_ES_URL",
                          fix="set NEWSWATCH_ES_URL=https://HOST:9200 (or use index: tantivy).")
    try:
        from elasticsearch import Elasticsearch
    except ModuleNotFoundError as exc:  # pragma: no cover - elasticsearch is a core dependency
        from newswatch.errors import MissingDependencyError
        raise MissingDependencyError("the elasticsearch index needs 'elasticsearch>=9,<10': "
                                     "pip install 'elasticsearch>=9,<10'") from exc
    kw: dict[str, Any] = {"request_timeout": request_timeout_s, "max_retries": 0, "retry_on_timeout": False,
                          "verify_certs": verify_certs}
    if server_mode != "stack":  # elasticsearch-py 8 (for 8.x clusters) has no server_mode argument
        kw["server_mode"] = server_mode
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if key:
        kw["api_key"] = key
    elif basic_auth:
        kw["basic_auth"] = basic_auth
    if ca_certs:
        path = Path(ca_certs)
        if not path.is_file():
            raise ConfigError(f"CA certificate file {path} does not exist", key="NEWSWATCH_ES_CA_CERTS",
                              fix="point it at the PEM file of your cluster's CA (http_ca.crt).")
        kw["ca_certs"] = str(path)
    if not verify_certs:
        kw["ssl_show_warn"] = False
    return Elasticsearch(url, **kw)


def redact_url(url: str) -> str:
    """``url`` without any ``user:password@`` part (safe to log)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))
    return url
