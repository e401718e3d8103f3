"""Git checkouts with the git CLI, so the user's git config applies.

Credential helpers, ``url.<base>.insteadOf`` mirrors and proxies configured for
git are honoured because assay runs ``git`` itself. Branches and tags are cloned
shallow; a commit is fetched alone at depth 1 (falling back to a full clone when
the server refuses); ``paths`` become a sparse checkout.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from assay.errors import ContentError

__all__ = ["checkout", "is_commit"]

_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


def is_commit(revision: str | None) -> bool:
    """True when ``revision`` looks like a commit id rather than a ref name."""
    return bool(revision and _COMMIT.match(revision))


def checkout(
    uri: str,
    dest: Path,
    *,
    revision: str | None = None,
    paths: Sequence[str] = (),
    cone: bool = False,
    username: str | None = None,
    token: str | None = None,
    mask: Callable[[str], str] = lambda text: text,
) -> str:
    """Check ``uri`` out into ``dest``; return the commit checked out."""
    options: list[str] = []
    if token:
        basic = base64.b64encode(f"{username or 'x-access-token'}:{token}".encode()).decode()
        options = ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    sparse = ["--filter=blob:none", "--sparse"] if paths else []
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_commit(revision):
        assert revision is not None
        _git([*options, "init", "-q", str(dest)], mask=mask)
        _git(["-C", str(dest), "remote", "add", "origin", uri], mask=mask)
        if paths:
            _sparse(dest, paths, cone, mask)
        try:
            _git(
                [*options, "-C", str(dest), "fetch", "-q", "--depth", "1", "origin", revision],
                mask=mask,
            )
        except ContentError:
            _git([*options, "-C", str(dest), "fetch", "-q", "origin"], mask=mask)
        _git(["-C", str(dest), "checkout", "-q", "--detach", revision], mask=mask)
    else:
        branch = ["--branch", revision] if revision else []
        _git(
            [
                *options,
                "clone",
                "-q",
                "--depth=1",
                "--single-branch",
                *branch,
                *sparse,
                uri,
                str(dest),
            ],
            mask=mask,
        )
        if paths:
            _sparse(dest, paths, cone, mask)
    return _git(["-C", str(dest), "rev-parse", "HEAD"], mask=mask).strip()


def _sparse(dest: Path, paths: Sequence[str], cone: bool, mask: Callable[[str], str]) -> None:
    mode = "--cone" if cone else "--no-cone"
    patterns = list(paths) if cone else [f"/{p.strip('/')}" for p in paths]
    _git(["-C", str(dest), "sparse-checkout", "set", mode, *patterns], mask=mask)


def _git(args: list[str], *, mask: Callable[[str], str]) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, env=env, check=False, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ContentError(f"git failed to run: {exc}") from exc
    if done.returncode != 0:
        shown = " ".join(a for a in args if not a.startswith("http.extraHeader"))
        detail = (done.stderr or done.stdout).strip()
        raise ContentError(mask(f"git {shown} failed (exit {done.returncode}): {detail}"))
    return done.stdout
