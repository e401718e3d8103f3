"""The GitHub Actions environment, as Actions sets it for every step.

``GITHUB_ACTIONS``, ``GITHUB_REPOSITORY`` and ``GITHUB_SHA`` are required; the rest have
defaults (``GITHUB_API_URL``: ``https://api.github.com``, so GitHub Enterprise Server works
by itself).  For ``pull_request`` events the event payload (``GITHUB_EVENT_PATH``) gives the
pull-request number and its **head** commit: ``GITHUB_SHA`` is then the merge commit, on
which a check run would not show in the pull request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import DefinitionError

__all__ = ["DEFAULT_API_URL", "PULL_REQUEST_EVENTS", "GitHubContext"]

DEFAULT_API_URL = "https://api.github.com"
PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target"})
_REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")
_PULL_REF = re.compile(r"^refs/pull/(\d+)/(?:merge|head)$")


@dataclass(frozen=True, slots=True)
class GitHubContext:
    """Where a report goes: repository, commit, pull request, files and token."""

    api_url: str
    server_url: str
    repository: str
    sha: str
    """The commit a check run goes on: the pull request's head, else ``GITHUB_SHA``."""
    event_name: str
    ref: str
    pr_number: int | None
    run_id: str | None
    step_summary: Path | None
    output: Path | None
    workspace: Path
    token: str | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    """Things worth telling the user (a missing optional variable...)."""

    @property
    def owner(self) -> str:
        """The repository's owner."""
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        """The repository's name."""
        return self.repository.split("/", 1)[1]

    @property
    def run_url(self) -> str | None:
        """The web page of this workflow run."""
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path | None = None) -> GitHubContext:
        """Read the Actions environment; a missing required variable is a
        :class:`DefinitionError` (exit 2) naming it."""
        for name in ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_SHA"):
            if not env.get(name):
                raise DefinitionError(
                    f"--github needs the GitHub Actions environment: {name} is not set "
                    "(run it in a GitHub Actions job, or drop --github)"
                )
        repository = env["GITHUB_REPOSITORY"]
        if not _REPOSITORY.match(repository):
            raise DefinitionError(f"GITHUB_REPOSITORY {repository!r}: expected OWNER/NAME")
        api_url = _url(env.get("GITHUB_API_URL") or DEFAULT_API_URL, "GITHUB_API_URL")
        server_url = _url(env.get("GITHUB_SERVER_URL") or "https://github.com", "GITHUB_SERVER_URL")
        event_name = env.get("GITHUB_EVENT_NAME", "")
        ref = env.get("GITHUB_REF", "")
        notes: list[str] = []
        event = _event(env.get("GITHUB_EVENT_PATH"), notes)
        sha = env["GITHUB_SHA"]
        pr_number: int | None = None
        if event_name in PULL_REQUEST_EVENTS:
            found = event.get("pull_request")
            pull: dict[str, Any] = found if isinstance(found, dict) else {}
            number = pull.get("number") or event.get("number")
            if isinstance(number, int):
                pr_number = number
            elif match := _PULL_REF.match(ref):
                pr_number = int(match[1])
            head = pull.get("head")
            head_sha = head.get("sha") if isinstance(head, dict) else None
            if isinstance(head_sha, str) and head_sha:
                sha = head_sha
            else:
                notes.append(
                    "the event payload has no pull_request.head.sha: "
                    f"the check run goes on GITHUB_SHA {sha[:12]}"
                )
        token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None
        return cls(
            api_url=api_url,
            server_url=server_url,
            repository=repository,
            sha=sha,
            event_name=event_name,
            ref=ref,
            pr_number=pr_number,
            run_id=env.get("GITHUB_RUN_ID") or None,
            step_summary=_path(env.get("GITHUB_STEP_SUMMARY")),
            output=_path(env.get("GITHUB_OUTPUT")),
            workspace=Path(env.get("GITHUB_WORKSPACE") or cwd or Path.cwd()),
            token=token,
            notes=tuple(notes),
        )


def _url(value: str, name: str) -> str:
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise DefinitionError(f"{name} {value!r}: expected an http(s) URL")
    return value


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _event(path: str | None, notes: list[str]) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"cannot read the event payload GITHUB_EVENT_PATH={path}: {exc}")
        return {}
    return data if isinstance(data, dict) else {}
