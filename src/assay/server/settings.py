"""Settings of ``assay server``: flags, then ``ASSAY_SERVER_*`` variables, then defaults.

Where the data lives (``ASSAY_HOME``, ``ASSAY_DATABASE_URL``) is :class:`assay.settings.Settings`,
shared with the CLI: a server opened on a local store serves that store's history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServerSettings"]

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ServerSettings(BaseSettings):
    """How the server listens, streams and authenticates."""

    model_config = SettingsConfigDict(env_prefix="ASSAY_SERVER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=0, le=65535)
    workers: int = Field(default=1, ge=0, le=64)
    """Workers running queued executions in each server process (0: the API only)."""
    processes: int = Field(default=1, ge=1, le=64)
    """Server processes sharing the port, each with its own ``workers`` and background
    loops (the store lets one of them fire each schedule tick and send each delivery):
    more processes answer more requests at once on more cores."""
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    """A comment line on every open event stream this often, so proxies and clients
    do not take a silent step for a dead connection."""
    log_poll_seconds: float = Field(default=0.02, gt=0)
    """How often an event stream looks for new log lines."""
    status_poll_seconds: float = Field(default=0.5, gt=0)
    """How often an event stream asks the store whether its execution ended."""
    max_page_size: int = Field(default=1000, ge=1)
    """Largest ``pageSize`` of a list."""

    scheduler: bool = True
    """Fire the cron schedules of applied workflows (``spec.events[].cronjob``); every
    replica may: the database lets one fire each tick."""
    timezone: str | None = None
    """Time zone of schedules that name none (default: ``ASSAY_TIMEZONE``, else UTC)."""
    webhooks: bool = True
    """Send the webhook outbox."""
    webhook_max_attempts: int = Field(default=10, ge=1)
    """Attempts at a delivery before it is ``failed``."""
    webhook_backoff_seconds: float = Field(default=5.0, gt=0)
    """Delay after the first failed attempt; doubled after each (at most an hour)."""
    retention: str | None = None
    """Delete logs and artifacts of executions finished longer ago (``30d``); results
    stay. Unset: keep everything."""
    retention_keep: int = Field(default=0, ge=0)
    """With ``retention``: keep the newest N finished executions of each workflow whole."""
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    """How often retention runs."""
    watch_namespace: str | None = None
    """Keep the definitions of this namespace's Testkube custom resources (TestWorkflow,
    TestWorkflowTemplate, Test, TestSuite, Webhook) in the store, as they are created,
    changed and deleted (:mod:`assay.server.kube_sync`); unset: no watch."""
    watch_timeout_seconds: int = Field(default=300, ge=1)
    """Longest watch request; the watch is resumed from where it was after it."""
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line (time, level, logger, message)."""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        from assay.spec.cron import check_timezone

        return None if value is None else check_timezone(value)

    @field_validator("watch_namespace")
    @classmethod
    def _watch_namespace(cls, value: str | None) -> str | None:
        from assay.kube.names import dns_label

        if value is not None and dns_label(value) != value:
            raise ValueError(f"{value!r} is not a namespace name (a DNS label)")
        return value

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        from assay.ops.retention import parse_age

        if value is not None:
            parse_age(value)
        return value

    kube_api_url: str | None = None
    """Kubernetes API server whose TokenReview checks ServiceAccount tokens (in a pod:
    ``https://kubernetes.default.svc``); unset: only assay's own tokens are accepted."""
    kube_token_file: Path = SERVICE_ACCOUNT / "token"
    """The server's own ServiceAccount token, which authorises its TokenReviews."""
    kube_ca_file: Path | None = SERVICE_ACCOUNT / "ca.crt"
    """CA bundle of the API server (None: the system's)."""
    kube_audiences: list[str] = Field(default_factory=list)
    """Audiences a reviewed token must be issued for (empty: the API server's own)."""
    kube_scopes: dict[str, str] = Field(default_factory=dict)
    """Scope per Kubernetes user or group name, e.g.
    ``{"system:serviceaccount:ci:assay": "run"}``; a reviewed user gets the highest scope
    of its name and groups, and nothing matched is refused (401)."""
    kube_cache_seconds: float = Field(default=30.0, ge=0)
    """How long an accepted review is reused for the same token."""
